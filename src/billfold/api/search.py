"""Stripe's search endpoints (``/v1/<objects>/search``), one implementation for every searchable resource.

https://docs.stripe.com/search — the ``page`` token is an opaque offset; results are immediately consistent.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from pydantic import Field

from billfold.app.errors import InvalidRequest
from billfold.app.search import compile_query, parse_query

from .framework import Ctx, SearchResult
from .params import Params


class SearchParams(Params):
    query: str
    limit: Annotated[int, Field(ge=1, le=100)] = 10
    page: str | None = None


def search_page(ctx: Ctx, params: dict[str, Any], object_type: str, fields: tuple[str, ...]) -> SearchResult:
    p = SearchParams.parse(params)
    check = compile_query(parse_query(p.query, fields))
    offset = 0
    if p.page:
        try:
            offset = max(0, int(base64.urlsafe_b64decode(p.page.encode()).decode()))
        except (ValueError, UnicodeDecodeError):
            raise InvalidRequest(f"Invalid page: {p.page}", param="page") from None
    matched = [d for d in ctx.store.iterate(object_type, {}) if check(d)]
    has_more = offset + p.limit < len(matched)
    next_page = base64.urlsafe_b64encode(str(offset + p.limit).encode()).decode() if has_more else None
    return SearchResult(matched[offset : offset + p.limit], has_more, next_page, f"/v1/{object_type}s/search")
