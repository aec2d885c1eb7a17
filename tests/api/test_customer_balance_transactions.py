"""Customer balance transactions (/v1/customers/{customer}/balance_transactions) through the official stripe SDK.

Rules: https://docs.stripe.com/api/customer_balance_transactions (a negative amount is a credit for the customer,
a positive one a debit; ``ending_balance`` is the balance after the transaction; "If the customer's currency is not
set, it will be updated to this value"; only description and metadata can be updated) and
https://docs.stripe.com/billing/customer/balance (the balance is applied to the next invoice finalized, and every
change is a transaction of the ledger: adjustments, credit notes, balance applied to invoices).
"""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.conftest import Tenant
from tests.support.clocks import advance

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
JAN15 = 1_768_435_200  # 2026-01-15T00:00:00Z
FEB1 = 1_769_904_000  # 2026-02-01T00:00:00Z
HOUR = 3600


def _txns(c: stripe.StripeClient, customer: str, **params: Any) -> list[stripe.CustomerBalanceTransaction]:
    return list(c.v1.customers.balance_transactions.list(customer, params=params).auto_paging_iter())  # type: ignore[arg-type]


def _ledger_adds_up(c: stripe.StripeClient, customer: str) -> None:
    """Oldest first, each ending balance is the previous one plus the amount; the last is the customer's balance."""
    balance = 0
    for t in reversed(_txns(c, customer, limit=100)):
        balance += t.amount
        assert t.ending_balance == balance, t.id
    assert c.v1.customers.retrieve(customer).balance == balance


def test_credit_and_debit_adjustments_newest_first(tenant: Tenant) -> None:
    c = tenant.client
    cus = c.v1.customers.create(params={"name": "Acme"})
    assert cus.currency is None
    rows, audit = tenant.rows(), tenant.audit_rows()

    credit = c.v1.customers.balance_transactions.create(
        cus.id,
        params={"amount": -500, "currency": "usd", "description": "Goodwill", "metadata": {"ticket": "T-1"}},
    )
    assert credit.id.startswith("cbtxn_") and credit.object == "customer_balance_transaction"
    assert (credit.amount, credit.ending_balance, credit.type, credit.currency) == (
        -500,
        -500,
        "adjustment",
        "usd",
    )
    assert (credit.customer, credit.invoice, credit.credit_note, credit.livemode) == (
        cus.id,
        None,
        None,
        False,
    )
    assert credit.description == "Goodwill" and credit.metadata is not None
    assert credit.metadata.to_dict() == {"ticket": "T-1"}
    # The transaction, its customer.updated event; two audit rows (the event's and the transaction's).
    assert (tenant.rows(), tenant.audit_rows()) == (rows + 2, audit + 2)
    # "If the customer's currency is not set, it will be updated to this value."
    after = c.v1.customers.retrieve(cus.id)
    assert (after.balance, after.currency) == (-500, "usd")
    event = c.v1.events.list(params={"limit": 1}).data[0]
    assert event.type == "customer.updated"
    assert event.data.previous_attributes is not None
    assert event.data.previous_attributes.to_dict() == {"balance": 0, "currency": None}

    made = [credit.id]
    for amount in (200, -1000, 300, 50):
        made.append(
            c.v1.customers.balance_transactions.create(
                cus.id, params={"amount": amount, "currency": "usd"}
            ).id
        )
    assert c.v1.customers.retrieve(cus.id).balance == -500 + 200 - 1000 + 300 + 50

    page = c.v1.customers.balance_transactions.list(cus.id, params={"limit": 2})
    assert page.url == f"/v1/customers/{cus.id}/balance_transactions"
    assert [t.id for t in page.data] == made[::-1][:2] and page.has_more is True
    assert [t.id for t in _txns(c, cus.id, limit=2)] == made[::-1]
    assert [t.ending_balance for t in _txns(c, cus.id)] == [-950, -1000, -1300, -300, -500]
    before = c.v1.customers.balance_transactions.list(cus.id, params={"ending_before": made[1], "limit": 2})
    assert [t.id for t in before.data] == [made[3], made[2]]
    created = credit.created
    assert [t.id for t in _txns(c, cus.id, created={"lte": created - 1})] == []
    assert len(_txns(c, cus.id, created={"gte": created})) == 5
    _ledger_adds_up(c, cus.id)

    # Another customer's ledger is its own.
    other = c.v1.customers.create(params={"name": "Other"})
    assert _txns(c, other.id) == []


