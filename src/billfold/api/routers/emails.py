"""/v1/billfold/emails (a Billfold extension): the e-mails Billfold sent or will send to customers, and how their
delivery went. Read only; an e-mail is made by ``POST /v1/invoices/{id}/send`` or by an invoice finalized
automatically (app/emails.py)."""

from __future__ import annotations

from typing import Any, Literal

from billfold.app import emails
from billfold.app.errors import ResourceMissing
from billfold.app.ports import Doc

from ..framework import Ctx, ListResult, StripeRouter
from ..params import ListParams, Params

router = StripeRouter()

URL = "/v1/billfold/emails"


class EmailList(ListParams):
    customer: str | None = None
    invoice: str | None = None
    status: Literal["queued", "sending", "sent", "failed"] | None = None


@router.get(URL)
def list_(ctx: Ctx, params: dict[str, Any]) -> ListResult:
    p = EmailList.parse(params)
    filters = {"customer": p.customer, "parent": p.invoice, "status": p.status}
    query = p.page_query({k: v for k, v in filters.items() if v is not None})
    return ListResult(ctx.store.list(emails.OBJECT, query), URL)


@router.get(URL + "/{email_id}")
def retrieve(ctx: Ctx, params: dict[str, Any], email_id: str) -> Doc:
    Params.parse(params)
    doc = ctx.store.get(emails.OBJECT, email_id)
    if doc is None:
        raise ResourceMissing(emails.OBJECT, email_id)
    return doc
