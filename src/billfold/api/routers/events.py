"""/v1/events: the record of every state change, read back by clients that poll instead of taking webhooks.

Events are written by the use cases themselves (``Store.record``) as objects of type ``event`` whose index holds
the object id (``parent``) and the event type (``status``), so listing by exact type is an indexed query. A ``*``
wildcard (``customer.*``) cannot be expressed as equality or IN, so those lists walk the account's events in
pages and filter them here, keeping Stripe's cursor semantics (https://docs.stripe.com/api/events/list).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any

from pydantic import Field

from billfold.app.errors import InvalidRequest, ResourceMissing
from billfold.app.ports import Doc, ListQuery, Page, Store

from ..framework import Ctx, ListResult, StripeRouter
from ..params import ListParams, Params

router = StripeRouter()

MAX_TYPES = 20
# How many events one step of a wildcard scan reads.
SCAN_BATCH = 100


class EventList(ListParams):
    type: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    types: (
        Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=MAX_TYPES)]
        | None
    ) = None
    # Accepted for compatibility; every event counts as delivered until webhook delivery exists.
    delivery_success: bool | None = None


def type_matcher(pattern: str) -> Callable[[str], bool]:
    """``*`` matches any run of characters, dots included (``customer.*`` matches ``customer.tax_id.created``)."""
    regex = re.compile(
        "".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", pattern))
    )
    return lambda event_type: regex.fullmatch(event_type) is not None


def scan_page(store: Store, query: ListQuery, keep: Callable[[Doc], bool]) -> Page:
    """One page of the events ``keep`` accepts, read in batches with the store's own cursors.

    Forward (``starting_after`` or no cursor) reads newest first; backward (``ending_before``) reads the events
    just newer than the cursor, closest first, and returns them newest first like every list.
    """
    backward = query.ending_before is not None
    cursor = query.ending_before if backward else query.starting_after
    found: list[Doc] = []
    while len(found) <= query.limit:
        batch = store.list(
            "event",
            ListQuery(
                filters=query.filters,
                created=query.created,
                limit=SCAN_BATCH,
                starting_after=None if backward else cursor,
                ending_before=cursor if backward else None,
            ),
        )
        ordered = list(reversed(batch.data)) if backward else batch.data
        found.extend(doc for doc in ordered if keep(doc))
        if not batch.has_more or not ordered:
            break
        cursor = ordered[-1]["id"]
    page = found[: query.limit]
    if backward:
        page.reverse()
    return Page(page, has_more=len(found) > query.limit)


@router.get("/v1/events")
def list_(ctx: Ctx, params: dict[str, Any]) -> ListResult:
    p = EventList.parse(params)
    if p.type is not None and p.types is not None:
        raise InvalidRequest("You may pass either `type` or `types`, but not both.", param="types")
    query = p.page_query()
    if p.types is not None:
        query = replace(query, filters={"status": tuple(p.types)})
    elif p.type is not None and "*" not in p.type:
        query = replace(query, filters={"status": p.type})
    elif p.type is not None and p.type.strip("*"):
        matches = type_matcher(p.type)
        return ListResult(
            scan_page(ctx.store, query, lambda doc: matches(str(doc.get("type")))), "/v1/events"
        )
    return ListResult(ctx.store.list("event", query), "/v1/events")


@router.get("/v1/events/{event_id}")
def retrieve(ctx: Ctx, params: dict[str, Any], event_id: str) -> Doc:
    Params.parse(params)
    doc = ctx.store.get("event", event_id)
    if doc is None or doc.get("deleted"):
        raise ResourceMissing("event", event_id)
    return doc
