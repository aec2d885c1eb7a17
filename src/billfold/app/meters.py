"""Billing meters and the usage reported to them: Stripe's usage-based billing
(https://docs.stripe.com/billing/subscriptions/usage-based).

A meter (``billing.meter``) names an event (``event_name``), where an event's payload carries the customer and the
value, and how events aggregate over a period (``sum``, ``count``, ``last``). Usage arrives as meter events
(``POST /v1/billing/meter_events``), one row each in the store's ``meter_events`` table; a cancel adjustment takes one
back; event summaries and the invoice generator (``invoice_facts.usage``) read the aggregate.

Stripe ingests meter events asynchronously and reports a bad event later (``v1.billing.meter.error_report_triggered``);
Billfold checks each event while the request is open, so a client learns of a mistake in the response. Meter changes
write Stripe's ``billing.meter.*`` events. Meter events write no ``evt_`` event (Stripe has none) and no audit row: they
are high volume, and the ``meter_events`` row itself is the record (identifier, payload, created, canceled_at).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from billfold.ids import new_id

from . import usage_reversals
from .customers import get_customer
from .errors import InvalidRequest, ResourceMissing
from .ports import Doc, Index, ListQuery, MeterEvent, Store
from .subscriptions import customer_now

METER = "billing.meter"
DEFAULT_CUSTOMER_KEY = "stripe_customer_id"
DEFAULT_VALUE_KEY = "value"
# https://docs.stripe.com/api/billing/meter-event/create: "Must be within the past 35 calendar days or up to 5 minutes
# in the future."
PAST_LIMIT = 35 * 86_400
FUTURE_LIMIT = 5 * 60
# https://docs.stripe.com/api/billing/meter-event-adjustment/create: "You can only cancel events within 24 hours of
# Stripe receiving them."
CANCEL_WITHIN = 86_400
# Values are stored as 64-bit integers and summed; a bound per event keeps any realistic sum far from overflow.
MAX_VALUE = 10**15
WINDOWS = {"hour": 3_600, "day": 86_400}
_INTEGER = re.compile(r"^[+-]?[0-9]+$")


def meter_index(doc: Doc) -> Index:
    """An active meter's event name is unique per account and mode (a partial unique index on ``lookup``)."""
    active = doc["status"] == "active"
    return Index(lookup=doc["event_name"], active=active, status=doc["status"])


def get_meter(store: Store, meter_id: str, *, param: str = "id") -> Doc:
    doc = store.get(METER, meter_id)
    if doc is None:
        raise ResourceMissing("billing.meter", meter_id, param=param)
    return doc


def active_meter(store: Store, event_name: str) -> Doc | None:
    """The active meter for an event name, if any (at most one: the database says so)."""
    found = store.list(METER, ListQuery(filters={"lookup": event_name, "active": True}, limit=1)).data
    return found[0] if found else None


def _name_taken(event_name: str, holder: Doc) -> InvalidRequest:
    return InvalidRequest(
        f"An active meter (`{holder['id']}`) already uses the event name `{event_name}`. Each meter event feeds "
        "exactly one meter: deactivate that meter first, or choose another event name.",
        param="event_name",
        code="resource_already_exists",
    )


def _save(store: Store, doc: Doc, *, new: bool) -> None:
    """Insert or replace a meter; the database's one-active-meter-per-event-name rule becomes a 400."""
    try:
        if new:
            store.insert(doc, meter_index(doc), created=doc["created"])
        else:
            store.replace(doc, meter_index(doc))
    except InvalidRequest:
        raise
    except Exception:
        # A concurrent request made an active meter with this event name between our check and our write: the
        # unique index refused ours. Anything else is not ours to explain.
        holder = active_meter(store, doc["event_name"]) if doc["status"] == "active" else None
        if holder is None or holder["id"] == doc["id"]:
            raise
        raise _name_taken(doc["event_name"], holder) from None