def test_retrieve_and_update_description_and_metadata(tenant: Tenant) -> None:
    c = tenant.client
    cus = c.v1.customers.create(params={"name": "Acme"}).id
    txn = c.v1.customers.balance_transactions.create(
        cus, params={"amount": 1234, "currency": "eur", "metadata": {"a": "1", "b": "2"}}
    )
    got = c.v1.customers.balance_transactions.retrieve(cus, txn.id)
    assert got.to_dict() == txn.to_dict()

    rows, audit = tenant.rows(), tenant.audit_rows()
    upd = c.v1.customers.balance_transactions.update(
        cus, txn.id, params={"description": "Late fee", "metadata": {"a": "", "c": "3"}}
    )
    assert upd.description == "Late fee" and upd.metadata is not None
    assert upd.metadata.to_dict() == {"b": "2", "c": "3"}
    # Amount, balance and type are immutable; the change is audited (Stripe has no event for it).
    assert (upd.amount, upd.ending_balance, upd.type) == (1234, 1234, "adjustment")
    assert (tenant.rows(), tenant.audit_rows()) == (rows, audit + 1)
    assert c.v1.customers.balance_transactions.retrieve(cus, txn.id).to_dict() == upd.to_dict()

    cleared = c.v1.customers.balance_transactions.update(
        cus, txn.id, params={"description": "", "metadata": ""}
    )
    assert cleared.description is None and cleared.metadata is not None and cleared.metadata.to_dict() == {}
    # Nothing to change: nothing written.
    rows, audit = tenant.rows(), tenant.audit_rows()
    c.v1.customers.balance_transactions.update(cus, txn.id, params={"metadata": {"gone": ""}})
    assert (tenant.rows(), tenant.audit_rows()) == (rows, audit)
    # expand[] names the customer.
    expanded = c.v1.customers.balance_transactions.retrieve(cus, txn.id, params={"expand": ["customer"]})
    assert isinstance(expanded.customer, stripe.Customer) and expanded.customer.balance == 1234


def test_one_off_invoice_applies_a_credit_balance(tenant: Tenant) -> None:
    c = tenant.client
    cus = c.v1.customers.create(params={"name": "Acme"}).id
    c.v1.customers.balance_transactions.create(cus, params={"amount": -300, "currency": "usd"})
    c.v1.invoice_items.create(params={"customer": cus, "amount": 1000, "currency": "usd"})
    draft = c.v1.invoices.create(params={"customer": cus, "pending_invoice_items_behavior": "include"})
    assert (draft.starting_balance, draft.amount_due) == (-300, 700)
    # A draft takes nothing from the balance yet.
    assert len(_txns(c, cus)) == 1

    inv = c.v1.invoices.finalize_invoice(draft.id)
    assert (inv.starting_balance, inv.ending_balance, inv.amount_due) == (-300, 0, 700)
    applied = _txns(c, cus, invoice=inv.id)
    assert len(applied) == 1
    t = applied[0]
    # The 3.00 credit used is a debit of +300 to the balance: ending_balance - starting_balance.
    assert (t.type, t.invoice, t.currency) == ("applied_to_invoice", inv.id, "usd")
    assert inv.ending_balance is not None
    assert (t.amount, t.ending_balance) == (inv.ending_balance - inv.starting_balance, inv.ending_balance)
    assert t.created == inv.status_transitions.finalized_at
    assert _txns(c, cus)[0].id == t.id
    _ledger_adds_up(c, cus)

    # A credit larger than the invoice: the invoice is paid by the balance, the rest stays.
    c.v1.customers.balance_transactions.create(cus, params={"amount": -5000, "currency": "usd"})
    c.v1.invoice_items.create(params={"customer": cus, "amount": 1200, "currency": "usd"})
    second = c.v1.invoices.create(params={"customer": cus, "pending_invoice_items_behavior": "include"})
    second = c.v1.invoices.finalize_invoice(second.id)
    assert (second.status, second.amount_due, second.ending_balance) == ("paid", 0, -3800)
    [t2] = _txns(c, cus, invoice=second.id)
    assert (t2.type, t2.amount, t2.ending_balance) == ("applied_to_invoice", 1200, -3800)
    _ledger_adds_up(c, cus)


