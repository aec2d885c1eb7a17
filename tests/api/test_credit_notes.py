"""Credit notes through the official stripe SDK over real HTTP: pre- and post-payment, preview, void, lists,
and every refused request writing nothing.

Rules: https://docs.stripe.com/api/credit_notes/create, https://docs.stripe.com/invoicing/dashboard/credit-notes,
https://docs.stripe.com/invoicing/integration/programmatic-credit-notes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import stripe

from tests.conftest import Tenant

VOLATILE = ("id", "created", "effective_at", "url", "refund", "customer_balance_transaction")


def _setup(c: stripe.StripeClient, *, send_invoice: bool, quantity: int = 3) -> tuple[Any, Any, str]:
    """A customer on a $50.00 x ``quantity`` monthly subscription with 19% exclusive VAT: its first invoice."""
    product = c.v1.products.create(params={"name": "Seat"})
    price = c.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 5000,
            "recurring": {"interval": "month"},
        }
    )
    vat = c.v1.tax_rates.create(params={"display_name": "VAT", "percentage": 19, "inclusive": False})
    cus = c.v1.customers.create(
        params={"name": "Acme", "invoice_settings": {"default_payment_method": "pm_card_visa"}}
    )
    params: dict[str, Any] = {
        "customer": cus.id,
        "items": [{"price": price.id, "quantity": quantity}],
        "default_tax_rates": [vat.id],
    }
    if send_invoice:
        params.update(collection_method="send_invoice", days_until_due=30)
    sub = c.v1.subscriptions.create(params=params)  # type: ignore[arg-type]
    invoice = c.v1.invoices.retrieve(str(sub.latest_invoice))
    return cus, invoice, vat.id


def _strip(value: Any) -> Any:
    """A credit note without what differs between a preview and the credit note that follows (ids, refunds)."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE and k != "refunds"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _events(c: stripe.StripeClient) -> list[str]:
    return [e.type for e in reversed(list(c.v1.events.list(params={"limit": 100}).auto_paging_iter()))]


def test_pre_payment_credit_note_on_an_open_send_invoice_invoice(tenant: Tenant) -> None:
    c = tenant.client
    cus, inv, vat = _setup(c, send_invoice=True)
    # 3 × $50.00 = $150.00 + 19% VAT $28.50 = $178.50, open (send_invoice).
    assert (inv.status, inv.total, inv.amount_due, inv.amount_remaining) == ("open", 17850, 17850, 17850)
    line = inv.lines.data[0]
    params: dict[str, Any] = {
        "invoice": inv.id,
        "lines": [{"type": "invoice_line_item", "invoice_line_item": line.id, "quantity": 1}],
        "reason": "order_change",
        "memo": "One seat was never used",
    }
    preview = c.v1.credit_notes.preview(params=params)  # type: ignore[arg-type]
    rows = tenant.rows()
    cn = c.v1.credit_notes.create(params=params)  # type: ignore[arg-type]
    assert _strip(preview.to_dict()) == _strip(cn.to_dict())
    assert rows < tenant.rows()

    # One seat: $50.00 + its VAT $9.50 = $59.50, all of it pre-payment.
    assert cn.id.startswith("cn_") and cn.object == "credit_note"
    assert (cn.subtotal, cn.total_excluding_tax, cn.total, cn.amount) == (5000, 5000, 5950, 5950)
    assert (cn.pre_payment_amount, cn.post_payment_amount, cn.type) == (5950, 0, "pre_payment")
    assert cn.number == f"{inv.number}-CN-01"
    assert (cn.status, cn.reason, cn.memo, cn.customer, cn.invoice) == (
        "issued",
        "order_change",
        "One seat was never used",
        cus.id,
        inv.id,
    )
    assert [(t.amount, t.taxable_amount, t.tax_rate_details.tax_rate) for t in cn.total_taxes] == [
        (950, 5000, vat)
    ]
    cl = cn.lines.data[0]
    assert (cl.type, cl.invoice_line_item, cl.quantity, cl.amount, cl.unit_amount) == (
        "invoice_line_item",
        line.id,
        1,
        5000,
        5000,
    )
    assert [r.id for r in cl.tax_rates] == [vat]
    assert cn.refunds == [] and cn.customer_balance_transaction is None

    inv = c.v1.invoices.retrieve(inv.id)
    assert (inv.status, inv.total, inv.amount_due, inv.amount_remaining) == ("open", 17850, 11900, 11900)
    assert (inv.pre_payment_credit_notes_amount, inv.post_payment_credit_notes_amount) == (5950, 0)

    # Crediting the two remaining seats brings the amount remaining to zero: the invoice is paid.
    params["lines"][0]["quantity"] = 2
    cn2 = c.v1.credit_notes.create(params=params)  # type: ignore[arg-type]
    assert (cn2.total, cn2.number) == (11900, f"{inv.number}-CN-02")
    inv = c.v1.invoices.retrieve(inv.id)
    assert (inv.status, inv.amount_due, inv.amount_remaining, inv.amount_paid) == ("paid", 0, 0, 0)
    assert inv.pre_payment_credit_notes_amount == 17850
    assert _events(c)[-5:] == [
        "credit_note.created",
        "invoice.updated",
        "credit_note.created",
        "invoice.updated",
        "invoice.paid",
    ]


