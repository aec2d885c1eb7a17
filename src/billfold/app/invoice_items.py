"""Invoice items (``/v1/invoiceitems``); the one-off invoices made of them are in ``one_off_invoices``.

Stripe's rules (https://docs.stripe.com/api/invoiceitems, https://docs.stripe.com/invoicing/integration): an item is a
charge or credit for a customer. Created without ``invoice`` it is *pending*: a subscription's item (``subscription``)
waits for that subscription's next invoice; a customer-level item waits for the customer's next one-off invoice created
with ``pending_invoice_items_behavior=include``, or the next renewal of one of the customer's subscriptions in its
currency (``collect_for_renewal``). Created with ``invoice`` it goes onto that draft at once. An item can change or be
deleted while it is pending or its invoice is a draft; the draft is then recomputed (``invoicing.refresh_draft``).

The index is ``changes.item_index``: parent = the subscription (None for a customer-level item), status pending or
invoiced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

from billfold.core.money import exact_context, max_amount, round_minor
from billfold.core.pricing import MAX_DECIMAL_PLACES, PriceSpec, rate
from billfold.ids import new_id

from . import catalog, changes, invoice_facts, invoicing
from .customers import get_customer
from .errors import InvalidRequest, ResourceMissing
from .ports import Doc, Index, Store
from .subscriptions import customer_now, resolve_discounts

MAX_ITEMS_PER_INVOICE = 250
MergeMeta = Callable[[dict[str, str], Any], dict[str, str]]
_PRICING_KEYS = ("amount", "unit_amount", "unit_amount_decimal", "price", "pricing", "price_data", "quantity")


def _p(prefix: str, name: str) -> str:
    return f"{prefix}[{name}]" if prefix else name


@dataclass(frozen=True)
class Charge:
    """What an item charges: amount (minor units, rounded once), quantity, unit, and its price if any."""

    currency: str
    amount: int
    quantity: int
    unit_amount_decimal: Decimal | None
    price: Doc | None
    price_data: Doc | None  # an inline price still to create (Stripe's ``price_data``)
    product: str | None


def _price_of(values: dict[str, Any]) -> tuple[str | None, str]:
    if values.get("price") is not None:
        return str(values["price"]), "price"
    price = (values.get("pricing") or {}).get("price")
    return (None if price is None else str(price)), "pricing[price]"


def charge(store: Store, values: dict[str, Any], default_currency: str | None, prefix: str = "") -> Charge:
    """Check how an item is priced (exactly one of amount, unit_amount(_decimal), a price, price_data) and compute
    its amount. Writes nothing."""
    price_id, price_param = _price_of(values)
    given = [
        k for k in ("amount", "unit_amount", "unit_amount_decimal", "price_data") if values.get(k) is not None
    ]
    if price_id is not None:
        given.append(price_param)
    if len(given) > 1:
        raise InvalidRequest(
            f"You may only specify one of these parameters: {', '.join(_p(prefix, k) for k in given)}.",
            param=_p(prefix, given[1]),
        )
    if not given:
        raise InvalidRequest(
            f"Missing required param: {_p(prefix, 'amount')}. Pass amount, unit_amount_decimal, pricing[price] "
            "or price_data.",
            param=_p(prefix, "amount"),
            code="parameter_missing",
        )
    if values.get("amount") is not None and values.get("quantity") is not None:
        raise InvalidRequest(
            f"You may only specify one of these parameters: {_p(prefix, 'amount')}, {_p(prefix, 'quantity')}.",
            param=_p(prefix, "quantity"),
        )
    quantity = 1 if values.get("quantity") is None else int(values["quantity"])
    currency = values.get("currency")
    if price_id is not None:
        price = store.get("price", price_id)
        if price is None or price.get("deleted"):
            raise ResourceMissing("price", price_id, param=_p(prefix, price_param))
        if not price.get("active", True):
            raise InvalidRequest(
                f"The price specified ({price_id}) is inactive. This field only accepts active prices.",
                param=_p(prefix, price_param),
            )
        if price.get("type") == "recurring":
            raise InvalidRequest(
                "The price specified is set to `type=recurring` but this field only accepts prices with "
                "`type=one_time`.",
                param=_p(prefix, price_param),
            )
        options = price.get("currency_options") or {}
        if currency is None:
            currency = default_currency if default_currency in options else price["currency"]
        if currency != price["currency"] and currency not in options:
            raise InvalidRequest(
                f"The price {price_id} has no amount in {currency}.", param=_p(prefix, "currency")
            )
        spec = invoice_facts.price_spec(price, str(currency))
        result = rate(spec, quantity)
        tiered = spec.billing_scheme == "tiered"
        return Charge(
            str(currency),
            _within(result.amount, str(currency), _p(prefix, "quantity")),
            quantity,
            None if tiered else spec.unit_amount_decimal,
            price,
            None,
            price["product"],
        )
    if values.get("price_data") is not None:
        data = values["price_data"]
        pd = _p(prefix, "price_data")
        if currency is not None and currency != data["currency"]:
            raise InvalidRequest(
                f"currency ({currency}) and price_data[currency] ({data['currency']}) differ.",
                param=_p(prefix, "currency"),
            )
        product = store.get("product", data["product"])
        if product is None or product.get("deleted"):
            raise ResourceMissing("product", data["product"], param=f"{pd}[product]")
        if data.get("unit_amount") is not None and data.get("unit_amount_decimal") is not None:
            raise InvalidRequest(
                f"You may only specify one of these parameters: {pd}[unit_amount], {pd}[unit_amount_decimal].",
                param=f"{pd}[unit_amount_decimal]",
            )
        raw = data.get("unit_amount", data.get("unit_amount_decimal"))
        if raw is None:
            raise InvalidRequest(
                f"Missing required param: {pd}[unit_amount].",
                param=f"{pd}[unit_amount]",
                code="parameter_missing",
            )
        which = "unit_amount" if data.get("unit_amount") is not None else "unit_amount_decimal"
        unit = _decimal(raw, data["currency"], f"{pd}[{which}]", allow_negative=False)
        spec = PriceSpec(billing_scheme="per_unit", unit_amount_decimal=unit)
        amount = _within(rate(spec, quantity).amount, data["currency"], _p(prefix, "quantity"))
        return Charge(data["currency"], amount, quantity, unit, None, data, product["id"])
    currency = currency or default_currency
    if currency is None:
        raise InvalidRequest(
            f"Missing required param: {_p(prefix, 'currency')}.",
            param=_p(prefix, "currency"),
            code="parameter_missing",
        )
    if values.get("amount") is not None:
        amount = _within(int(values["amount"]), currency, _p(prefix, "amount"))
        return Charge(currency, amount, 1, Decimal(amount), None, None, None)
    which = "unit_amount" if values.get("unit_amount") is not None else "unit_amount_decimal"
    unit = _decimal(values[which], currency, _p(prefix, which), allow_negative=True)
    with localcontext(exact_context()):
        exact = unit * quantity
    amount = _within(round_minor(exact), currency, _p(prefix, which))
    return Charge(currency, amount, quantity, unit, None, None, None)


def _decimal(raw: Any, currency: str, param: str, *, allow_negative: bool) -> Decimal:
    value = Decimal(str(raw))
    if not value.is_finite():
        raise InvalidRequest(f"Invalid decimal: {raw}", param=param)
    if value < 0 and not allow_negative:
        raise InvalidRequest(f"Invalid {param}: must be greater than or equal to 0", param=param)
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMAL_PLACES:
        raise InvalidRequest(
            f"Invalid {param}: must have at most {MAX_DECIMAL_PLACES} decimal places", param=param
        )
    _within(round_minor(value), currency, param)
    return value


def _within(amount: int, currency: str, param: str) -> int:
    # https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts
    limit = max_amount(currency)
    if abs(amount) > limit:
        raise InvalidRequest(
            f"Invalid {param}: the amount must be between -{limit} and {limit} {currency} minor units.",
            param=param,
        )
    return amount


def tax_rates(store: Store, ids: list[str] | None, param: str) -> list[Doc]:
    found = store.get_many("tax_rate", list(ids or []))
    out = []
    for i, rid in enumerate(ids or []):
        if rid not in found:
            raise ResourceMissing("tax_rate", rid, param=f"{param}[{i}]")
        if not found[rid].get("active", True):
            raise InvalidRequest(f"Tax rate {rid} is archived (active=false).", param=f"{param}[{i}]")
        out.append(found[rid])
    if len(out) > 5:
        raise InvalidRequest("At most 5 tax rates apply to an invoice item.", param=param)
    return out


def item_period(values: dict[str, Any], now: int, param: str) -> Doc:
    period = values.get("period")
    if not period:
        return {"end": now, "start": now}
    if int(period["end"]) < int(period["start"]):
        raise InvalidRequest(
            f"Invalid {param}: end must be greater than or equal to start.", param=f"{param}[end]"
        )
    return {"end": int(period["end"]), "start": int(period["start"])}


def _pricing_doc(c: Charge, price: Doc | None) -> Doc:
    return {
        "price_details": None if price is None else {"price": price["id"], "product": price["product"]},
        "type": "price_details",
        "unit_amount_decimal": None
        if c.unit_amount_decimal is None
        else catalog.decimal_str(c.unit_amount_decimal),
    }


def _inline_price(store: Store, now: int, c: Charge) -> Doc | None:
    """Stripe's ``price_data`` creates an inactive price for the item; pricing facts stay on the item."""
    if c.price_data is None:
        return c.price
    data = {k: v for k, v in c.price_data.items() if v is not None}
    return catalog.create_price(store, now, data | {"active": False})


