"""Credit notes: give back part of an open or paid invoice, before or after payment, and void them.

A finalized invoice is never edited (house style): it is corrected with a credit note. The amounts come from
``core.credit_notes`` (the same computation for the preview and the real credit note); this module loads the
invoice and the credit notes it already has, validates the request, and applies the effects in one unit of
work (https://docs.stripe.com/api/credit_notes/create, https://docs.stripe.com/invoicing/dashboard/credit-notes):

* pre-payment: the invoice's ``amount_due`` and ``amount_remaining`` go down, ``pre_payment_credit_notes_amount``
  up; an open invoice whose remaining amount reaches zero is paid (``invoicing.mark_paid``);
* post-payment: ``post_payment_credit_notes_amount`` goes up, and the amount is refunded on the invoice's
  charge, credited to the customer balance (a ``customer_balance_transaction``; the next invoice finalized
  applies it), or recorded as credited outside Billfold.

Numbers are the invoice number + ``-CN-01``, ``-CN-02``, ... (Stripe's format, e.g. ``C9E0C52C-0036-CN-01`` in
https://docs.stripe.com/api/credit_notes/void), allocated under the invoice's row lock.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billfold.core import credit_notes as core
from billfold.ids import new_id

from . import billing, customer_balance, invoice_facts, invoicing
from .errors import InvalidRequest, ResourceMissing
from .ports import Doc, Index, PaymentProcessor, Store
from .subscriptions import customer_now

INVOICE_TOTALS = (
    "amount_due",
    "amount_remaining",
    "pre_payment_credit_notes_amount",
    "post_payment_credit_notes_amount",
)


def credit_note_index(doc: Doc) -> Index:
    """Promoted columns: customer and invoice (list filters), status, and the number as ``lookup`` (so a unique
    index on credit note numbers can back the invoice row lock that allocates them)."""
    return Index(
        customer=doc["customer"],
        parent=doc["invoice"],
        lookup=doc["number"],
        status=doc["status"],
        currency=doc["currency"],
    )


def get_credit_note(store: Store, credit_note_id: str, *, lock: bool = False) -> Doc:
    doc = store.get("credit_note", credit_note_id, for_update=lock)
    if doc is None or doc.get("deleted"):
        raise ResourceMissing("credit_note", credit_note_id)
    return doc


def _invoice(store: Store, invoice_id: str, *, lock: bool) -> Doc:
    doc = store.get("invoice", invoice_id, for_update=lock)
    if doc is None or doc.get("deleted"):
        raise ResourceMissing("invoice", invoice_id, param="invoice")
    if doc["status"] not in ("open", "paid"):
        raise InvalidRequest(
            f"You can only issue a credit note for an open or paid invoice; invoice {invoice_id} is "
            f"{doc['status']}.",
            param="invoice",
        )
    return doc


def _issued(notes: list[Doc]) -> list[Doc]:
    return [n for n in notes if n["status"] == "issued"]


def _line_facts(invoice: Doc, issued: list[Doc]) -> list[core.InvoiceLine]:
    """The invoice's lines with what earlier credit notes gave back of each."""
    facts = []
    for line in invoice["lines"]["data"]:
        own = set(line.get("discounts") or [])
        credited = [
            cl
            for note in issued
            for cl in note["lines"]["data"]
            if cl["type"] == "invoice_line_item" and cl["invoice_line_item"] == line["id"]
        ]
        by_quantity = [cl for cl in credited if cl.get("quantity") is not None]
        mode: core.CreditMode | None = None
        if credited:
            mode = "quantity" if by_quantity else "amount"
        facts.append(
            core.InvoiceLine(
                id=line["id"],
                amount=int(line["amount"]),
                quantity=line.get("quantity"),
                discounts=tuple(
                    core.LineDiscount(
                        d["discount"], int(d["amount"]), "line" if d["discount"] in own else "invoice"
                    )
                    for d in line.get("discount_amounts") or []
                ),
                taxes=tuple(
                    core.LineTaxAmount(
                        t["tax_rate_details"]["tax_rate"],
                        t["tax_behavior"] == "inclusive",
                        int(t["taxable_amount"]),
                        int(t["amount"]),
                    )
                    for t in line.get("taxes") or []
                ),
                mode=mode,
                credited_quantity=sum(int(cl["quantity"]) for cl in by_quantity),
                credited_amount=sum(int(cl["amount"]) for cl in credited),
            )
        )
    return facts


