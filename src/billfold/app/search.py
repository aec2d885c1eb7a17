"""Stripe's Search Query Language, for the common forms: ``field:'value'``, ``field~'sub'``, ``-field:'v'``,
``metadata['key']:'value'``, ``created>123`` (``> >= < <= :``), ``field:null``, joined by all-AND or all-OR.

https://docs.stripe.com/search#search-query-language — we evaluate the clauses over documents, so any searchable
field of the resource works without an index of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .errors import InvalidRequest
from .ports import Doc

_CLAUSE = re.compile(
    r"""\s*(?P<neg>-)?(?P<field>[a-z_]+(?:\[['"][^'"]+['"]\])?)\s*(?P<op>:|~|>=|<=|>|<)\s*
        (?:'(?P<sq>(?:[^'\\]|\\.)*)'|"(?P<dq>(?:[^"\\]|\\.)*)"|(?P<bare>[A-Za-z0-9_.\-]+))\s*""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Clause:
    field: str
    key: str | None
    op: str
    value: str
    negate: bool
    quoted: bool


@dataclass(frozen=True)
class Query:
    clauses: tuple[Clause, ...]
    conjunction: str  # "AND" | "OR"


def parse_query(text: str, fields: Iterable[str]) -> Query:
    allowed = set(fields)
    clauses: list[Clause] = []
    joins: list[str] = []
    pos = 0
    text = text.strip()
    if not text:
        raise InvalidRequest("Missing required param: query.", param="query")
    while pos < len(text):
        m = _CLAUSE.match(text, pos)
        if m is None:
            raise InvalidRequest(
                f"Invalid search query at position {pos}: {text[pos : pos + 30]!r}", param="query"
            )
        raw_field = m.group("field")
        key = None
        if "[" in raw_field:
            raw_field, key = raw_field.split("[", 1)
            key = key[1:-2]
        if raw_field not in allowed:
            raise InvalidRequest(
                f"Field '{raw_field}' is an unsupported search field. Supported fields: {', '.join(sorted(allowed))}.",
                param="query",
            )
        value = m.group("sq") if m.group("sq") is not None else m.group("dq")
        quoted = value is not None
        if value is None:
            value = m.group("bare")
        value = re.sub(r"\\(.)", r"\1", value)
        if m.group("op") == "~" and len(value) < 3:
            raise InvalidRequest("A substring search (~) needs at least 3 characters.", param="query")
        clauses.append(Clause(raw_field, key, m.group("op"), value, bool(m.group("neg")), quoted))
        pos = m.end()
        if pos < len(text):
            j = re.compile(r"(AND|OR)\s+").match(text, pos)
            if j is None:
                raise InvalidRequest(
                    f"Invalid search query at position {pos}: expected AND or OR", param="query"
                )
            joins.append(j.group(1))
            pos = j.end()
    if len(set(joins)) > 1:
        raise InvalidRequest("A search query cannot mix AND and OR.", param="query")
    return Query(tuple(clauses), joins[0] if joins else "AND")


def _matches(clause: Clause, doc: Doc) -> bool:
    value: Any = doc.get(clause.field)
    if clause.key is not None:
        value = (value or {}).get(clause.key)
    if clause.op in (">", ">=", "<", "<="):
        try:
            left, right = int(value), int(clause.value)
        except (TypeError, ValueError):
            return False
        return {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[clause.op]
    if clause.value == "null" and not clause.quoted:
        return value is None or value == ""
    if value is None:
        return False
    if isinstance(value, bool):
        value = "true" if value else "false"
    text, needle = str(value).lower(), clause.value.lower()
    if clause.op == "~":
        return needle in text
    return text == needle


def compile_query(query: Query) -> Callable[[Doc], bool]:
    def check(doc: Doc) -> bool:
        results = (_matches(c, doc) != c.negate for c in query.clauses)
        return all(results) if query.conjunction == "AND" else any(results)

    return check
