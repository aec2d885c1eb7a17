"""Customer use cases: create, update, delete, tax ids. Each writes its event and audit row in its transaction."""

from __future__ import annotations

from typing import Any

from billfold.ids import new_id

from .errors import InvalidRequest, ResourceMissing
from .ports import Doc, Index, Store

TAX_ID_COUNTRY = {
    "eu_vat": None,  # derived from the value's two-letter prefix
    "gb_vat": "GB",
    "au_abn": "AU",
    "au_arn": "AU",
    "br_cnpj": "BR",
    "br_cpf": "BR",
    "us_ein": "US",
    "ca_bn": "CA",
    "ch_vat": "CH",
    "no_vat": "NO",
    "nz_gst": "NZ",
    "in_gst": "IN",
    "jp_cn": "JP",
    "sg_gst": "SG",
    "za_vat": "ZA",
    "mx_rfc": "MX",
    "eu_oss_vat": None,
}

CUSTOMER_FIELDS = (
    "address",
    "balance",
    "business_name",
    "description",
    "email",
    "individual_name",
    "invoice_prefix",
    "invoice_settings",
    "metadata",
    "name",
    "next_invoice_sequence",
    "phone",
    "preferred_locales",
    "shipping",
    "tax_exempt",
)


def customer_index(doc: Doc) -> Index:
    """The promoted columns of a customer: email (for list/search), test clock, billing currency."""
    email = doc.get("email")
    return Index(
        lookup=email.lower() if isinstance(email, str) else None,
        test_clock=doc.get("test_clock"),
        currency=doc.get("currency"),
    )


def balance_in(customer: Doc, currency: str) -> int:
    """The part of the customer's balance an invoice in ``currency`` uses: all of it in the customer's currency,
    none in another ("A CAD invoice doesn't apply a customer credit balance denominated in USD",
    https://stripe.com/docs/multi-currency-prices). A customer without a currency yet has a balance set directly;
    the first invoice takes it, and fixes the customer's currency when it is finalized."""
    own = customer.get("currency")
    return int(customer.get("balance") or 0) if own is None or own == currency else 0


def get_customer(
    store: Store, customer_id: str, *, param: str = "id", allow_deleted: bool = False, lock: bool = False
) -> Doc:
    doc = store.get("customer", customer_id, for_update=lock)
    if doc is None or (doc.get("deleted") and not allow_deleted):
        raise ResourceMissing("customer", customer_id, param=param)
    return doc


def _invoice_settings(given: dict[str, Any] | None, current: Doc | None = None) -> Doc:
    base: Doc = dict(
        current
        or {"custom_fields": None, "default_payment_method": None, "footer": None, "rendering_options": None}
    )
    for k, v in (given or {}).items():
        base[k] = None if v == "" else v
    return base


def create_customer(store: Store, now: int, values: dict[str, Any]) -> Doc:
    test_clock = values.pop("test_clock", None)
    created = now
    if test_clock is not None:
        clock = store.get("test_helpers.test_clock", test_clock)
        if clock is None or clock.get("deleted"):
            raise ResourceMissing("test_helpers.test_clock", test_clock, param="test_clock")
        created = int(clock["frozen_time"])
    tax_id_data = values.pop("tax_id_data", None) or []
    customer_id = new_id("customer")
    doc: Doc = {
        "id": customer_id,
        "object": "customer",
        "address": None,
        "balance": 0,
        "business_name": None,
        "created": created,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "individual_name": None,
        "invoice_prefix": _invoice_prefix(customer_id),
        "invoice_settings": _invoice_settings(None),
        "livemode": store.scope.livemode,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": test_clock,
    }
    for k in CUSTOMER_FIELDS:
        if k in values:
            v = values[k]
            if k == "invoice_settings":
                v = _invoice_settings(v)
            elif v == "" and k in ("address", "shipping", "business_name", "individual_name"):
                v = None
            doc[k] = v
    if len(tax_id_data) > 25:
        raise InvalidRequest("A customer can have at most 25 tax ids.", param="tax_id_data")
    tax_ids = [
        _make_tax_id(store, customer_id, t["type"], t["value"], created, f"tax_id_data[{i}]")
        for i, t in enumerate(tax_id_data)
    ]
    doc["tax_ids"] = _tax_id_list(customer_id, tax_ids)
    store.insert(doc, customer_index(doc), created=created)
    for t in tax_ids:
        store.insert(t, Index(customer=customer_id), created=created)
    from . import customer_balance  # it imports this module

    customer_balance.record_direct_change(store, doc, 0, created)
    store.record("customer.created", doc)
    return doc