def _only(line: dict[str, Any], i: int, kind: str, fields: tuple[str, ...]) -> None:
    for name in fields:
        if line.get(name) not in (None, "", []):
            raise InvalidRequest(
                f"lines[{i}][{name}] is not valid for a line of type {kind}.", param=f"lines[{i}][{name}]"
            )


def _requests(store: Store, lines: list[dict[str, Any]]) -> tuple[list[core.CreditRequest], dict[str, Doc]]:
    """The credit requests of ``lines[]``, and the tax rate documents they name."""
    requests: list[core.CreditRequest] = []
    rates: dict[str, Doc] = {}
    for i, line in enumerate(lines):
        if line.get("tax_amounts") not in (None, ""):
            raise InvalidRequest(
                "tax_amounts are for Stripe Tax; Billfold credits the tax of each line with its tax rates.",
                param=f"lines[{i}][tax_amounts]",
            )
        if line["type"] == "invoice_line_item":
            _only(
                line,
                i,
                "invoice_line_item",
                ("description", "unit_amount", "unit_amount_decimal", "tax_rates"),
            )
            if not line.get("invoice_line_item"):
                raise InvalidRequest(
                    f"Missing required param: lines[{i}][invoice_line_item].",
                    param=f"lines[{i}][invoice_line_item]",
                    code="parameter_missing",
                )
            quantity, amount = line.get("quantity"), line.get("amount")
            if (quantity is None) == (amount is None):
                raise InvalidRequest(
                    "Pass exactly one of quantity and amount to credit an invoice line item.",
                    param=f"lines[{i}][quantity]",
                )
            target = str(line["invoice_line_item"])
            requests.append(
                core.ByQuantity(target, int(quantity))
                if quantity is not None
                else core.ByAmount(target, int(amount or 0))
            )
            continue
        _only(line, i, "custom_line_item", ("invoice_line_item", "amount"))
        unit, unit_decimal = line.get("unit_amount"), line.get("unit_amount_decimal")
        if (unit is None) == (unit_decimal is None):
            raise InvalidRequest(
                "Pass exactly one of unit_amount and unit_amount_decimal for a custom line item.",
                param=f"lines[{i}][unit_amount]",
            )
        line_rates = []
        for j, rate_id in enumerate(line.get("tax_rates") or []):
            rate = store.get("tax_rate", rate_id)
            param = f"lines[{i}][tax_rates][{j}]"
            if rate is None or rate.get("deleted"):
                raise ResourceMissing("tax_rate", rate_id, param=param)
            if not rate.get("active"):
                raise InvalidRequest(f"Tax rate {rate_id} is archived and cannot be applied.", param=param)
            rates[rate_id] = rate
            line_rates.append(rate)
        try:
            facts = invoice_facts.tax_facts(line_rates)
        except ValueError as exc:
            raise InvalidRequest(str(exc), param=f"lines[{i}][tax_rates]") from None
        requests.append(
            core.CustomLine(
                Decimal(unit) if unit is not None else Decimal(str(unit_decimal)),
                int(line.get("quantity") or 1),
                facts,
            )
        )
    return requests, rates


def _unit_fields(unit: Decimal | None) -> tuple[int | None, str | None]:
    if unit is None:
        return None, None
    text = format(unit.normalize(), "f")
    return (int(unit) if unit == unit.to_integral_value() else None), text


def _line_doc(
    cl: core.CreditLine, given: dict[str, Any], source: Doc | None, rates: dict[str, Doc], livemode: bool
) -> Doc:
    unit_amount, unit_decimal = _unit_fields(cl.unit_amount_decimal)
    return {
        "id": new_id("credit_note_line_item"),
        "object": "credit_note_line_item",
        "amount": cl.amount,
        "description": given.get("description") if source is None else source.get("description"),
        "discount_amount": cl.discount_amount,
        "discount_amounts": [{"amount": d.amount, "discount": d.discount_id} for d in cl.discounts],
        "invoice_line_item": cl.invoice_line,
        "livemode": livemode,
        "metadata": given.get("metadata") or {},
        "pretax_credit_amounts": [
            {
                "amount": d.amount,
                "credit_balance_transaction": None,
                "discount": d.discount_id,
                "type": "discount",
            }
            for d in cl.discounts
        ],
        "quantity": cl.quantity,
        "tax_rates": [rates[t.tax_rate_id] for t in cl.taxes if t.tax_rate_id in rates],
        "taxes": [_tax_doc(t) for t in cl.taxes],
        "type": "custom_line_item" if cl.invoice_line is None else "invoice_line_item",
        "unit_amount": unit_amount,
        "unit_amount_decimal": unit_decimal,
    }


