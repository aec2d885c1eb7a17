"""Stripe's v1 wire encoding: form bodies and query strings with bracketed keys, decoded to nested values.

``items[0][price]=p&expand[]=customer&metadata[k]=v`` becomes
``{"items": [{"price": "p"}], "expand": ["customer"], "metadata": {"k": "v"}}``. Dicts whose keys are all
integers become lists ordered by index (the SDK encodes lists that way); ``a[]`` appends.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from billfold.app.errors import InvalidRequest

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
# Values of ``a[]`` are collected under this key, which no parameter name (a str) can equal.
_APPEND = None


def _split_key(key: str) -> list[str]:
    head, bracket, _rest = key.partition("[")
    if not head:
        raise InvalidRequest(f"Invalid parameter name: {key!r} (a parameter needs a name)", param=key)
    if not bracket:
        return [key]
    tail = key[len(head) :]
    segments = _SEGMENT.findall(tail)
    if "".join(f"[{s}]" for s in segments) != tail:
        raise InvalidRequest(f"Invalid parameter name: {key}", param=key)
    return [head, *segments]


NUL = "\x00"


def refuse_nul(text: str, param: str | None) -> None:
    """PostgreSQL cannot store the NUL character in text: it is refused here with a 400, not a 500 later."""
    if NUL in text:
        raise InvalidRequest(
            f"Invalid string: {param or 'the request'} contains the NUL character (\\u0000), "
            "which is not allowed in parameters",
            param=param,
        )


def decode_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in pairs:
        refuse_nul(key, None)
        refuse_nul(value, key)
        path = _split_key(key)
        node: Any = root
        for i, seg in enumerate(path):
            last = i == len(path) - 1
            if seg == "":
                if not isinstance(node, dict):
                    raise InvalidRequest(f"Invalid array parameter: {key}", param=path[0])
                appendix = node.setdefault(_APPEND, [])
                if last:
                    appendix.append(value)
                    break
                appendix.append({})
                node = appendix[-1]
                continue
            if last:
                if isinstance(node.get(seg), dict) and node[seg]:
                    raise InvalidRequest(
                        f"Invalid parameter: {key} cannot be both a value and a hash", param=key
                    )
                node[seg] = value
            else:
                child = node.get(seg)
                if child is None or child == "":
                    child = {}
                    node[seg] = child
                elif not isinstance(child, dict):
                    raise InvalidRequest(
                        f"Invalid parameter: {key} cannot be both a value and a hash", param=key
                    )
                node = child
    # The root is always a hash of parameter names, even when every name looks like a number.
    return {k: _listify(v) for k, v in root.items()}


def _is_index(key: str) -> bool:
    return key.isascii() and key.isdigit()


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if _APPEND in node:
        if len(node) > 1:
            raise InvalidRequest("Invalid array: a parameter cannot mix `a[]` and `a[0]`/`a[key]` forms.")
        return [_listify(v) for v in node[_APPEND]]
    if node and all(_is_index(k) for k in node):
        return [_listify(node[k]) for k in sorted(node, key=int)]
    return {k: _listify(v) for k, v in node.items()}


def decode_form(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("The request body is not valid UTF-8.") from exc
    return decode_pairs(_parse_qsl(text))


def _parse_qsl(text: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("The request contains percent-encoded bytes that are not valid UTF-8.") from exc


def decode_json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError as exc:
        raise InvalidRequest("Invalid JSON received in the request body.") from exc
    if not isinstance(value, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    _refuse_nul_in(value, "")
    return value


def _refuse_nul_in(value: Any, param: str) -> None:
    if isinstance(value, str):
        refuse_nul(value, param or None)
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_nul(key, None)
            _refuse_nul_in(item, f"{param}[{key}]" if param else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_nul_in(item, f"{param}[{index}]")


def decode_query(query: str) -> dict[str, Any]:
    return decode_pairs(_parse_qsl(query))