# -- meters -------------------------------------------------------------------------------------------------------
def create_meter(store: Store, now: int, values: Mapping[str, Any]) -> Doc:
    event_name = values["event_name"]
    mapping = values.get("customer_mapping") or {}
    customer_key = mapping.get("event_payload_key") or DEFAULT_CUSTOMER_KEY
    value_key = (values.get("value_settings") or {}).get("event_payload_key") or DEFAULT_VALUE_KEY
    if customer_key == value_key:
        raise InvalidRequest(
            f"value_settings[event_payload_key] and customer_mapping[event_payload_key] are both `{value_key}`: "
            "an event's payload needs one key for the customer and another for the value.",
            param="value_settings[event_payload_key]",
        )
    if values.get("event_time_window") is not None:
        # Stripe keeps only the last event received per hour/day bucket of such a meter; Billfold counts every event.
        raise InvalidRequest(
            "Pre-aggregated meters (event_time_window) are not supported by Billfold: every meter event counts. "
            "Leave event_time_window unset.",
            param="event_time_window",
        )
    holder = active_meter(store, event_name)
    if holder is not None:
        raise _name_taken(event_name, holder)
    doc: Doc = {
        "id": new_id(METER),
        "object": METER,
        "created": now,
        "customer_mapping": {"event_payload_key": customer_key, "type": "by_id"},
        "default_aggregation": {"formula": values["default_aggregation"]["formula"]},
        "display_name": values["display_name"],
        "event_name": event_name,
        "event_time_window": values.get("event_time_window"),
        "livemode": store.scope.livemode,
        "status": "active",
        "status_transitions": {"deactivated_at": None},
        "updated": now,
        "value_settings": {"event_payload_key": value_key},
    }
    _save(store, doc, new=True)
    store.record("billing.meter.created", doc)
    return doc


def update_meter(store: Store, now: int, meter_id: str, values: Mapping[str, Any]) -> Doc:
    """Only the display name changes after creation (https://docs.stripe.com/billing/subscriptions/usage-based/
    meters/configure: "After you configure the meter, you can't make any changes aside from the display name")."""
    doc = get_meter(store, meter_id)
    name = values.get("display_name")
    if name is None or name == doc["display_name"]:
        return doc
    previous = {"display_name": doc["display_name"], "updated": doc["updated"]}
    doc["display_name"], doc["updated"] = name, now
    _save(store, doc, new=False)
    store.record("billing.meter.updated", doc, previous_attributes=previous)
    return doc


def deactivate_meter(store: Store, now: int, meter_id: str) -> Doc:
    """An inactive meter accepts no events and cannot be attached to a price; its event name is free again."""
    doc = get_meter(store, meter_id)
    if doc["status"] != "active":
        raise InvalidRequest(f"The meter `{meter_id}` is already inactive.", param="id")
    return _set_status(store, doc, "inactive", now, "billing.meter.deactivated")


def reactivate_meter(store: Store, now: int, meter_id: str) -> Doc:
    doc = get_meter(store, meter_id)
    if doc["status"] == "active":
        raise InvalidRequest(f"The meter `{meter_id}` is already active.", param="id")
    holder = active_meter(store, doc["event_name"])
    if holder is not None:
        raise _name_taken(doc["event_name"], holder)
    return _set_status(store, doc, "active", now, "billing.meter.reactivated")


def _set_status(store: Store, doc: Doc, status: str, now: int, event: str) -> Doc:
    previous = {
        "status": doc["status"],
        "status_transitions": dict(doc["status_transitions"]),
        "updated": doc["updated"],
    }
    doc["status"], doc["updated"] = status, now
    doc["status_transitions"] = {"deactivated_at": now if status == "inactive" else None}
    _save(store, doc, new=False)
    store.record(event, doc, previous_attributes=previous)
    return doc


# -- meter events -------------------------------------------------------------------------------------------------
def _meter_for_event(store: Store, event_name: str) -> Doc:
    meter = active_meter(store, event_name)
    if meter is not None:
        return meter
    inactive = store.list(METER, ListQuery(filters={"lookup": event_name}, limit=1)).data
    if inactive:
        raise InvalidRequest(
            f"The meter for event name `{event_name}` (`{inactive[0]['id']}`) is inactive and accepts no events. "
            "Reactivate it with POST /v1/billing/meters/{id}/reactivate.",
            param="event_name",
        )
    raise InvalidRequest(
        f"No active meter has the event name `{event_name}`. Create a meter with this event_name first "
        "(POST /v1/billing/meters).",
        param="event_name",
        code="resource_missing",
    )


