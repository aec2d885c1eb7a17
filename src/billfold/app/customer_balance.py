"""The customer balance ledger: every change of a customer's ``balance`` is a ``customer_balance_transaction``.

Stripe computes the customer's invoice balance "from a ledger — an immutable list of debit and credit
transactions" that "provides an audit trail" (https://docs.stripe.com/billing/customer/balance). ``record`` is
the one place the balance moves: it changes ``customer["balance"]``, saves the customer and writes the
transaction with the ``ending_balance`` it leaves, so the ledger and the balance cannot drift apart. Callers:
adjustments made through the API (``create``), credit notes (``credit_notes``) and the balance an invoice takes
when it is finalized (``invoicing.finalize``). A ``balance`` set directly on the customer ("You may modify the
value directly by using the update customer API", https://docs.stripe.com/api/customer_balance_transactions) is
an ``adjustment`` of the difference (``record_direct_change``).

The balance is in the customer's currency: an invoice in another currency does not use it
(``customers.balance_in``; "A CAD invoice doesn't apply a customer credit balance denominated in USD",
https://stripe.com/docs/multi-currency-prices).

Sign convention (https://docs.stripe.com/api/customer_balance_transactions/object): a negative ``amount`` is a
credit for the customer (it lowers what the next invoice asks for), a positive one a debit. An invoice that uses
a credit of 5.00 is therefore an ``applied_to_invoice`` transaction of +500.

Stripe has no event type for these transactions (no ``customer_balance_transaction.*`` in its event list): the
change is announced as ``customer.updated`` (the callers write it, where their event order wants it), and each
transaction gets an audit row of its own here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from billfold.core.money import is_within_max_amount, max_amount
from billfold.ids import new_id

from .customers import customer_index
from .errors import InvalidRequest, ResourceMissing
from .ports import Doc, Index, ListQuery, Page, Store
from .subscriptions import customer_now

OBJECT = "customer_balance_transaction"


def transaction_index(txn: Doc) -> Index:
    """Promoted columns: the customer (every list is one customer's), the invoice or credit note it traces
    (``parent``; the ``invoice`` list filter), its currency."""
    return Index(
        customer=txn["customer"],
        parent=txn.get("invoice") or txn.get("credit_note"),
        currency=txn.get("currency"),
    )


def record(
    store: Store,
    customer: Doc,
    amount: int,
    *,
    type: str,
    currency: str | None,
    now: int,
    invoice: str | None = None,
    credit_note: str | None = None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    balance_already_set: bool = False,
) -> Doc:
    """Move ``amount`` onto the customer's balance and write the transaction that says so.

    The caller holds the customer's row lock (``store.get(..., for_update=True)``) and writes ``customer.updated``
    with ``previous_attributes={"balance": txn["ending_balance"] - txn["amount"]}``. ``balance_already_set``: the
    caller has changed and saves the balance itself (``record_direct_change``); only the transaction is written.
    """
    if not balance_already_set:
        customer["balance"] = int(customer.get("balance") or 0) + amount
        store.replace(customer, customer_index(customer))
    txn: Doc = {
        "id": new_id(OBJECT),
        "object": OBJECT,
        "amount": amount,
        "checkout_session": None,
        "created": now,
        "credit_note": credit_note,
        "currency": currency,
        "customer": customer["id"],
        "customer_account": None,
        "description": description,
        "ending_balance": customer["balance"],
        "invoice": invoice,
        "livemode": store.scope.livemode,
        "metadata": metadata or {},
        "type": type,
    }
    store.insert(txn, transaction_index(txn), created=now)
    store.audit(
        f"{OBJECT}.created",
        OBJECT,
        txn["id"],
        {"customer": customer["id"], "type": type, "amount": amount, "ending_balance": customer["balance"]},
    )
    return txn


def record_direct_change(store: Store, customer: Doc, previous_balance: int, now: int) -> Doc | None:
    """The ledger entry of a ``balance`` set directly on the customer (create or update): an ``adjustment`` of the
    difference, so the ledger still adds up to the balance. The caller saves the customer and writes its event.

    Its currency is the customer's; a customer without one yet (no invoice, subscription or transaction so far)
    gives a transaction without a currency, and the first invoice that uses the balance fixes the customer's
    currency (``invoicing.finalize``)."""
    amount = int(customer.get("balance") or 0) - previous_balance
    if amount == 0:
        return None
    return record(
        store,
        customer,
        amount,
        type="adjustment",
        currency=customer.get("currency"),
        now=now,
        balance_already_set=True,
    )


# -- the API's use cases ------------------------------------------------------------------------------------------
def _customer(store: Store, customer_id: str, *, lock: bool = False) -> Doc:
    doc = store.get("customer", customer_id, for_update=lock)
    if doc is None or doc.get("deleted"):
        raise ResourceMissing("customer", customer_id, param="customer")
    return doc


def create(store: Store, wall_now: int, customer_id: str, values: dict[str, Any]) -> Doc:
    """An ``adjustment``: a credit (negative) or debit (positive) the caller gives the customer."""
    customer = _customer(store, customer_id, lock=True)
    amount, currency = int(values["amount"]), str(values["currency"])
    if amount == 0:
        raise InvalidRequest("Invalid amount: a balance transaction's amount must not be 0.", param="amount")
    if not is_within_max_amount(amount, currency):
        raise InvalidRequest(
            f"Invalid amount: must be between -{max_amount(currency)} and {max_amount(currency)}.",
            param="amount",
        )
    previous: Doc = {"balance": int(customer.get("balance") or 0)}
    if not is_within_max_amount(previous["balance"] + amount, currency):
        raise InvalidRequest(
            f"Invalid amount: the customer's balance would be {previous['balance'] + amount}, beyond "
            f"±{max_amount(currency)}.",
            param="amount",
        )
    # "If the customer's currency is not set, it will be updated to this value"
    # (https://docs.stripe.com/api/customer_balance_transactions/create). Stripe keeps a balance per currency
    # (invoice_credit_balance); Billfold keeps one, in the customer's currency, so another currency is refused.
    current = customer.get("currency")
    if current is None:
        previous["currency"] = None
        customer["currency"] = currency
    elif current != currency:
        raise InvalidRequest(
            f"The customer's balance is in {current}; a balance transaction in {currency} cannot be applied to "
            f"it. Billfold keeps one balance per customer, in the customer's currency.",
            param="currency",
        )
    txn = record(
        store,
        customer,
        amount,
        type="adjustment",
        currency=currency,
        now=customer_now(store, customer, wall_now),
        description=values.get("description") or None,
        metadata=values.get("metadata") or {},
    )
    store.record("customer.updated", customer, previous_attributes=previous)
    return txn


def retrieve(store: Store, customer_id: str, txn_id: str, *, lock: bool = False) -> Doc:
    """One of the customer's transactions; another customer's (or account's) is not found."""
    _customer(store, customer_id)
    txn = store.get(OBJECT, txn_id, for_update=lock)
    if txn is None or txn.get("customer") != customer_id:
        raise ResourceMissing(OBJECT, txn_id)
    return txn


def update(store: Store, customer_id: str, txn_id: str, values: dict[str, Any], merge_meta: Any) -> Doc:
    """Only ``description`` and ``metadata`` change: "Most credit balance transaction fields are immutable"
    (https://docs.stripe.com/api/customer_balance_transactions/update)."""
    txn = retrieve(store, customer_id, txn_id, lock=True)
    changed: Doc = {}
    if "description" in values and (values["description"] or None) != txn["description"]:
        changed["description"] = txn["description"]
        txn["description"] = values["description"] or None
    if "metadata" in values:
        merged = merge_meta(txn.get("metadata") or {}, values["metadata"])
        if merged != txn["metadata"]:
            changed["metadata"] = txn["metadata"]
            txn["metadata"] = merged
    if changed:
        store.replace(txn, transaction_index(txn))
        store.audit(f"{OBJECT}.updated", OBJECT, txn["id"], {"previous_attributes": changed})
    return txn


def list_transactions(store: Store, customer_id: str, query: ListQuery, invoice: str | None) -> Page:
    """The customer's transactions, newest first; ``invoice`` keeps those that trace that invoice (the ``parent``
    column: a transaction's invoice, or its credit note when it has none)."""
    _customer(store, customer_id)
    filters: dict[str, Any] = {"customer": customer_id}
    if invoice is not None:
        filters["parent"] = invoice
    return store.list(OBJECT, replace(query, filters=filters))