def test_voiding_an_invoice_gives_back_the_balance_it_used(tenant: Tenant) -> None:
    c = tenant.client
    cus = c.v1.customers.create(params={"name": "Acme"}).id
    c.v1.customers.balance_transactions.create(cus, params={"amount": -300, "currency": "usd"})
    c.v1.invoice_items.create(params={"customer": cus, "amount": 1000, "currency": "usd"})
    draft = c.v1.invoices.create(params={"customer": cus, "pending_invoice_items_behavior": "include"})
    inv = c.v1.invoices.finalize_invoice(draft.id)
    assert (inv.status, inv.amount_due) == ("open", 700)
    assert c.v1.customers.retrieve(cus).balance == 0
    voided = c.v1.invoices.void_invoice(inv.id)
    assert voided.status == "void"
    # The 3.00 credit is the customer's again.
    assert c.v1.customers.retrieve(cus).balance == -300
    [back, applied] = _txns(c, cus, invoice=inv.id)
    assert (back.type, back.amount, back.ending_balance) == ("unapplied_from_invoice", -300, -300)
    assert (applied.type, applied.amount) == ("applied_to_invoice", 300)
    _ledger_adds_up(c, cus)


def test_the_balance_at_finalization_is_applied_once(tenant: Tenant) -> None:
    c = tenant.client
    cus = c.v1.customers.create(params={"name": "Acme"}).id
    c.v1.customers.balance_transactions.create(cus, params={"amount": -1000, "currency": "usd"})
    drafts = []
    for _ in range(2):
        c.v1.invoice_items.create(params={"customer": cus, "amount": 600, "currency": "usd"})
        draft = c.v1.invoices.create(params={"customer": cus, "pending_invoice_items_behavior": "include"})
        drafts.append(draft.id)
    # Both drafts were made against the same 10.00 credit; the first invoice finalized takes 6.00 of it and the
    # second only what is left (the balance "applies toward the next invoice finalized").
    first = c.v1.invoices.finalize_invoice(drafts[0])
    assert (first.starting_balance, first.ending_balance, first.amount_due) == (-1000, -400, 0)
    second = c.v1.invoices.finalize_invoice(drafts[1])
    assert (second.starting_balance, second.ending_balance, second.amount_due) == (-400, 0, 200)
    assert [(t.type, t.amount, t.ending_balance) for t in _txns(c, cus)] == [
        ("applied_to_invoice", 400, 0),
        ("applied_to_invoice", 600, -400),
        ("adjustment", -1000, -1000),
    ]
    # A credit given while a draft waits is applied when it is finalized.
    c.v1.invoice_items.create(params={"customer": cus, "amount": 900, "currency": "usd"})
    third = c.v1.invoices.create(params={"customer": cus, "pending_invoice_items_behavior": "include"})
    assert (third.starting_balance, third.amount_due) == (0, 900)
    c.v1.customers.balance_transactions.create(cus, params={"amount": -250, "currency": "usd"})
    third = c.v1.invoices.finalize_invoice(third.id)
    assert (third.starting_balance, third.ending_balance, third.amount_due) == (-250, 0, 650)
    _ledger_adds_up(c, cus)


