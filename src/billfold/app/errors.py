"""Errors a use case raises; the API edge renders them in Stripe's error shape.

They carry what Stripe's error object carries (type, code, message, param) and the HTTP status, so a use case
can say precisely what was wrong without knowing about HTTP.
"""

from __future__ import annotations


class BillfoldError(Exception):
    status = 400
    type = "invalid_request_error"
    # When True, the unit of work commits what it did before the error is answered (a declined payment attempt
    # is a fact worth keeping: attempt_count, invoice.payment_failed).
    commit_first = False

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code

    def with_status(self, status: int) -> BillfoldError:
        self.status = status
        return self


class InvalidRequest(BillfoldError):
    """The request is malformed or breaks a rule of the resource (HTTP 400)."""


class ResourceMissing(BillfoldError):
    """An id that does not name an object of this account and mode (HTTP 404, code resource_missing)."""

    status = 404

    def __init__(self, object_type: str, object_id: str, *, param: str | None = "id") -> None:
        label = object_type.replace("_", " ")
        super().__init__(f"No such {label}: '{object_id}'", param=param, code="resource_missing")


class AuthenticationFailed(BillfoldError):
    status = 401

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.type = "invalid_request_error"


class IdempotencyConflict(BillfoldError):
    type = "idempotency_error"


class IdempotencyInProgress(BillfoldError):
    status = 409
    type = "idempotency_error"


class CardDeclined(BillfoldError):
    status = 402
    type = "card_error"
    commit_first = True
