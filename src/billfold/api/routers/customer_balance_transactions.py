"""/v1/customers/{customer}/balance_transactions: the customer balance ledger.

https://docs.stripe.com/api/customer_balance_transactions: create an adjustment, retrieve, update its description
and metadata, list newest first (filters ``created`` and ``invoice``). The use cases are ``app.customer_balance``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from billfold.app import customer_balance as uc
from billfold.app.ports import Doc

from ..framework import Ctx, ListResult, StripeRouter
from ..params import Currency, ListParams, Metadata, Params, given_values, merge_metadata

router = StripeRouter()

Description = Annotated[str, Field(max_length=350)]


class TransactionCreate(Params):
    amount: int
    currency: Currency
    description: Description | None = None
    metadata: Metadata | None = None


class TransactionUpdate(Params):
    description: Description | None = None
    metadata: Metadata | None = None


class TransactionList(ListParams):
    invoice: str | None = None


def _url(customer_id: str) -> str:
    return f"/v1/customers/{customer_id}/balance_transactions"


@router.post("/v1/customers/{customer_id}/balance_transactions")
def create(ctx: Ctx, params: dict[str, Any], customer_id: str) -> Doc:
    p = TransactionCreate.parse(params)
    return uc.create(ctx.store, ctx.clock.now(), customer_id, given_values(p))


@router.get("/v1/customers/{customer_id}/balance_transactions")
def list_(ctx: Ctx, params: dict[str, Any], customer_id: str) -> ListResult:
    p = TransactionList.parse(params)
    page = uc.list_transactions(ctx.store, customer_id, p.page_query(), p.invoice)
    return ListResult(page, _url(customer_id))


@router.get("/v1/customers/{customer_id}/balance_transactions/{transaction_id}")
def retrieve(ctx: Ctx, params: dict[str, Any], customer_id: str, transaction_id: str) -> Doc:
    Params.parse(params)
    return uc.retrieve(ctx.store, customer_id, transaction_id)


@router.post("/v1/customers/{customer_id}/balance_transactions/{transaction_id}")
def update(ctx: Ctx, params: dict[str, Any], customer_id: str, transaction_id: str) -> Doc:
    p = TransactionUpdate.parse(params)
    return uc.update(ctx.store, customer_id, transaction_id, given_values(p), merge_metadata)