def test_renewal_applies_a_credit_balance(tenant: Tenant) -> None:
    c = tenant.client
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": T0})
    product = c.v1.products.create(params={"name": "Seat"})
    price = c.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 5000,
            "recurring": {"interval": "month"},
        }
    )
    cus = c.v1.customers.create(
        params={"test_clock": clock.id, "invoice_settings": {"default_payment_method": "pm_card_visa"}}
    ).id
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": price.id}]})
    advance(c, clock.id, JAN15)
    credit = c.v1.customers.balance_transactions.create(cus, params={"amount": -2000, "currency": "usd"})
    # A customer on a test clock lives at the clock's time.
    assert credit.created == JAN15

    advance(c, clock.id, FEB1 + 2 * HOUR)
    renewal = c.v1.invoices.list(params={"subscription": sub.id, "limit": 1}).data[0]
    assert renewal.billing_reason == "subscription_cycle"
    assert (renewal.status, renewal.starting_balance, renewal.ending_balance) == ("paid", -2000, 0)
    assert (renewal.amount_due, renewal.amount_paid) == (3000, 3000)
    [t] = _txns(c, cus, invoice=renewal.id)
    assert (t.type, t.amount, t.ending_balance) == ("applied_to_invoice", 2000, 0)
    assert t.created == renewal.status_transitions.finalized_at
    assert [x.type for x in _txns(c, cus)] == ["applied_to_invoice", "adjustment"]
    _ledger_adds_up(c, cus)


def test_post_payment_credit_note_is_a_credit_note_transaction(tenant: Tenant) -> None:
    c = tenant.client
    product = c.v1.products.create(params={"name": "Seat"})
    price = c.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 5000,
            "recurring": {"interval": "month"},
        }
    )
    cus = c.v1.customers.create(params={"invoice_settings": {"default_payment_method": "pm_card_visa"}}).id
    sub = c.v1.subscriptions.create(params={"customer": cus, "items": [{"price": price.id}]})
    inv = c.v1.invoices.retrieve(str(sub.latest_invoice))
    assert inv.status == "paid"
    cn = c.v1.credit_notes.create(params={"invoice": inv.id, "amount": 1500, "credit_amount": 1500})
    [t] = _txns(c, cus)
    assert t.id == cn.customer_balance_transaction
    assert (t.type, t.amount, t.ending_balance, t.currency) == ("credit_note", -1500, -1500, "usd")
    assert (t.credit_note, t.invoice) == (cn.id, inv.id)
    assert [x.id for x in _txns(c, cus, invoice=inv.id)] == [t.id]

    # Voiding it takes the credit back: a second credit_note transaction.
    c.v1.credit_notes.void_credit_note(cn.id)
    back = _txns(c, cus)[0]
    assert (back.type, back.amount, back.ending_balance, back.credit_note) == ("credit_note", 1500, 0, cn.id)
    _ledger_adds_up(c, cus)