def _tax_doc(t: core.LineTaxAmount) -> Doc:
    return {
        "amount": t.amount,
        "tax_behavior": "inclusive" if t.inclusive else "exclusive",
        "tax_rate_details": {"tax_rate": t.tax_rate_id},
        "taxability_reason": "standard_rated",
        "taxable_amount": t.taxable_amount,
        "type": "tax_rate_details",
    }


def _build(store: Store, wall_now: int, values: dict[str, Any], *, lock: bool) -> tuple[Doc, Doc, core.Split]:
    """The credit note the request describes (not stored), its invoice, and how its total is given back."""
    for unsupported, why in (
        (
            "refunds",
            "Linking existing refunds is not supported; pass refund_amount to refund the invoice's payment.",
        ),
        ("shipping_cost", "Billfold invoices have no shipping cost to credit."),
    ):
        if values.get(unsupported):
            raise InvalidRequest(why, param=unsupported)
    invoice = _invoice(store, values["invoice"], lock=lock)
    customer = store.get("customer", invoice["customer"]) or {}
    now = customer_now(store, customer, wall_now)
    notes = list(store.iterate("credit_note", {"parent": invoice["id"]}))
    issued = _issued(notes)
    lines_given: list[dict[str, Any]] = values.get("lines") or []
    amount = values.get("amount")
    if not lines_given and amount is None:
        raise InvalidRequest("One of `amount`, `lines`, or `shipping_cost` must be provided.", param="amount")
    if lines_given:
        requests, rates = _requests(store, lines_given)
    elif amount is not None:
        # An amount alone is one untaxed custom line (Stripe says only that it is the credit note's total).
        requests, rates = [core.CustomLine(Decimal(int(amount)))], {}
        lines_given = [{"description": f"Credit for invoice {invoice['number']}"}]
    invoice_lines = {line["id"]: line for line in invoice["lines"]["data"]}
    for i, request in enumerate(requests):
        if not isinstance(request, core.CustomLine) and request.invoice_line not in invoice_lines:
            raise ResourceMissing(
                "invoice_line_item", request.invoice_line, param=f"lines[{i}][invoice_line_item]"
            )
    for rate_id in {
        t["tax_rate_details"]["tax_rate"] for line in invoice_lines.values() for t in line["taxes"]
    }:
        if rate_id not in rates:
            rate = store.get("tax_rate", rate_id)
            if rate is not None:
                rates[rate_id] = rate
    try:
        amounts = core.credit(_line_facts(invoice, issued), requests)
        if amount is not None and amount != amounts.total:
            raise core.CreditNoteError(
                f"amount ({amount}) must equal the total of the credit note's lines ({amounts.total}).",
                "amount",
            )
        credited = sum(int(n["total"]) for n in issued)
        refunded = sum(int(r["amount_refunded"]) for n in issued for r in n["refunds"])
        charged = int(invoice["amount_paid"]) if invoice.get("billfold_charge") else 0
        split = core.split(
            amounts.total,
            creditable=int(invoice["total"]) - credited,
            amount_remaining=int(invoice["amount_remaining"]) if invoice["status"] == "open" else 0,
            refund=values.get("refund_amount"),
            credit=values.get("credit_amount"),
            out_of_band=values.get("out_of_band_amount"),
            refundable=charged - refunded,
        )
    except core.CreditNoteError as exc:
        raise InvalidRequest(exc.message, param=exc.param) from None
    if split.credit and (not customer or customer.get("deleted")):
        raise InvalidRequest(
            "The invoice's customer is deleted; its balance cannot be credited.", param="credit_amount"
        )
    own = customer.get("currency") if customer else None
    if split.credit and own is not None and own != invoice["currency"]:
        raise InvalidRequest(
            f"The customer's balance is in {own}; a credit in {invoice['currency']} cannot be added to it. Use "
            "refund_amount or out_of_band_amount for this invoice. Billfold keeps one balance per customer, in "
            "the customer's currency.",
            param="credit_amount",
        )
    effective_at = values.get("effective_at")
    finalized = int(invoice["status_transitions"].get("finalized_at") or 0)
    if effective_at is not None and effective_at < finalized:
        raise InvalidRequest(
            f"effective_at ({effective_at}) cannot be before the invoice was finalized ({finalized}).",
            param="effective_at",
        )
    cn_id = new_id("credit_note")
    livemode = store.scope.livemode
    line_docs = [
        _line_doc(cl, given, invoice_lines.get(cl.invoice_line or ""), rates, livemode)
        for cl, given in zip(amounts.lines, lines_given, strict=True)
    ]
    doc: Doc = {
        "id": cn_id,
        "object": "credit_note",
        "amount": amounts.total,
        "amount_shipping": 0,
        "created": now,
        "currency": invoice["currency"],
        "customer": invoice["customer"],
        "customer_account": None,
        "customer_balance_transaction": None,
        "discount_amount": amounts.discount_amount,
        "discount_amounts": [{"amount": a, "discount": d} for d, a in amounts.discount_totals],
        "effective_at": now if effective_at is None else effective_at,
        "invoice": invoice["id"],
        "lines": {
            "object": "list",
            "data": line_docs,
            "has_more": False,
            "url": f"/v1/credit_notes/{cn_id}/lines",
        },
        "livemode": livemode,
        "memo": values.get("memo") or None,
        "metadata": values.get("metadata") or {},
        "number": f"{invoice['number']}-CN-{len(notes) + 1:02d}",
        "out_of_band_amount": values.get("out_of_band_amount"),
        "pdf": None,
        "post_payment_amount": split.post_payment,
        "pre_payment_amount": split.pre_payment,
        "pretax_credit_amounts": [
            {"amount": a, "credit_balance_transaction": None, "discount": d, "type": "discount"}
            for d, a in amounts.discount_totals
        ],
        "reason": values.get("reason"),
        "refunds": [],
        "shipping_cost": None,
        "status": "issued",
        "subtotal": amounts.subtotal,
        "subtotal_excluding_tax": amounts.subtotal_excluding_tax,
        "total": amounts.total,
        "total_excluding_tax": amounts.total_excluding_tax,
        "total_taxes": [_tax_doc(t) for t in amounts.tax_totals],
        "type": split.type,
        "voided_at": None,
    }
    return doc, invoice, split


