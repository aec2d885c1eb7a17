"""``core.values.value_type`` makes the same frozen dataclass as ``dataclass(frozen=True, slots=True)``, only with a
quicker ``__init__``: same construction, defaults, ``__post_init__``, equality, hash, repr, replace, and still
frozen."""

from __future__ import annotations

import dataclasses
from dataclasses import FrozenInstanceError, InitVar, dataclass, field

import pytest

from billfold.core.values import value_type


@value_type
class Quick:
    a: int
    b: str = "b"
    c: tuple[int, ...] = ()
    d: int | None = dataclasses.field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if self.a < 0:
            raise ValueError("a must not be negative")


@dataclass(frozen=True, slots=True)
class Plain:
    a: int
    b: str = "b"
    c: tuple[int, ...] = ()
    d: int | None = dataclasses.field(default=None, kw_only=True)


def _as_plain(q: Quick) -> Plain:
    return Plain(q.a, q.b, q.c, d=q.d)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1,), {}), ((1, "x"), {}), ((1, "x", (2, 3)), {"d": 4}), ((), {"a": 5, "c": (1,), "b": "y"})],
)
def test_constructed_like_the_dataclass(args: tuple[object, ...], kwargs: dict[str, object]) -> None:
    quick, plain = Quick(*args, **kwargs), Plain(*args, **kwargs)  # type: ignore[arg-type]
    assert _as_plain(quick) == plain
    assert repr(quick) == repr(plain).replace("Plain", "Quick")
    assert quick == Quick(*args, **kwargs)  # type: ignore[arg-type]
    assert hash(quick) == hash(Quick(*args, **kwargs))  # type: ignore[arg-type]
    assert dataclasses.replace(quick, b="z").b == "z"
    assert [f.name for f in dataclasses.fields(quick)] == ["a", "b", "c", "d"]
    assert dataclasses.astuple(quick) == dataclasses.astuple(plain)


@value_type
class KeywordFirst:
    tag: str = dataclasses.field(default="t", kw_only=True)
    a: int = 0


def test_a_keyword_only_field_declared_first_is_still_keyword_only() -> None:
    assert KeywordFirst(3, tag="x") == KeywordFirst(a=3, tag="x")
    assert (KeywordFirst(3).a, KeywordFirst(3).tag) == (3, "t")
    with pytest.raises(TypeError):
        KeywordFirst(3, "x")  # type: ignore[misc]


def test_the_same_argument_errors() -> None:
    with pytest.raises(TypeError):
        Quick()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Quick(1, "b", (), 4)  # type: ignore[misc]  # d is keyword-only
    with pytest.raises(TypeError):
        Quick(1, e=2)  # type: ignore[call-arg]


def test_post_init_runs() -> None:
    with pytest.raises(ValueError, match="negative"):
        Quick(-1)


def test_instances_stay_frozen() -> None:
    q = Quick(1)
    with pytest.raises(FrozenInstanceError):
        q.a = 2  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del q.b  # type: ignore[misc]
    assert q.a == 1
    assert q.b == "b"


def test_no_new_attributes_as_with_the_dataclass() -> None:
    # (Python 3.11's frozen dataclass with slots raises TypeError here instead of an AttributeError; either way
    # nothing is set, and the quick class does what the dataclass does.)
    raised = []
    for obj in (Quick(1), Plain(1)):
        with pytest.raises((AttributeError, TypeError)) as info:
            obj.other = 3  # type: ignore[union-attr]
        raised.append(info.type)
        assert not hasattr(obj, "other")
    assert raised[0] is raised[1]


def test_fields_it_cannot_make_quickly_are_refused() -> None:
    with pytest.raises(TypeError, match="plain"):

        @value_type
        class Factory:
            items: list[int] = field(default_factory=list)

    with pytest.raises(TypeError, match="plain"):

        @value_type
        class Hidden:
            a: int
            b: int = field(default=0, init=False)

    with pytest.raises(TypeError, match="InitVar"):

        @value_type
        class WithInitVar:
            a: int
            scale: InitVar[int] = 1