def charge_fields(c: Charge, price: Doc | None, discountable: bool | None) -> Doc:
    return {
        "amount": c.amount,
        "currency": c.currency,
        "discountable": (c.amount >= 0) if discountable is None else discountable,
        "net_amount": None,
        "pricing": _pricing_doc(c, price),
        "quantity": c.quantity,
        "quantity_decimal": str(c.quantity),
    }


# -- reading ----------------------------------------------------------------------------------------------------
def get_item(store: Store, item_id: str, *, param: str = "id", allow_deleted: bool = False) -> Doc:
    doc = store.get("invoiceitem", item_id)
    if doc is None or (doc.get("deleted") and not allow_deleted):
        raise ResourceMissing("invoiceitem", item_id, param=param)
    return doc


def pending_for_customer(store: Store, customer_id: str, currency: str) -> list[Doc]:
    """The customer-level pending items in ``currency`` (no subscription), oldest first."""
    found = store.iterate(
        "invoiceitem", {"customer": customer_id, "parent": None, "status": "pending", "currency": currency}
    )
    return list(reversed(list(found)))


def collect_for_renewal(store: Store, sub: Doc) -> list[Doc]:
    """What a subscription's next invoice collects: its own pending items and the customer's customer-level ones
    in its currency ("pending invoice items of the customer are added to the next subscription invoice"), oldest
    first — the order ``invoicing.recompute_draft`` keeps."""
    found = store.iterate(
        "invoiceitem", {"customer": sub["customer"], "status": "pending", "currency": sub["currency"]}
    )
    mine = [ii for ii in found if changes.item_index(ii).parent in (sub["id"], None)]
    return list(reversed(mine))