def test_post_payment_credit_note_refund_balance_and_out_of_band(tenant: Tenant) -> None:
    c = tenant.client
    cus, inv, _ = _setup(c, send_invoice=False)
    assert (inv.status, inv.amount_paid, inv.total) == ("paid", 17850, 17850)
    line = inv.lines.data[0]
    # Credit $80.00 of the line's $150.00: its VAT share is 19% of that, $15.20 — $95.20 in all.
    params: dict[str, Any] = {
        "invoice": inv.id,
        "lines": [{"type": "invoice_line_item", "invoice_line_item": line.id, "amount": 8000}],
        "refund_amount": 5000,
        "credit_amount": 4000,
        "out_of_band_amount": 520,
    }
    preview = c.v1.credit_notes.preview(params=params)  # type: ignore[arg-type]
    cn = c.v1.credit_notes.create(params=params)  # type: ignore[arg-type]
    assert _strip(preview.to_dict()) == _strip(cn.to_dict())
    assert (cn.total, cn.pre_payment_amount, cn.post_payment_amount, cn.type) == (
        9520,
        0,
        9520,
        "post_payment",
    )
    assert cn.total_taxes is not None and cn.total_taxes[0].amount == 1520
    assert cn.out_of_band_amount == 520
    assert len(cn.refunds) == 1 and cn.refunds[0].amount_refunded == 5000
    assert str(cn.refunds[0].refund).startswith("re_")
    assert cn.lines.data[0].quantity is None and cn.lines.data[0].amount == 8000

    txn = cn.customer_balance_transaction
    assert isinstance(txn, str) and txn.startswith("cbtxn_")
    assert c.v1.customers.retrieve(cus.id).balance == -4000
    inv = c.v1.invoices.retrieve(inv.id)
    assert (inv.status, inv.amount_paid, inv.amount_due) == ("paid", 17850, 17850)
    assert (inv.pre_payment_credit_notes_amount, inv.post_payment_credit_notes_amount) == (0, 9520)
    assert _events(c)[-3:] == ["credit_note.created", "invoice.updated", "customer.updated"]

    # What is left: $70.00 of the line and its $13.30 VAT = $83.30; the refund can only be what is left of the
    # $178.50 charge after the $50.00 refund.
    rest = c.v1.credit_notes.create(
        params={
            "invoice": inv.id,
            "lines": [{"type": "invoice_line_item", "invoice_line_item": line.id, "amount": 7000}],
            "credit_amount": 8330,
        }
    )
    assert rest.total == 8330
    assert c.v1.invoices.retrieve(inv.id).post_payment_credit_notes_amount == 17850