def _value(raw: Any, param: str) -> int:
    """A meter event's value: a whole number, as a string (form-encoded payloads carry strings) or a JSON integer.

    Billfold stores usage as integers, so a decimal value is refused rather than rounded."""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise InvalidRequest(
            f'Invalid {param}: it must be a whole number, as a string (e.g. "25").', param=param
        )
    text = str(raw).strip()
    if not _INTEGER.match(text):
        hint = " Billfold meters count whole units only; report smaller units instead." if "." in text else ""
        raise InvalidRequest(f"Invalid {param}: {raw!r} is not a whole number.{hint}", param=param)
    value = int(text)
    if abs(value) > MAX_VALUE:
        raise InvalidRequest(
            f"Invalid {param}: it must be between -{MAX_VALUE} and {MAX_VALUE}.", param=param
        )
    return value


def record_meter_event(store: Store, wall_now: int, values: Mapping[str, Any]) -> Doc:
    """Store one usage report for the active meter of its event name; nothing is written when any check fails."""
    event_name = values["event_name"]
    meter = _meter_for_event(store, event_name)
    payload: dict[str, Any] = dict(values["payload"])
    for key, raw in payload.items():
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise InvalidRequest(
                f"Invalid payload[{key}]: payload values must be strings.", param=f"payload[{key}]"
            )
    customer_key = meter["customer_mapping"]["event_payload_key"]
    value_key = meter["value_settings"]["event_payload_key"]
    # A count meter counts events; their value is optional (and, when given, still has to be a whole number).
    counting = meter["default_aggregation"]["formula"] == "count"
    for key in (customer_key,) if counting else (customer_key, value_key):
        if payload.get(key) in (None, ""):
            raise InvalidRequest(
                f"Missing required param: payload[{key}]. Meter `{meter['id']}` reads the customer id from "
                f"payload[{customer_key}] and the value from payload[{value_key}].",
                param=f"payload[{key}]",
                code="parameter_missing",
            )
    customer_id = payload[customer_key]
    if not isinstance(customer_id, str):
        raise InvalidRequest(
            f"Invalid payload[{customer_key}]: it must be a customer id.", param=f"payload[{customer_key}]"
        )
    customer = get_customer(store, customer_id, param=f"payload[{customer_key}]")
    has_value = payload.get(value_key) not in (None, "")
    value = _value(payload[value_key], f"payload[{value_key}]") if has_value else 1
    # A customer on a test clock lives at the clock's time: "now" (the default timestamp and the bounds) is that.
    now = customer_now(store, customer, wall_now)
    timestamp = values.get("timestamp")
    if timestamp is None:
        timestamp = now
    elif timestamp < now - PAST_LIMIT:
        raise InvalidRequest(
            "The event timestamp cannot be more than 35 days in past. Expected a timestamp greater than or equal "
            f"to {now - PAST_LIMIT}.",
            param="timestamp",
        )
    elif timestamp > now + FUTURE_LIMIT:
        where = "the customer's test clock time" if customer.get("test_clock") else "now"
        raise InvalidRequest(
            "The event timestamp cannot be in future. Expected a timestamp less than or equal to "
            f"{now + FUTURE_LIMIT} ({where} plus 5 minutes for clock drift).",
            param="timestamp",
        )
    identifier = values.get("identifier") or str(uuid.uuid4())
    stored = {k: str(v) for k, v in payload.items()}
    event = MeterEvent(identifier, event_name, customer_id, timestamp, value, now, stored)
    if not store.add_meter_event(event):
        # Stripe: "An event already exists with identifier <id>." (unique for at least 24 hours; Billfold: forever)
        raise InvalidRequest(
            f"An event already exists with identifier {identifier}. It was not recorded again: use a new identifier "
            "for new usage, or retry with the same Idempotency-Key to get the first response back.",
            param="identifier",
        )
    return meter_event_doc(store, event)


def meter_event_doc(store: Store, event: MeterEvent) -> Doc:
    return {
        "object": "billing.meter_event",
        "created": event.created,
        "event_name": event.event_name,
        "identifier": event.identifier,
        "livemode": store.scope.livemode,
        "payload": event.payload,
        "timestamp": event.timestamp,
    }


