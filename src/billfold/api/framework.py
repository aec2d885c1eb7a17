"""How every Stripe-style endpoint runs: authenticate, decode, claim the idempotency key, run the use case in one
unit of work, expand, render — and answer every failure in Stripe's error shape.

Routers declare endpoints as plain functions ``fn(ctx, params, **path_params) -> Doc | ListResult``; this module
turns them into Starlette endpoints.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from billfold.app.errors import AuthenticationFailed, BillfoldError, InvalidRequest
from billfold.app.ports import (
    Accounts,
    Clock,
    Doc,
    IdempotencyKeys,
    Mailer,
    Page,
    PaymentProcessor,
    Scope,
    Store,
    StoredResponse,
    UnitOfWork,
)
from billfold.ids import random_token
from billfold.version import API_VERSION

from .expand import expand
from .wire import decode_form, decode_json, decode_query, refuse_nul

log = logging.getLogger("billfold.api")


@dataclass
class Services:
    uow: UnitOfWork
    accounts: Accounts
    idempotency: IdempotencyKeys
    clock: Clock
    processor: PaymentProcessor
    mailer: Mailer


@dataclass
class Ctx:
    """What an endpoint function gets: the scoped store (inside the request's transaction) and the clock."""

    store: Store
    scope: Scope
    clock: Clock
    services: Services
    url: str


@dataclass
class ListResult:
    page: Page
    url: str


@dataclass
class SearchResult:
    data: list[Doc]
    has_more: bool
    next_page: str | None
    url: str
    total_count: int | None = None


Handler = Callable[..., Any]


def error_body(exc: BillfoldError) -> dict[str, Any]:
    err: dict[str, Any] = {"type": exc.type, "message": exc.message}
    if exc.code:
        err["code"] = exc.code
    if exc.param:
        err["param"] = exc.param
    return {"error": err}


def json_response(status: int, body: Any, request_id: str | None = None) -> Response:
    headers = {"Stripe-Version": API_VERSION}
    if request_id:
        headers["Request-Id"] = request_id
    return Response(
        content=json.dumps(body, separators=(",", ":")).encode(),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def error_response(exc: BillfoldError, request_id: str | None = None) -> Response:
    return json_response(exc.status, error_body(exc), request_id)


def _secret_from(request: Request) -> str:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except (ValueError, UnicodeDecodeError):
            decoded = ""
        return decoded.split(":", 1)[0]
    return ""


def authenticate(services: Services, request: Request, request_id: str) -> Scope:
    secret = _secret_from(request)
    if not secret:
        raise AuthenticationFailed(
            "You did not provide an API key. You need to provide your API key in the Authorization header, "
            "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
        )
    info = services.accounts.resolve_key(secret)
    if info is None:
        shown = secret[:8] + "*" * 4 + secret[-4:] if len(secret) > 12 else "****"
        raise AuthenticationFailed(f"Invalid API Key provided: {shown}")
    return Scope(account_id=info.account_id, livemode=info.livemode, actor=info.key_id, request_id=request_id)


async def read_params(request: Request) -> dict[str, Any]:
    params = decode_query(request.url.query)
    if request.method == "POST":
        body = await request.body()
        ctype = request.headers.get("content-type", "")
        if body:
            posted = decode_json(body) if ctype.startswith("application/json") else decode_form(body)
            params.update(posted)
    return params


def render(ctx: Ctx, result: Any, expand_paths: list[str]) -> Any:
    if isinstance(result, ListResult):
        body: Any = {
            "object": "list",
            "data": result.page.data,
            "has_more": result.page.has_more,
            "url": result.url,
        }
    elif isinstance(result, SearchResult):
        body = {
            "object": "search_result",
            "data": result.data,
            "has_more": result.has_more,
            "next_page": result.next_page,
            "url": result.url,
        }
        if result.total_count is not None:
            body["total_count"] = result.total_count
    else:
        body = result
    if expand_paths:
        body = expand(ctx.store, body, expand_paths)
    return body


def _request_hash(method: str, path: str, params: dict[str, Any]) -> str:
    blob = json.dumps([method, path, params], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def _expand_paths(params: dict[str, Any]) -> list[str]:
    raw = params.pop("expand", None)
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and all(isinstance(p, str) for p in raw):
        return list(raw)
    raise InvalidRequest("Invalid array: expand must be an array of strings", param="expand")


class StripeRouter:
    """Collects endpoint functions; ``install`` mounts them on a FastAPI app."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, str, Handler]] = []

    def get(self, path: str) -> Callable[[Handler], Handler]:
        return self._add("GET", path)

    def post(self, path: str) -> Callable[[Handler], Handler]:
        return self._add("POST", path)

    def delete(self, path: str) -> Callable[[Handler], Handler]:
        return self._add("DELETE", path)

    def _add(self, method: str, path: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.routes.append((method, path, fn))
            return fn

        return register

    def install(self, api: APIRouter) -> None:
        for method, path, fn in self.routes:
            api.add_api_route(path, _endpoint(fn), methods=[method], include_in_schema=False)


def _endpoint(fn: Handler) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        services: Services = request.app.state.services
        request_id = "req_" + random_token(14)
        try:
            scope = authenticate(services, request, request_id)
            params = await read_params(request)
            path_params = dict(request.path_params)
            for value in path_params.values():
                refuse_nul(value, None)
        except BillfoldError as exc:
            return error_response(exc, request_id)
        key = request.headers.get("idempotency-key") if request.method == "POST" else None
        if key is not None:
            scope = replace(scope, idempotency_key=key)
        return await run_in_threadpool(_run, services, scope, request, fn, params, path_params, key)

    return endpoint


def _run(
    services: Services,
    scope: Scope,
    request: Request,
    fn: Handler,
    params: dict[str, Any],
    path_params: dict[str, str],
    key: str | None,
) -> Response:
    request_id = scope.request_id
    if key is not None:
        if len(key) > 255:
            return error_response(
                InvalidRequest("Idempotency-Key must be at most 255 characters.", param="Idempotency-Key"),
                request_id,
            )
        try:
            replay = services.idempotency.claim(
                scope, key, _request_hash(request.method, request.url.path, params)
            )
        except BillfoldError as exc:
            return error_response(exc, request_id)
        if replay is not None:
            resp = Response(
                content=replay.body, status_code=replay.status_code, media_type="application/json"
            )
            resp.headers["Idempotent-Replayed"] = "true"
            resp.headers["Stripe-Version"] = API_VERSION
            resp.headers["Request-Id"] = request_id or ""
            return resp
    try:
        committed_error: BillfoldError | None = None
        with services.uow(scope) as store:
            ctx = Ctx(store=store, scope=scope, clock=services.clock, services=services, url=request.url.path)
            paths = _expand_paths(params)
            try:
                result = fn(ctx, params, **path_params)
            except BillfoldError as exc:
                if not exc.commit_first:
                    raise
                committed_error = exc
            if committed_error is None:
                body = json.dumps(render(ctx, result, paths), separators=(",", ":")).encode()
                status = 200
            else:
                body = json.dumps(error_body(committed_error), separators=(",", ":")).encode()
                status = committed_error.status
            if key is not None:
                store.remember_response(key, StoredResponse(status, body))
    except BillfoldError as exc:
        if key is not None:
            services.idempotency.release(scope, key)
        return error_response(exc, request_id)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.url.path)
        if key is not None:
            services.idempotency.release(scope, key)
        err = BillfoldError("An unknown error occurred")
        err.status = 500
        err.type = "api_error"
        return error_response(err, request_id)
    resp = Response(content=body, status_code=status, media_type="application/json")
    resp.headers["Stripe-Version"] = API_VERSION
    resp.headers["Request-Id"] = request_id or ""
    if key is not None:
        resp.headers["Idempotency-Key"] = key
    return resp
