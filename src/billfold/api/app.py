"""The ASGI application: Stripe-style routers plus the handlers that keep every failure in Stripe's error shape."""

from __future__ import annotations

import logging

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from billfold.app.errors import BillfoldError, InvalidRequest
from billfold.ids import random_token

from .framework import Services, error_response
from .routers import ROUTERS

log = logging.getLogger("billfold.api")


def create_app(services: Services) -> FastAPI:
    app = FastAPI(title="Billfold", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = services
    api = APIRouter()
    for router in ROUTERS:
        router.install(api)
    app.include_router(api)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (404, 405):
            return error_response(
                InvalidRequest(
                    f"Unrecognized request URL ({request.method}: {request.url.path}). "
                    "See docs/api-compat.md for the endpoints Billfold supports."
                ).with_status(404),
                "req_" + random_token(14),
            )
        err = BillfoldError(str(exc.detail))
        err.status = exc.status_code
        return error_response(err)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error in %s %s", request.method, request.url.path)
        err = BillfoldError("An unknown error occurred")
        err.status = 500
        err.type = "api_error"
        return error_response(err)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