def preview(store: Store, wall_now: int, values: dict[str, Any]) -> Doc:
    """The credit note ``create`` would issue for these parameters; nothing is stored and nothing refunded."""
    doc, _, _ = _build(store, wall_now, values, lock=False)
    return doc


def _balance_transaction(store: Store, customer: Doc, amount: int, cn: Doc, now: int) -> tuple[Doc, Doc]:
    """Move ``amount`` onto the customer's balance (negative: a credit), recorded as a balance transaction that
    traces the credit note and its invoice (type ``credit_note``, https://docs.stripe.com/api/customer_balance_transactions/object)."""
    previous: Doc = {"balance": int(customer.get("balance") or 0)}
    if customer.get("currency") is None:  # the first money on the balance fixes its currency
        previous["currency"] = None
        customer["currency"] = cn["currency"]
    txn = customer_balance.record(
        store,
        customer,
        amount,
        type="credit_note",
        currency=cn["currency"],
        now=now,
        invoice=cn["invoice"],
        credit_note=cn["id"],
    )
    return txn, previous


def _adjust_invoice(store: Store, invoice: Doc, pre: int, post: int) -> Doc:
    """Add ``pre`` / ``post`` to the invoice's credit note totals (negative to reverse); returns what changed."""
    previous = {k: invoice[k] for k in INVOICE_TOTALS}
    invoice["amount_due"] -= pre
    invoice["amount_remaining"] -= pre
    invoice["pre_payment_credit_notes_amount"] += pre
    invoice["post_payment_credit_notes_amount"] += post
    invoicing.save(store, invoice, None)
    return {k: v for k, v in previous.items() if invoice[k] != v}


