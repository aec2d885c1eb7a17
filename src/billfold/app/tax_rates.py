"""Tax rates: the fixed percentages a merchant defines and applies to invoices and subscriptions (manual tax).

Stripe's rules (https://docs.stripe.com/api/tax_rates, https://docs.stripe.com/billing/taxes/tax-rates): a tax rate is
never deleted, only archived with ``active=false``; ``percentage`` and ``inclusive`` are fixed at creation, because
invoices that used the rate must keep meaning what they said. To change a rate, archive it and create another.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from billfold.ids import new_id

from .discounts import MergeMeta, check_rate_digits, rate_to_json
from .errors import InvalidRequest, ResourceMissing
from .ports import Doc, Index, Store

# Billfold keeps tax percentages to four decimal places (e.g. 8.875 for New York City sales tax).
PERCENTAGE_PLACES = 4

# ISO 3166-1 alpha-2 (https://www.iso.org/iso-3166-country-codes.html), plus XK (Kosovo), which Stripe accepts.
_COUNTRY_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY
    BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM
    FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT
    JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN
    MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT
    PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL
    TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW
    """
COUNTRIES = frozenset(_COUNTRY_CODES.split())
# ISO 3166-2 subdivision code without the country prefix: "NY", "BY", "NSW".
_STATE = re.compile(r"^[A-Z0-9]{1,3}$")

# Fields that may change after creation (Stripe's update params); percentage and inclusive are not among them.
UPDATABLE = (
    "active",
    "country",
    "description",
    "display_name",
    "jurisdiction",
    "metadata",
    "state",
    "tax_type",
)


def _index(doc: Doc) -> Index:
    return Index(active=bool(doc["active"]), status="inclusive" if doc["inclusive"] else "exclusive")


def get_tax_rate(store: Store, tax_rate_id: str, *, param: str = "id") -> Doc:
    doc = store.get("tax_rate", tax_rate_id)
    if doc is None or doc.get("deleted"):
        raise ResourceMissing("tax_rate", tax_rate_id, param=param)
    return doc


def _country(value: str | None) -> str | None:
    if value is None:
        return None
    code = value.upper()
    if code not in COUNTRIES:
        raise InvalidRequest(
            f"Invalid country: {value}. Use a two-letter ISO 3166-1 alpha-2 country code (e.g. DE, GB, AU).",
            param="country",
        )
    return code


def _state(value: str | None) -> str | None:
    if value is None:
        return None
    code = value.upper()
    if not _STATE.match(code):
        raise InvalidRequest(
            f"Invalid state: {value}. Use an ISO 3166-2 subdivision code without the country prefix "
            "(e.g. NY for New York).",
            param="state",
        )
    return code


def create_tax_rate(store: Store, now: int, values: dict[str, Any]) -> Doc:
    percentage: Decimal = values["percentage"]
    check_rate_digits(percentage, PERCENTAGE_PLACES, "percentage")
    rate = rate_to_json(percentage)
    active = values.get("active")
    doc: Doc = {
        "id": new_id("tax_rate"),
        "object": "tax_rate",
        "active": True if active is None else bool(active),
        "country": _country(values.get("country")),
        "created": now,
        "description": values.get("description"),
        "display_name": values["display_name"],
        # A manual rate applies as given, so its effective percentage is its percentage.
        "effective_percentage": rate,
        "flat_amount": None,
        "inclusive": bool(values["inclusive"]),
        "jurisdiction": values.get("jurisdiction"),
        "jurisdiction_level": None,
        "livemode": store.scope.livemode,
        "metadata": values.get("metadata") or {},
        "percentage": rate,
        "rate_type": None,
        "state": _state(values.get("state")),
        "tax_type": values.get("tax_type"),
    }
    store.insert(doc, _index(doc), created=now)
    store.record("tax_rate.created", doc)
    return doc


def update_tax_rate(store: Store, tax_rate_id: str, values: dict[str, Any], merge_meta: MergeMeta) -> Doc:
    doc = get_tax_rate(store, tax_rate_id)
    before = dict(doc)
    for k in UPDATABLE:
        if k not in values:
            continue
        v = values[k]
        if k == "metadata":
            v = merge_meta(doc.get("metadata") or {}, v)
        elif k == "country":
            v = _country(v)
        elif k == "state":
            v = _state(v)
        elif k == "active":
            if v is None:
                continue
            v = bool(v)
        elif k == "display_name" and v is None:
            raise InvalidRequest("display_name cannot be unset.", param="display_name")
        doc[k] = v
    previous = {k: before.get(k) for k in doc if before.get(k) != doc.get(k)}
    if previous:
        store.replace(doc, _index(doc))
        store.record("tax_rate.updated", doc, previous_attributes=previous)
    return doc