def cancel_meter_event(store: Store, wall_now: int, event_name: str, identifier: str) -> Doc:
    """A ``cancel`` adjustment: the event stops counting everywhere (summaries, invoices not yet finalized); usage
    of it already on a finalized invoice is credited on the next one (``usage_reversals``)."""
    param = "cancel[identifier]"
    event = store.get_meter_event(identifier)
    if event is None:
        raise InvalidRequest(f"No meter event with identifier `{identifier}` exists.", param=param)
    if event.event_name != event_name:
        raise InvalidRequest(
            f"The meter event `{identifier}` has event name `{event.event_name}`, not `{event_name}`.",
            param="event_name",
        )
    if event.canceled_at is not None:
        raise InvalidRequest(f"The meter event `{identifier}` is already canceled.", param=param)
    customer = store.get("customer", event.customer)
    now = customer_now(store, customer, wall_now) if customer is not None else wall_now
    if now - event.created > CANCEL_WITHIN:
        raise InvalidRequest(
            f"The meter event `{identifier}` was received more than 24 hours ago and can no longer be canceled.",
            param=param,
        )
    if not store.cancel_meter_event(identifier, now):
        # Canceled by a concurrent request since we read it.
        raise InvalidRequest(f"The meter event `{identifier}` is already canceled.", param=param)
    store.audit(
        "billing.meter_event.canceled",
        "billing.meter_event",
        identifier,
        {
            "event_name": event_name,
            "customer": event.customer,
            "timestamp": event.timestamp,
            "value": event.value,
        },
    )
    meter = active_meter(store, event_name)
    credits = usage_reversals.credit_invoiced_usage(store, event, meter, now) if meter else []
    return {
        "object": "billing.meter_event_adjustment",
        # Billfold extension: the pending credits for usage of this event already invoiced (outcome reversal).
        "billfold_credits": [ii["id"] for ii in credits],
        "cancel": {"identifier": identifier},
        "event_name": event_name,
        "livemode": store.scope.livemode,
        # Stripe answers ``pending`` and applies the cancel asynchronously; Billfold has applied it already.
        "status": "complete",
        "type": "cancel",
    }


# -- event summaries ----------------------------------------------------------------------------------------------
def summary_id(meter_id: str, customer_id: str, start: int) -> str:
    """Summaries are computed, not stored: the id names the meter, customer and window, so it works as a cursor."""
    return f"mtrusg_{meter_id.removeprefix('mtr_')}_{customer_id.removeprefix('cus_')}_{start}"


def cursor_start(cursor: str, param: str) -> int:
    head, _, start = cursor.rpartition("_")
    if not head.startswith("mtrusg_") or not start.isdigit():
        raise InvalidRequest(
            f"Invalid {param}: `{cursor}` is not the id of a meter event summary.", param=param
        )
    return int(start)


def event_summaries(
    store: Store, meter_id: str, customer_id: str, start: int, end: int, window: str | None
) -> list[Doc]:
    """The meter's aggregate for a customer over ``[start, end)``: one summary, or one per hour/day window that has
    events (https://docs.stripe.com/api/billing/meter-event-summary/list), newest first."""
    meter = get_meter(store, meter_id)
    get_customer(store, customer_id, param="customer", allow_deleted=True)
    step = WINDOWS[window] if window else 60
    unit = f"{window} boundary" if window else "minute boundary"
    for name, at in (("start_time", start), ("end_time", end)):
        if at % step:
            raise InvalidRequest(f"Invalid {name}: {at} is not aligned to a {unit}.", param=name)
    if end <= start:
        raise InvalidRequest("Invalid end_time: it must be after start_time.", param="end_time")
    formula = meter["default_aggregation"]["formula"]
    width = WINDOWS[window] if window else None
    usage = store.meter_usage(meter["event_name"], customer_id, start, end, formula, width)
    # Newest window first, as Stripe's list example shows.
    return [
        {
            "id": summary_id(meter_id, customer_id, at),
            "object": "billing.meter_event_summary",
            "aggregated_value": value,
            "end_time": end if width is None else min(at + width, end),
            "livemode": store.scope.livemode,
            "meter": meter_id,
            "start_time": at,
        }
        for at, value in reversed(usage)
    ]