def test_refused_requests_write_nothing(tenant: Tenant) -> None:
    c = tenant.client
    _, open_inv, _ = _setup(c, send_invoice=True)
    _, paid_inv, _ = _setup(c, send_invoice=False)
    _, void_inv, _ = _setup(c, send_invoice=True)
    c.v1.invoices.void_invoice(void_inv.id)
    open_line = open_inv.lines.data[0].id
    paid_line = paid_inv.lines.data[0].id

    def by(line: str, **kw: Any) -> list[dict[str, Any]]:
        return [{"type": "invoice_line_item", "invoice_line_item": line, **kw}]

    cases: list[tuple[dict[str, Any], int, str, str]] = [
        ({"invoice": "in_missing", "amount": 100}, 404, "invoice", "No such invoice"),
        ({"invoice": void_inv.id, "amount": 100}, 400, "invoice", "open or paid"),
        ({"invoice": open_inv.id}, 400, "amount", "must be provided"),
        (
            {"invoice": open_inv.id, "lines": by("il_missing", quantity=1)},
            404,
            "lines[0][invoice_line_item]",
            "No such",
        ),
        (
            {"invoice": open_inv.id, "lines": by(open_line, quantity=4)},
            400,
            "lines[0][quantity]",
            "at most 3",
        ),
        (
            {"invoice": open_inv.id, "lines": by(open_line, amount=15001)},
            400,
            "lines[0][amount]",
            "at most 15000",
        ),
        ({"invoice": open_inv.id, "lines": by(open_line)}, 400, "lines[0][quantity]", "exactly one"),
        (
            {"invoice": open_inv.id, "lines": by(open_line, quantity=1, amount=10)},
            400,
            "lines[0][quantity]",
            "exactly one",
        ),
        (
            {"invoice": open_inv.id, "lines": by(open_line, quantity=0)},
            400,
            "lines[0][quantity]",
            "greater than",
        ),
        ({"invoice": open_inv.id, "amount": 17851}, 400, "amount", "more than can still be credited"),
        (
            {"invoice": open_inv.id, "lines": by(open_line, quantity=1), "amount": 5000},
            400,
            "amount",
            "must equal the total",
        ),
        (
            {"invoice": open_inv.id, "lines": [{"type": "custom_line_item", "quantity": 1}]},
            400,
            "lines[0][unit_amount]",
            "unit_amount",
        ),
        (
            {
                "invoice": open_inv.id,
                "lines": [{"type": "custom_line_item", "unit_amount": 5, "tax_rates": ["txr_x"]}],
            },
            404,
            "lines[0][tax_rates][0]",
            "No such tax rate",
        ),
        ({"invoice": open_inv.id, "amount": 100, "credit_amount": 100}, 400, "credit_amount", "must equal"),
        ({"invoice": paid_inv.id, "amount": 100}, 400, "credit_amount", "post-payment amount (100)"),
        (
            {"invoice": paid_inv.id, "amount": 100, "refund_amount": 60, "credit_amount": 50},
            400,
            "refund_amount",
            "must equal",
        ),
        (
            {"invoice": paid_inv.id, "lines": by(paid_line, quantity=1), "refund_amount": 5949},
            400,
            "refund_amount",
            "(5950)",
        ),
        (
            {"invoice": paid_inv.id, "amount": 100, "refunds": [{"refund": "re_x"}]},
            400,
            "refunds",
            "not supported",
        ),
        ({"invoice": open_inv.id, "amount": 100, "reason": "because"}, 400, "reason", "must be one of"),
        ({"invoice": open_inv.id, "amount": 100, "colour": "red"}, 400, "colour", "unknown parameter"),
        (
            {"invoice": open_inv.id, "amount": 100, "effective_at": 1},
            400,
            "effective_at",
            "before the invoice",
        ),
    ]
    before = (tenant.rows(), tenant.audit_rows())
    for params, status, param, message in cases:
        for call in (c.v1.credit_notes.create, c.v1.credit_notes.preview):
            with pytest.raises(stripe.InvalidRequestError) as err:
                call(params=params)  # type: ignore[arg-type, operator]
            assert (err.value.http_status, err.value.param) == (status, param), params
            assert err.value.error is not None and err.value.error.type == "invalid_request_error"
            assert message.lower() in str(err.value.user_message).lower(), (params, err.value.user_message)
    assert (tenant.rows(), tenant.audit_rows()) == before

    # A line credited by quantity can only be credited by quantity afterwards.
    c.v1.credit_notes.create(params={"invoice": open_inv.id, "lines": by(open_line, quantity=1)})  # type: ignore[arg-type]
    before = (tenant.rows(), tenant.audit_rows())
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.credit_notes.create(params={"invoice": open_inv.id, "lines": by(open_line, amount=100)})  # type: ignore[arg-type]
    assert (err.value.http_status, err.value.param) == (400, "lines[0]")
    assert "by quantity" in str(err.value.user_message)
    assert (tenant.rows(), tenant.audit_rows()) == before