def create(store: Store, wall_now: int, values: dict[str, Any], processor: PaymentProcessor) -> Doc:
    doc, invoice, split = _build(store, wall_now, values, lock=True)
    now = int(doc["created"])
    store.insert(doc, credit_note_index(doc), created=now)
    invoice_changes = _adjust_invoice(store, invoice, split.pre_payment, split.post_payment)
    customer_changes: Doc | None = None
    customer: Doc | None = None
    if split.credit:
        customer = store.get("customer", doc["customer"], for_update=True) or {}
        txn, customer_changes = _balance_transaction(store, customer, -split.credit, doc, now)
        doc["customer_balance_transaction"] = txn["id"]
    if split.refund:
        # Last, so that nothing after it can fail and leave money returned with no credit note recorded.
        result = processor.refund(
            charge_id=str(invoice["billfold_charge"]),
            amount=split.refund,
            currency=doc["currency"],
            idempotency_key=f"{doc['id']}:refund",
        )
        if not result.succeeded:
            raise InvalidRequest(result.message or "The refund failed.", param="refund_amount")
        doc["refunds"] = [
            {
                "amount_refunded": split.refund,
                "payment_record_refund": None,
                "refund": result.refund_id,
                "type": "refund",
            }
        ]
    store.replace(doc, credit_note_index(doc))
    store.record("credit_note.created", doc)
    store.record("invoice.updated", invoice, previous_attributes=invoice_changes)
    if invoice["status"] == "open" and invoice["amount_remaining"] <= 0:
        # "If a credit note reduces the balance of an open invoice to zero, the invoice is paid" (dashboard guide).
        invoicing.mark_paid(store, invoice, now, out_of_band=False)
        # A subscription that waited on this invoice (incomplete, past_due) is active again.
        billing.after_invoice_paid(store, invoice, now)
    if customer is not None:
        store.record("customer.updated", customer, previous_attributes=customer_changes)
    return doc


def update(store: Store, credit_note_id: str, values: dict[str, Any], merge_meta: Any) -> Doc:
    doc = get_credit_note(store, credit_note_id, lock=True)
    previous: Doc = {}
    if "memo" in values and (values["memo"] or None) != doc["memo"]:
        previous["memo"] = doc["memo"]
        doc["memo"] = values["memo"] or None
    if "metadata" in values:
        merged = merge_meta(doc.get("metadata") or {}, values["metadata"])
        if merged != doc["metadata"]:
            previous["metadata"] = doc["metadata"]
            doc["metadata"] = merged
    if previous:
        store.replace(doc, credit_note_index(doc))
        store.record("credit_note.updated", doc, previous_attributes=previous)
    return doc


def void(store: Store, credit_note_id: str, wall_now: int) -> Doc:
    """Void a credit note and reverse what it did to the invoice and the customer balance.

    Billfold's rules (Stripe's are not published in full): money already refunded cannot be taken back, so a
    credit note with a refund cannot be voided; a pre-payment credit can only be reversed while its invoice is
    still open (afterwards the invoice has been settled for the reduced amount).
    """
    doc = get_credit_note(store, credit_note_id, lock=True)
    if doc["status"] == "void":
        raise InvalidRequest(f"Credit note {credit_note_id} is already void.", param="id")
    if doc["refunds"]:
        raise InvalidRequest(
            f"Credit note {credit_note_id} refunded the customer; a credit note with a refund cannot be voided.",
            param="id",
        )
    invoice = store.get("invoice", doc["invoice"], for_update=True)
    if invoice is None:
        raise ResourceMissing("invoice", doc["invoice"], param="invoice")
    pre, post = int(doc["pre_payment_amount"]), int(doc["post_payment_amount"])
    if pre and invoice["status"] != "open":
        raise InvalidRequest(
            f"Credit note {credit_note_id} reduced the amount due of invoice {invoice['id']}, which is now "
            f"{invoice['status']}; it can only be voided while the invoice is open.",
            param="id",
        )
    customer = store.get("customer", doc["customer"], for_update=True) or {}
    now = customer_now(store, customer, wall_now)
    doc["status"] = "void"
    doc["voided_at"] = now
    store.replace(doc, credit_note_index(doc))
    store.record("credit_note.voided", doc, previous_attributes={"status": "issued", "voided_at": None})
    invoice_changes = _adjust_invoice(store, invoice, -pre, -post)
    store.record("invoice.updated", invoice, previous_attributes=invoice_changes)
    credit = post - int(doc.get("out_of_band_amount") or 0)
    if credit and customer and not customer.get("deleted"):
        _, customer_changes = _balance_transaction(store, customer, credit, doc, now)
        store.record("customer.updated", customer, previous_attributes=customer_changes)
    return doc