def _draft_for_item(store: Store, invoice_id: str, customer_id: str) -> Doc:
    invoice = store.get("invoice", invoice_id, for_update=True)
    if invoice is None or invoice.get("deleted"):
        raise ResourceMissing("invoice", invoice_id, param="invoice")
    if invoice["customer"] != customer_id:
        raise InvalidRequest(
            f"Invoice {invoice_id} belongs to another customer than the invoice item.", param="invoice"
        )
    if invoice["status"] != "draft":
        raise InvalidRequest(
            f"Invoice items can only be added to draft invoices; {invoice_id} is {invoice['status']}.",
            param="invoice",
        )
    if invoice["lines"]["total_count"] >= MAX_ITEMS_PER_INVOICE:
        raise InvalidRequest(
            f"An invoice can have at most {MAX_ITEMS_PER_INVOICE} invoice items.", param="invoice"
        )
    return invoice


def store_discounts(store: Store, discounts: list[Doc], **links: str | None) -> list[str]:
    for d in discounts:
        d.update(links)
        stored = {k: v for k, v in d.items() if k != "coupon"}
        parent = links.get("invoice_item") or links.get("invoice")
        store.insert(stored, Index(customer=d["customer"], parent=parent), created=d["start"])
    return [d["id"] for d in discounts]


# -- invoice item use cases -------------------------------------------------------------------------------------
def create_item(store: Store, wall_now: int, values: dict[str, Any]) -> Doc:
    customer = get_customer(store, values["customer"], param="customer")
    now = customer_now(store, customer, wall_now)
    invoice = _draft_for_item(store, values["invoice"], customer["id"]) if values.get("invoice") else None
    sub = None
    if values.get("subscription"):
        sub = store.get("subscription", values["subscription"])
        if sub is None or sub.get("deleted"):
            raise ResourceMissing("subscription", values["subscription"], param="subscription")
        if sub["customer"] != customer["id"]:
            raise InvalidRequest("The subscription belongs to another customer.", param="subscription")
        if sub["status"] in ("canceled", "incomplete_expired"):
            raise InvalidRequest(f"Subscription {sub['id']} has ended.", param="subscription")
    default = (invoice or sub or customer).get("currency")
    c = charge(store, values, default)
    for owner, name in ((invoice, "invoice"), (sub, "subscription")):
        if owner is not None and owner["currency"] != c.currency:
            raise InvalidRequest(
                f"The invoice item's currency ({c.currency}) must match the {name}'s ({owner['currency']}).",
                param="currency",
            )
    doc = _new_item(store, customer, now, values, c, item_period(values, now, "period"), sub, invoice)
    if invoice is not None:
        invoicing.refresh_draft(store, invoice)
    return doc


