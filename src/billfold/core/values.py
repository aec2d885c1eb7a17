"""``value_type``: the core's immutable value types, frozen dataclasses that are quicker to make.

Why this module exists: the core's values (prices, lines, discounts, taxes, ...) are frozen dataclasses with slots.
The ``__init__`` that ``dataclasses`` writes for a frozen class sets each field with
``object.__setattr__(self, "name", value)``: a method looked up and a name resolved again for every field of every
instance, about 120 ns a field against 30 ns for a plain assignment. A renewal made 37 dataclass instances (a
22-field ``DraftLine`` takes 2.6 µs), and their ``__init__``s were about 7% of a worker's samples in a bill run
(ADR 0014, docs/benchmarks.md).

``@value_type`` makes the class with ``dataclass(frozen=True, slots=True)``, exactly as before (fields, defaults, repr,
equality, hash, ``__match_args__``, ``dataclasses.replace`` and ``fields``), then gives it an ``__init__`` with the
same parameters that writes each field through its slot's descriptor, looked up once when the class is made. The
instances are as frozen as before: assigning or deleting a field raises ``FrozenInstanceError``. Default
factories, ``InitVar`` and fields left out of ``__init__`` are refused: the core's values have none.
"""

from __future__ import annotations

import inspect
from dataclasses import MISSING, dataclass, fields
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True)
def value_type(cls: type[T]) -> type[T]:
    built: Any = dataclass(frozen=True, slots=True)(cls)
    env: dict[str, Any] = {}
    positional: list[str] = []
    keyword: list[str] = []
    # Field names by kw_only, in the order __init__ takes them.
    names: dict[bool, list[str]] = {False: [], True: []}
    body: list[str] = []
    for f in fields(built):
        if not f.init or f.default_factory is not MISSING:
            raise TypeError(
                f"{cls.__qualname__}.{f.name}: @value_type supports plain fields with plain defaults only"
            )
        param = f.name
        if f.default is not MISSING:
            env[f"_default_{f.name}"] = f.default
            param += f"=_default_{f.name}"
        kw_only = f.kw_only is True
        (keyword if kw_only else positional).append(param)
        names[kw_only].append(f.name)
        env[f"_set_{f.name}"] = built.__dict__[f.name].__set__
        body.append(f"    _set_{f.name}(self, {f.name})")
    if hasattr(built, "__post_init__"):
        body.append("    self.__post_init__()")
    params = ["self", *positional, *(["*", *keyword] if keyword else [])]
    if list(inspect.signature(built.__init__).parameters) != ["self", *names[False], *names[True]]:
        raise TypeError(f"{cls.__qualname__}: @value_type supports plain fields only (no InitVar)")
    source = f"def __init__({', '.join(params)}):\n" + ("\n".join(body) or "    pass") + "\n"
    exec(source, env)
    init = env["__init__"]
    init.__qualname__ = f"{built.__qualname__}.__init__"
    init.__module__ = built.__module__
    init.__doc__ = built.__init__.__doc__
    built.__init__ = init
    result: type[T] = built
    return result
