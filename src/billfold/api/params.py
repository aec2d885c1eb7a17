"""Request parameter models (pydantic) and the translation of their errors into Stripe's messages.

Form values arrive as strings; pydantic's lax mode turns "12" into 12 and "true" into True. A validation error's
location becomes Stripe's bracketed ``param`` (``items[0][price]``) and its message reads like Stripe's.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from billfold.app.errors import InvalidRequest
from billfold.app.metadata import merge_metadata as app_merge_metadata
from billfold.app.ports import ListQuery
from billfold.core.money import SUPPORTED_CURRENCIES

M = TypeVar("M", bound="Params")

METADATA_MAX_KEYS = 50
METADATA_MAX_KEY = 40
METADATA_MAX_VALUE = 500


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, populate_by_name=True)

    @classmethod
    def parse(cls: type[M], raw: dict[str, Any]) -> M:
        try:
            parsed = cls.model_validate(raw)
        except ValidationError as exc:
            raise to_invalid_request(exc) from None
        _check_integers(parsed, ())
        return parsed

    def given(self) -> set[str]:
        """The names of the parameters the caller actually sent (to tell "unset" from "not given")."""
        return set(self.model_fields_set)


# Stripe's integers are signed 64-bit; a larger one is refused here rather than failing in the database.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def _invalid_integer(value: Any, param: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid integer: {value}", param=param, code="parameter_invalid_integer")


def integer(value: Any, param: str) -> int:
    """A wire value as a 64-bit integer, or Stripe's "Invalid integer" error naming ``param``."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _invalid_integer(value, param) from None
    if isinstance(value, bool) or not INT_MIN <= number <= INT_MAX:
        raise _invalid_integer(value, param)
    return number