def test_refused_requests_write_nothing(tenant: Tenant, other_tenant: Tenant) -> None:
    c = tenant.client
    cus = c.v1.customers.create(params={"name": "Acme"}).id
    txn = c.v1.customers.balance_transactions.create(cus, params={"amount": -100, "currency": "usd"})
    other_cus = c.v1.customers.create(params={"name": "Other"}).id
    gone = c.v1.customers.create(params={"name": "Gone"}).id
    c.v1.customers.delete(gone)
    bt = c.v1.customers.balance_transactions

    def create(customer: str, **params: Any) -> Any:
        return bt.create(customer, params=params)  # type: ignore[arg-type]

    cases: list[tuple[Any, int, str, str]] = [
        (lambda: create(cus, amount=0, currency="usd"), 400, "amount", "must not be 0"),
        (lambda: create(cus, amount=100), 400, "currency", "Missing required param"),
        (lambda: create(cus, currency="usd"), 400, "amount", "Missing required param"),
        (
            lambda: create(cus, amount=100, currency="eur"),
            400,
            "currency",
            "balance is in usd",
        ),
        (
            lambda: create(cus, amount=100, currency="xyz"),
            400,
            "currency",
            "Invalid currency",
        ),
        (
            lambda: create(cus, amount="ten", currency="usd"),
            400,
            "amount",
            "Invalid integer",
        ),
        (lambda: create(cus, amount=10**8, currency="usd"), 400, "amount", "between"),
        (
            lambda: create(cus, amount=1, currency="usd", description="x" * 351),
            400,
            "description",
            "at most 350",
        ),
        (
            lambda: create(cus, amount=1, currency="usd", type="initial"),
            400,
            "type",
            "Received unknown parameter",
        ),
        (
            lambda: create("cus_missing", amount=1, currency="usd"),
            404,
            "customer",
            "No such customer",
        ),
        (
            lambda: create(gone, amount=1, currency="usd"),
            404,
            "customer",
            "No such customer",
        ),
        (lambda: bt.retrieve("cus_missing", txn.id), 404, "customer", "No such customer"),
        (lambda: bt.retrieve(other_cus, txn.id), 404, "id", "No such customer balance transaction"),
        (lambda: bt.retrieve(cus, "cbtxn_missing"), 404, "id", "No such customer balance transaction"),
        (
            lambda: bt.update(other_cus, txn.id, params={"description": "x"}),
            404,
            "id",
            "No such customer balance transaction",
        ),
        (
            lambda: bt.update(cus, txn.id, params={"amount": 5}),  # type: ignore[arg-type]
            400,
            "amount",
            "Received unknown parameter",
        ),
        (lambda: bt.list("cus_missing"), 404, "customer", "No such customer"),
        (lambda: bt.list(cus, params={"starting_after": "cbtxn_missing"}), 404, "starting_after", "No such"),
        (lambda: bt.list(cus, params={"limit": 101}), 400, "limit", "less than or equal to 100"),
        # Another account: its customer and transaction do not exist here.
        (
            lambda: other_tenant.client.v1.customers.balance_transactions.retrieve(cus, txn.id),
            404,
            "customer",
            "No such customer",
        ),
        (
            lambda: other_tenant.client.v1.customers.balance_transactions.create(
                cus, params={"amount": 1, "currency": "usd"}
            ),
            404,
            "customer",
            "No such customer",
        ),
        # Live mode is another ledger.
        (
            lambda: tenant.live_client.v1.customers.balance_transactions.retrieve(cus, txn.id),
            404,
            "customer",
            "No such",
        ),
    ]
    for call, status, param, message in cases:
        before = (tenant.rows(), tenant.audit_rows(), other_tenant.rows(), other_tenant.audit_rows())
        with pytest.raises(stripe.StripeError) as err:
            call()
        assert err.value.http_status == status, (param, err.value.user_message)
        assert isinstance(err.value, stripe.InvalidRequestError)
        assert err.value.param == param, (param, err.value.user_message)
        assert message in str(err.value.user_message), err.value.user_message
        assert (tenant.rows(), tenant.audit_rows(), other_tenant.rows(), other_tenant.audit_rows()) == before
    assert c.v1.customers.retrieve(cus).balance == -100
    assert [t.id for t in _txns(c, cus)] == [txn.id]