def add_for_subscription(
    store: Store, sub: Doc, customer: Doc, entries: list[dict[str, Any]], now: int, period: tuple[int, int]
) -> list[Doc]:
    """``add_invoice_items`` of ``POST /v1/subscriptions`` (and of its update): pending items of the subscription,
    which its next invoice collects — the first invoice on create. Each is a one-time ``price`` or ``price_data``
    with a ``quantity`` (default 1), ``discounts``, ``tax_rates`` (without them the subscription's default tax rates
    apply, as to its other lines), ``metadata`` and a ``period`` (default: ``period``, the subscription's current
    period; Stripe's ``max_item_period_start`` and ``min_item_period_end``)."""
    made = []
    for i, entry in enumerate(entries):
        prefix = f"add_invoice_items[{i}]"
        if entry.get("price") is None and entry.get("price_data") is None:
            raise InvalidRequest(
                f"Missing required param: {prefix}[price]. Pass price or price_data.",
                param=f"{prefix}[price]",
                code="parameter_missing",
            )
        c = charge(store, entry, sub["currency"], prefix)
        if c.currency != sub["currency"]:
            where = (
                f"{prefix}[price]" if entry.get("price") is not None else f"{prefix}[price_data][currency]"
            )
            raise InvalidRequest(
                f"The invoice item's currency ({c.currency}) must match the subscription's ({sub['currency']}).",
                param=where,
            )
        start, end = _entry_period(entry.get("period"), now, period, f"{prefix}[period]")
        made.append(
            _new_item(store, customer, now, entry, c, {"end": end, "start": start}, sub, None, prefix=prefix)
        )
    return made


def _entry_period(given: Doc | None, now: int, default: tuple[int, int], param: str) -> tuple[int, int]:
    """An ``add_invoice_items[].period``: ``start[type]`` ``max_item_period_start`` (default), ``now`` or
    ``timestamp``; ``end[type]`` ``min_item_period_end`` (default) or ``timestamp``."""
    start, end = default
    for side in ("start", "end"):
        spec = (given or {}).get(side)
        if not spec:
            continue
        kind = spec.get("type")
        if kind == "timestamp":
            if spec.get("timestamp") is None:
                raise InvalidRequest(
                    f"Missing required param: {param}[{side}][timestamp].",
                    param=f"{param}[{side}][timestamp]",
                    code="parameter_missing",
                )
            value = int(spec["timestamp"])
        elif kind == "now" and side == "start":
            value = now
        elif (kind, side) in (("max_item_period_start", "start"), ("min_item_period_end", "end")):
            value = default[0] if side == "start" else default[1]
        else:
            raise InvalidRequest(f"Invalid {param}[{side}][type]: {kind}.", param=f"{param}[{side}][type]")
        if side == "start":
            start = value
        else:
            end = value
    if end < start:
        raise InvalidRequest(
            f"Invalid {param}: end must be greater than or equal to start.", param=f"{param}[end]"
        )
    return start, end


def _new_item(
    store: Store,
    customer: Doc,
    now: int,
    values: dict[str, Any],
    c: Charge,
    period: Doc,
    sub: Doc | None,
    invoice: Doc | None,
    *,
    prefix: str = "",
) -> Doc:
    """Store a new invoice item priced by ``c`` (its ``invoiceitem.created`` event with it)."""
    rates = tax_rates(store, values.get("tax_rates"), _p(prefix, "tax_rates"))
    discounts = resolve_discounts(
        store, values.get("discounts"), _p(prefix, "discounts"), now, customer["id"]
    )
    item_id = new_id("invoiceitem")
    price = _inline_price(store, now, c)
    doc: Doc = {
        "id": item_id,
        "object": "invoiceitem",
        "customer": customer["id"],
        "customer_account": None,
        "date": now,
        "description": values.get("description") or None,
        "discounts": store_discounts(store, discounts, invoice_item=item_id),
        "frozen_fields": None,
        "invoice": None if invoice is None else invoice["id"],
        "invoicing_rules": None,
        "livemode": store.scope.livemode,
        "metadata": values.get("metadata") or {},
        "parent": None
        if sub is None
        else {
            "subscription_details": {"subscription": sub["id"], "subscription_item": None},
            "type": "subscription_details",
        },
        "period": period,
        "proration": False,
        "proration_details": {"credited_items": None, "discount_amounts": []},
        "tax_rates": rates,
        "test_clock": customer.get("test_clock"),
    } | charge_fields(c, price, values.get("discountable"))
    store.insert(doc, changes.item_index(doc), created=now)
    store.record("invoiceitem.created", doc)
    return doc