def test_custom_line_and_amount_only(tenant: Tenant) -> None:
    c = tenant.client
    _, inv, vat = _setup(c, send_invoice=True)
    cn = c.v1.credit_notes.create(
        params={
            "invoice": inv.id,
            "lines": [
                {
                    "type": "custom_line_item",
                    "description": "Goodwill",
                    "unit_amount_decimal": "1250.5",
                    "quantity": 2,
                    "tax_rates": [vat],
                    "metadata": {"ticket": "42"},
                }
            ],
        }
    )
    # 2 × $12.505 = $25.01, VAT 19% = $4.75 (4.7519).
    line = cn.lines.data[0]
    assert (line.type, line.description, line.amount, line.unit_amount, line.unit_amount_decimal) == (
        "custom_line_item",
        "Goodwill",
        2501,
        None,
        Decimal("1250.5"),
    )
    assert line.metadata is not None and line.metadata.to_dict() == {"ticket": "42"}
    assert (cn.subtotal, cn.total) == (2501, 2976)
    only = c.v1.credit_notes.create(params={"invoice": inv.id, "amount": 1000})
    assert (only.total, only.total_taxes, only.lines.data[0].type) == (1000, [], "custom_line_item")
    assert c.v1.invoices.retrieve(inv.id).amount_remaining == 17850 - 2976 - 1000


def test_void_reverses_pre_and_post_payment_credit(tenant: Tenant) -> None:
    c = tenant.client
    cus, open_inv, _ = _setup(c, send_invoice=True)
    cn = c.v1.credit_notes.create(params={"invoice": open_inv.id, "amount": 2000})
    voided = c.v1.credit_notes.void_credit_note(cn.id)
    assert voided.status == "void" and voided.voided_at is not None
    inv = c.v1.invoices.retrieve(open_inv.id)
    assert (inv.amount_due, inv.amount_remaining, inv.pre_payment_credit_notes_amount) == (17850, 17850, 0)
    # A voided credit note keeps its number; the next one takes the next.
    assert c.v1.credit_notes.create(params={"invoice": inv.id, "amount": 10}).number == f"{inv.number}-CN-02"

    cus, paid_inv, _ = _setup(c, send_invoice=False)
    credit = c.v1.credit_notes.create(params={"invoice": paid_inv.id, "amount": 3000, "credit_amount": 3000})
    assert c.v1.customers.retrieve(cus.id).balance == -3000
    c.v1.credit_notes.void_credit_note(credit.id)
    assert c.v1.customers.retrieve(cus.id).balance == 0
    assert c.v1.invoices.retrieve(paid_inv.id).post_payment_credit_notes_amount == 0
    assert _events(c)[-3:] == ["credit_note.voided", "invoice.updated", "customer.updated"]

    refunded = c.v1.credit_notes.create(
        params={"invoice": paid_inv.id, "amount": 3000, "refund_amount": 3000}
    )
    before = (tenant.rows(), tenant.audit_rows())
    for target, message in ((refunded.id, "with a refund"), (credit.id, "already void")):
        with pytest.raises(stripe.InvalidRequestError) as err:
            c.v1.credit_notes.void_credit_note(target)
        assert err.value.http_status == 400 and message in str(err.value.user_message)
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.credit_notes.void_credit_note("cn_missing")
    assert (err.value.http_status, err.value.code) == (404, "resource_missing")
    assert (tenant.rows(), tenant.audit_rows()) == before