def test_a_balance_set_on_the_customer_is_an_adjustment(tenant: Tenant) -> None:
    """ "You may modify the value directly by using the update customer API"
    (https://docs.stripe.com/api/customer_balance_transactions): the ledger still adds up to the balance."""
    c = tenant.client
    cus = c.v1.customers.create(params={"name": "Acme", "balance": -300})
    [made] = _txns(c, cus.id)
    # The customer has no currency yet: the transaction has none either.
    assert (made.type, made.amount, made.ending_balance, made.currency) == ("adjustment", -300, -300, None)
    assert made.created == cus.created

    c.v1.invoice_items.create(params={"customer": cus.id, "amount": 1000, "currency": "eur"})
    draft = c.v1.invoices.create(params={"customer": cus.id, "pending_invoice_items_behavior": "include"})
    inv = c.v1.invoices.finalize_invoice(draft.id)
    assert (inv.starting_balance, inv.ending_balance, inv.amount_due) == (-300, 0, 700)
    # The first invoice that uses the balance fixes the customer's currency, in the same customer.updated event.
    after = c.v1.customers.retrieve(cus.id)
    assert (after.balance, after.currency) == (0, "eur")
    updated = c.v1.events.list(params={"type": "customer.updated", "limit": 1}).data[0]
    assert updated.data.previous_attributes is not None
    assert updated.data.previous_attributes.to_dict() == {"balance": -300, "currency": None}

    # From now on a direct change is an adjustment in the customer's currency, of the difference.
    rows, audit = tenant.rows(), tenant.audit_rows()
    c.v1.customers.update(cus.id, params={"balance": -1250})
    # The transaction and the customer.updated event; the event's audit row and the transaction's.
    assert (tenant.rows(), tenant.audit_rows()) == (rows + 2, audit + 2)
    latest = _txns(c, cus.id)[0]
    assert (latest.type, latest.amount, latest.ending_balance, latest.currency) == (
        "adjustment",
        -1250,
        -1250,
        "eur",
    )
    c.v1.customers.update(cus.id, params={"balance": 400})
    assert (_txns(c, cus.id)[0].amount, _txns(c, cus.id)[0].ending_balance) == (1650, 400)
    # Setting the same balance again, or changing something else, writes no transaction.
    count = len(_txns(c, cus.id))
    c.v1.customers.update(cus.id, params={"balance": 400, "name": "Acme GmbH"})
    assert len(_txns(c, cus.id)) == count
    _ledger_adds_up(c, cus.id)


def test_a_balance_is_used_only_by_invoices_in_its_currency(tenant: Tenant) -> None:
    """ "A CAD invoice doesn't apply a customer credit balance denominated in USD"
    (https://stripe.com/docs/multi-currency-prices)."""
    c = tenant.client
    cus = c.v1.customers.create(params={"name": "Acme"}).id
    c.v1.customers.balance_transactions.create(cus, params={"amount": -500, "currency": "usd"})
    c.v1.invoice_items.create(params={"customer": cus, "amount": 2000, "currency": "cad"})
    draft = c.v1.invoices.create(
        params={"customer": cus, "currency": "cad", "pending_invoice_items_behavior": "include"}
    )
    assert (draft.currency, draft.starting_balance, draft.amount_due) == ("cad", 0, 2000)
    cad = c.v1.invoices.finalize_invoice(draft.id)
    assert (cad.starting_balance, cad.ending_balance, cad.amount_due) == (0, 0, 2000)
    # The USD credit is untouched and no transaction traces the CAD invoice.
    assert c.v1.customers.retrieve(cus).balance == -500
    assert _txns(c, cus, invoice=cad.id) == []
    # The preview of a USD invoice uses it.
    c.v1.invoice_items.create(params={"customer": cus, "amount": 800, "currency": "usd"})
    preview = c.v1.invoices.create_preview(params={"customer": cus, "currency": "usd"})
    assert (preview.starting_balance, preview.amount_due) == (-500, 300)

    # After payment, a credit note cannot put CAD on the USD balance; nothing is written.
    paid = c.v1.invoices.pay(cad.id, params={"paid_out_of_band": True})
    assert paid.status == "paid"
    rows = tenant.rows()
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.credit_notes.create(params={"invoice": cad.id, "amount": 500, "credit_amount": 500})
    assert err.value.http_status == 400
    assert err.value.param == "credit_amount"
    assert "balance is in usd" in str(err.value.user_message)
    assert tenant.rows() == rows
    # Out of band is fine.
    cn = c.v1.credit_notes.create(params={"invoice": cad.id, "amount": 500, "out_of_band_amount": 500})
    assert (cn.currency, cn.customer_balance_transaction) == ("cad", None)
    assert c.v1.customers.retrieve(cus).balance == -500
    _ledger_adds_up(c, cus)