def _editable_invoice(store: Store, doc: Doc, verb: str) -> Doc | None:
    if not doc.get("invoice"):
        return None
    invoice = store.get("invoice", doc["invoice"], for_update=True)
    if invoice is not None and not invoice.get("deleted") and invoice["status"] != "draft":
        raise InvalidRequest(
            f"This invoice item is on invoice {invoice['id']}, which is {invoice['status']}; an item can only be "
            f"{verb} while it is pending or its invoice is a draft.",
            param="id",
        )
    return invoice


def update_item(
    store: Store, wall_now: int, item_id: str, values: dict[str, Any], merge_meta: MergeMeta
) -> Doc:
    doc = get_item(store, item_id)
    invoice = _editable_invoice(store, doc, "updated")
    before = {k: doc.get(k) for k in doc}
    customer = get_customer(store, doc["customer"], allow_deleted=True)
    now = customer_now(store, customer, wall_now)
    repricing = [k for k in _PRICING_KEYS if k in values]
    if doc.get("billfold_proration"):
        frozen = [k for k in (*repricing, "discountable", "discounts", "tax_rates", "period") if k in values]
        if frozen:
            raise InvalidRequest(
                "A proration is computed from its subscription; only its description and metadata can change.",
                param=frozen[0],
            )
    if repricing:
        source = dict(values)
        if not any(k in values for k in ("amount", "unit_amount_decimal", "pricing", "price_data")):
            price_id = ((doc.get("pricing") or {}).get("price_details") or {}).get("price")
            unit = (doc.get("pricing") or {}).get("unit_amount_decimal")
            source = source | (
                {"pricing": {"price": price_id}} if price_id else {"unit_amount_decimal": unit}
            )
        c = charge(store, source | {"currency": doc["currency"]}, doc["currency"])
        doc.update(
            charge_fields(c, _inline_price(store, now, c), values.get("discountable", doc["discountable"]))
        )
    elif "discountable" in values:
        doc["discountable"] = bool(values["discountable"])
    if "description" in values:
        doc["description"] = values["description"] or None
    if "tax_rates" in values:
        doc["tax_rates"] = tax_rates(store, values["tax_rates"] or [], "tax_rates")
    if "period" in values:
        doc["period"] = item_period(values, now, "period")
    if "discounts" in values:
        found = resolve_discounts(store, values["discounts"] or [], "discounts", now, doc["customer"])
        doc["discounts"] = store_discounts(store, found, invoice_item=doc["id"])
    if "metadata" in values:
        doc["metadata"] = merge_meta(doc.get("metadata") or {}, values["metadata"])
    previous = {k: v for k, v in before.items() if doc.get(k) != v and not k.startswith("billfold_")}
    if previous:
        store.replace(doc, changes.item_index(doc))
        store.record("invoiceitem.updated", doc, previous_attributes=previous)
        if invoice is not None and not invoice.get("deleted"):
            invoicing.refresh_draft(store, invoice)
    return doc


def delete_item(store: Store, item_id: str) -> Doc:
    doc = get_item(store, item_id)
    invoice = _editable_invoice(store, doc, "deleted")
    store.delete("invoiceitem", item_id)
    store.record("invoiceitem.deleted", doc)
    if invoice is not None and not invoice.get("deleted"):
        invoicing.refresh_draft(store, invoice)
    return {"id": item_id, "object": "invoiceitem", "deleted": True}


def items_on_invoice(store: Store, invoice_id: str) -> list[str]:
    """The ids of the invoice items on an invoice, from its lines (``il_`` + item id)."""
    invoice = store.get("invoice", invoice_id)
    if invoice is None or invoice.get("deleted"):
        raise ResourceMissing("invoice", invoice_id, param="invoice")
    ids = (invoice_facts.line_item_id(line["id"]) for line in invoice["lines"]["data"])
    return [i for i in ids if i]