def test_retrieve_update_list_and_lines(tenant: Tenant, other_tenant: Tenant) -> None:
    c = tenant.client
    cus_a, inv_a, _ = _setup(c, send_invoice=True)
    cus_b, inv_b, _ = _setup(c, send_invoice=True)
    a1 = c.v1.credit_notes.create(params={"invoice": inv_a.id, "amount": 100})
    a2 = c.v1.credit_notes.create(params={"invoice": inv_a.id, "amount": 200})
    b1 = c.v1.credit_notes.create(params={"invoice": inv_b.id, "amount": 300})
    assert [n.id for n in c.v1.credit_notes.list().data] == [b1.id, a2.id, a1.id]
    assert [n.id for n in c.v1.credit_notes.list(params={"invoice": inv_a.id}).data] == [a2.id, a1.id]
    assert [n.id for n in c.v1.credit_notes.list(params={"customer": cus_b.id}).data] == [b1.id]
    page = c.v1.credit_notes.list(params={"limit": 1, "starting_after": b1.id})
    assert [n.id for n in page.data] == [a2.id] and page.has_more is True
    assert c.v1.credit_notes.retrieve(a1.id).to_dict() == a1.to_dict()
    got = c.v1.credit_notes.retrieve(a1.id, params={"expand": ["invoice", "customer"]})
    assert got.invoice.id == inv_a.id and got.customer.id == cus_a.id  # type: ignore[union-attr]

    upd = c.v1.credit_notes.update(a1.id, params={"memo": "Sorry", "metadata": {"case": "7"}})
    assert (upd.memo, upd.metadata.to_dict() if upd.metadata else None) == ("Sorry", {"case": "7"})
    assert _events(c)[-1] == "credit_note.updated"
    with pytest.raises(stripe.InvalidRequestError) as err:
        c.v1.credit_notes.update(a1.id, params={"amount": 5})  # type: ignore[typeddict-unknown-key]
    assert err.value.param == "amount"

    line = inv_a.lines.data[0].id
    multi = c.v1.credit_notes.create(
        params={
            "invoice": inv_a.id,
            "lines": [
                {"type": "invoice_line_item", "invoice_line_item": line, "quantity": 1},
                {"type": "custom_line_item", "unit_amount": 10, "description": "a"},
                {"type": "custom_line_item", "unit_amount": 20, "description": "b"},
            ],
        }
    )
    first = c.v1.credit_notes.line_items.list(multi.id, params={"limit": 2})
    assert [x.id for x in first.data] == [x.id for x in multi.lines.data[:2]] and first.has_more is True
    assert first.url == f"/v1/credit_notes/{multi.id}/lines"
    rest = c.v1.credit_notes.line_items.list(multi.id, params={"starting_after": first.data[1].id})
    assert [x.description for x in rest.data] == ["b"] and rest.has_more is False
    lines = c.v1.credit_notes.preview_lines.list(
        params={
            "invoice": inv_a.id,
            "lines": [
                {"type": "invoice_line_item", "invoice_line_item": line, "quantity": 1},
                {"type": "custom_line_item", "unit_amount": 10},
            ],
            "limit": 1,
        }
    )
    assert [x.amount for x in lines.data] == [5000] and lines.has_more is True
    assert lines.url == "/v1/credit_notes/preview/lines"

    # Another account sees none of it.
    with pytest.raises(stripe.InvalidRequestError) as err:
        other_tenant.client.v1.credit_notes.retrieve(a1.id)
    assert err.value.http_status == 404
    assert other_tenant.client.v1.credit_notes.list().data == []