def _invoice_prefix(customer_id: str) -> str:
    # Stripe gives each customer a 3-12 character prefix; ours is the last 8 characters of the id, upper case: the
    # id's random part (its first characters are its creation time, shared by customers made in one millisecond).
    return "".join(ch for ch in customer_id[4:] if ch.isalnum())[-8:].upper()


def update_customer(store: Store, now: int, customer_id: str, values: dict[str, Any], merge_meta: Any) -> Doc:
    doc = get_customer(store, customer_id, lock="balance" in values)  # the balance moves under the row lock
    before = dict(doc)
    for k in CUSTOMER_FIELDS:
        if k not in values:
            continue
        v = values[k]
        if k == "metadata":
            v = merge_meta(doc.get("metadata") or {}, v)
        elif k == "invoice_settings":
            v = _invoice_settings(v, doc.get("invoice_settings"))
        elif v == "":
            v = [] if k == "preferred_locales" else None
        doc[k] = v
    previous = {k: before.get(k) for k in doc if before.get(k) != doc.get(k)}
    if previous:
        store.replace(doc, customer_index(doc))
        if "balance" in previous:
            from . import customer_balance  # they import this module
            from .subscriptions import customer_now

            customer_balance.record_direct_change(
                store, doc, int(previous["balance"] or 0), customer_now(store, doc, now)
            )
        store.record("customer.updated", doc, previous_attributes=previous)
    return doc


def delete_customer(store: Store, customer_id: str) -> Doc:
    doc = get_customer(store, customer_id)
    store.delete("customer", customer_id)
    store.record("customer.deleted", doc)
    return {"id": customer_id, "object": "customer", "deleted": True}


# -- tax ids ----------------------------------------------------------------------------------------------------
def _tax_id_list(customer_id: str, tax_ids: list[Doc]) -> Doc:
    return {
        "object": "list",
        "data": tax_ids,
        "has_more": False,
        "total_count": len(tax_ids),
        "url": f"/v1/customers/{customer_id}/tax_ids",
    }


def _make_tax_id(store: Store, customer_id: str, kind: str, value: str, now: int, param: str) -> Doc:
    value = value.strip()
    value_param = f"{param}[value]" if param else "value"
    if not value:
        raise InvalidRequest("Invalid value for tax id: it must not be empty.", param=value_param)
    country = TAX_ID_COUNTRY.get(kind, "") or ""
    if kind in ("eu_vat", "eu_oss_vat"):
        prefix = value[:2].upper()
        if not prefix.isalpha():
            raise InvalidRequest(
                f"Invalid value for eu_vat: {value}. An EU VAT number starts with its country code (e.g. DE123456789).",
                param=value_param,
                code="tax_id_invalid",
            )
        country = "GR" if prefix == "EL" else prefix
    return {
        "id": new_id("tax_id"),
        "object": "tax_id",
        "country": country or kind.split("_")[0].upper(),
        "created": now,
        "customer": customer_id,
        "livemode": store.scope.livemode,
        "owner": {"customer": customer_id, "type": "customer"},
        "type": kind,
        "value": value,
        "verification": {"status": "unavailable", "verified_address": None, "verified_name": None},
    }


def add_tax_id(store: Store, now: int, customer_id: str, kind: str, value: str) -> Doc:
    customer = get_customer(store, customer_id)
    tax_ids: list[Doc] = list((customer.get("tax_ids") or {}).get("data") or [])
    if len(tax_ids) >= 25:
        raise InvalidRequest("A customer can have at most 25 tax ids.", param="value")
    tax_id = _make_tax_id(store, customer_id, kind, value, now, "")
    store.insert(tax_id, Index(customer=customer_id), created=now)
    tax_ids.append(tax_id)
    customer["tax_ids"] = _tax_id_list(customer_id, tax_ids)
    store.replace(customer, customer_index(customer))
    store.record("customer.tax_id.created", tax_id)
    return tax_id


def delete_tax_id(store: Store, customer_id: str, tax_id: str) -> Doc:
    customer = get_customer(store, customer_id)
    doc = store.get("tax_id", tax_id)
    if doc is None or doc.get("deleted") or doc.get("customer") != customer_id:
        raise ResourceMissing("tax_id", tax_id)
    store.delete("tax_id", tax_id)
    remaining = [t for t in (customer.get("tax_ids") or {}).get("data") or [] if t["id"] != tax_id]
    customer["tax_ids"] = _tax_id_list(customer_id, remaining)
    store.replace(customer, customer_index(customer))
    store.record("customer.tax_id.deleted", doc)
    return {"id": tax_id, "object": "tax_id", "deleted": True}