def _check_integers(value: Any, loc: tuple[str | int, ...]) -> None:
    """Every integer of a parsed request fits in 64 bits (pydantic's ``int`` has no bound of its own)."""
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise _invalid_integer(value, param_name(loc))
    elif isinstance(value, BaseModel):
        for name in value.model_fields_set:
            _check_integers(getattr(value, name), (*loc, name))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_integers(item, (*loc, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_integers(item, (*loc, str(key)))


_TAG_NAMES = {
    "str",
    "int",
    "bool",
    "float",
    "decimal",
    "list",
    "dict",
    "none",
    "is-instance",
    "json-or-python",
}


def _is_tag(part: int | str) -> bool:
    """Union members and validators show up in pydantic locations; they are not parameter names."""
    if isinstance(part, int):
        return False
    return (
        part.startswith("function-") or part[:1].isupper() or "[" in part or "'" in part or part in _TAG_NAMES
    )


def param_name(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if not _is_tag(p)]
    if not parts:
        return ""
    return parts[0] + "".join(f"[{p}]" for p in parts[1:])


def to_invalid_request(exc: ValidationError) -> InvalidRequest:
    errors = exc.errors(include_url=False)
    # In a union (e.g. a hash or "" to unset) report the member that got furthest, not the "" alternative.
    err = max(errors, key=lambda e: (e["type"] != "literal_error", len(e["loc"])))
    param = param_name(tuple(err["loc"]))
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return InvalidRequest(f"Received unknown parameter: {param}", param=param, code="parameter_unknown")
    if kind == "missing":
        return InvalidRequest(f"Missing required param: {param}.", param=param, code="parameter_missing")
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return _invalid_integer(value, param)
    if kind in ("bool_parsing", "bool_type"):
        return InvalidRequest(f"Invalid boolean: {value}", param=param)
    if kind in ("decimal_parsing", "decimal_type", "float_parsing"):
        return InvalidRequest(f"Invalid decimal: {value}", param=param)
    if kind in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt"))
        return InvalidRequest(
            f"Invalid {param}: must be greater than or equal to {bound}"
            if "ge" in ctx
            else f"Invalid {param}: must be greater than {bound}",
            param=param,
            code="parameter_invalid_integer",
        )
    if kind in ("less_than_equal", "less_than"):
        bound = ctx.get("le", ctx.get("lt"))
        return InvalidRequest(f"Invalid {param}: must be less than or equal to {bound}", param=param)
    if kind in ("literal_error", "enum"):
        expected = ctx.get("expected", "")
        return InvalidRequest(f"Invalid {param}: must be one of {expected}", param=param)
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return InvalidRequest(
            f"Invalid object: {param} must be a hash (e.g. {param}[key]=value)", param=param
        )
    if kind in ("list_type",):
        return InvalidRequest(f"Invalid array: {param} must be an array", param=param)
    if kind in ("string_type",):
        return InvalidRequest(f"Invalid string: {param} must be a string", param=param)
    if kind in ("string_too_long",):
        return InvalidRequest(
            f"Invalid string: {param} must be at most {ctx.get('max_length')} characters", param=param
        )
    if kind == "too_long":
        return InvalidRequest(
            f"Invalid array: {param} can have at most {ctx.get('max_length')} items", param=param
        )
    if kind == "string_pattern_mismatch":
        return InvalidRequest(f"Invalid {param}: {value!r} does not have the expected format", param=param)
    if kind in ("string_too_short",):
        return InvalidRequest(f"Invalid {param}: must not be empty", param=param)
    if kind == "value_error":
        message = str(ctx.get("error", err["msg"]))
        return InvalidRequest(message, param=param)
    return InvalidRequest(f"Invalid {param}: {err['msg']}", param=param)


def _metadata(value: Any) -> Any:
    # metadata="" unsets every key (Stripe); a key set to "" is removed on update.
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise ValueError("Invalid metadata: metadata must be a hash (e.g. metadata[key]=value)")
    if len(value) > METADATA_MAX_KEYS:
        raise ValueError(f"Invalid metadata: metadata can have up to {METADATA_MAX_KEYS} keys")
    out: dict[str, str] = {}
    for k, v in value.items():
        if len(k) > METADATA_MAX_KEY:
            raise ValueError(
                f"Invalid metadata: keys can be at most {METADATA_MAX_KEY} characters ({k[:50]})"
            )
        if "[" in k or "]" in k:
            raise ValueError(f"Invalid metadata: keys may not contain square brackets ({k})")
        if isinstance(v, bool | int):
            v = str(v).lower() if isinstance(v, bool) else str(v)
        if not isinstance(v, str):
            raise ValueError(f"Invalid metadata: the value of {k} must be a string")
        if len(v) > METADATA_MAX_VALUE:
            raise ValueError(f"Invalid metadata: values can be at most {METADATA_MAX_VALUE} characters ({k})")
        out[k] = v
    return out


def _currency(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("Invalid currency")
    code = value.lower()
    if code not in SUPPORTED_CURRENCIES:
        raise ValueError(
            f"Invalid currency: {value}. Billfold supports the ISO 4217 currencies Stripe supports, "
            "in lowercase (e.g. usd, eur, gbp)."
        )
    return code


def _expand(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    return value


def _empty_to_none(value: Any) -> Any:
    return None if value == "" else value


# ``param=""`` unsets an optional hash or string on update (Stripe). Given + None means "unset".
EmptyIsNone = BeforeValidator(_empty_to_none)

Metadata = Annotated[dict[str, str], BeforeValidator(_metadata)]
Currency = Annotated[str, BeforeValidator(_currency)]
Expand = Annotated[list[str], BeforeValidator(_expand)]
NonNegativeInt = Annotated[int, Field(ge=0)]


def _distinct(ids: list[str] | None) -> list[str] | None:
    if ids is not None and len(set(ids)) != len(ids):
        twice = next(i for n, i in enumerate(ids) if i in ids[:n])
        raise ValueError(f"Invalid tax rates: {twice} is listed more than once; list each tax rate once")
    return ids


# A list of tax rate ids (``""`` unsets it on update); each rate at most once, as a line cannot be taxed twice.
TaxRateIds = Annotated[list[str] | None, EmptyIsNone, AfterValidator(_distinct)]


def merge_metadata(current: dict[str, str], update: dict[str, str] | None) -> dict[str, str]:
    """Stripe's metadata update rule (``billfold.app.metadata``), in the shape use cases take as a callback."""
    return app_merge_metadata(current, update)


class ListParams(Params):
    limit: Annotated[int, Field(ge=1, le=100)] = 10
    starting_after: str | None = None
    ending_before: str | None = None
    expand: Expand = []
    created: Any = None

    def page_query(self, filters: dict[str, Any] | None = None, ids: list[str] | None = None) -> ListQuery:
        """The store query for this page: the cursors, ``limit`` and ``created`` range, plus the given filters."""
        return ListQuery(
            filters=filters or {},
            created=created_filter(self.created),
            ids=ids,
            limit=self.limit,
            starting_after=self.starting_after,
            ending_before=self.ending_before,
        )


def created_filter(value: Any) -> dict[str, int]:
    """``created=123`` or ``created[gte]=...`` (gt, gte, lt, lte) as a dict of bounds."""
    if value is None:
        return {}
    if isinstance(value, str | int):
        at = integer(value, "created")
        return {"gte": at, "lte": at}
    if isinstance(value, dict):
        out: dict[str, int] = {}
        for k, v in value.items():
            if k not in ("gt", "gte", "lt", "lte"):
                raise InvalidRequest(f"Received unknown parameter: created[{k}]", param=f"created[{k}]")
            out[k] = integer(v, f"created[{k}]")
        return out
    raise InvalidRequest("Invalid created: must be an integer or a hash of gt, gte, lt, lte", param="created")


def given_values(p: Params) -> dict[str, Any]:
    """The parameters the caller sent, as plain values (nested models dumped, unset fields left out)."""
    return {k: _dump(getattr(p, k)) for k in p.model_fields_set}


def _dump(v: Any) -> Any:
    if isinstance(v, list):
        return [_dump(x) for x in v]
    if isinstance(v, Params):
        return {k: _dump(getattr(v, k)) for k in v.model_fields_set}
    if isinstance(v, dict):
        return {k: _dump(x) for k, x in v.items()}
    return v
