"""Cut Stripe's published OpenAPI description down to the requests Billfold serves, for the API fuzz tests.

Why this exists: tests/api/test_fuzz.py generates requests from Stripe's own description of each endpoint's
parameters (the interface Billfold is wire-compatible with), not from ours, so a parameter we forgot to validate is
exercised too. The source is the public stripe/openapi specification (MIT licence), already trimmed to the Billing
subset; this keeps only the operations Billfold's routers implement, their parameters and request bodies (with the
component schemas they reference), and drops the responses (the spec is of an older API version, and the fuzz tests
check responses against Stripe's error shape and Billfold's own rules instead). Operations the older spec lacks
(``create_preview``, Billing Meters, Billfold's own resources) are described from the parameter model their handler
parses, marked ``x-source: billfold``.

    python scripts/trim_openapi_for_fuzz.py SOURCE.json tests/api/stripe-billing-requests.json
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from billfold.api.params import Params
from billfold.api.routers import ROUTERS

METHODS = ("get", "post", "delete")
_PARSES = re.compile(r"\b([A-Z]\w*)\.parse\(params\)")


def implemented() -> set[tuple[str, str]]:
    """(path with its parameters blanked, method) for every route Billfold serves."""
    api = APIRouter()
    for router in ROUTERS:
        router.install(api)
    out = set()
    for route in api.routes:
        for method in getattr(route, "methods", ()):
            out.add((blank(getattr(route, "path", "")), method.lower()))
    return out


def blank(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref.rsplit("/", 1)[-1])
        for value in node.values():
            found |= refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= refs(value)
    return found


def _clean(node: Any) -> Any:
    """A pydantic JSON schema as OpenAPI 3.0 takes it: no ``null`` alternatives (an absent parameter is the form
    encoding's null), no titles or defaults, references into ``components``."""
    if isinstance(node, list):
        return [_clean(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _clean(v) for k, v in node.items() if k not in ("title", "default")}
    if "$ref" in out:
        out["$ref"] = out["$ref"].replace("#/$defs/", "#/components/schemas/")
    if "anyOf" in out:
        members = [m for m in out["anyOf"] if m != {"type": "null"}]
        if len(members) == 1:
            out.pop("anyOf")
            out.update(members[0])
        else:
            out["anyOf"] = members
    return out


def own_operations(served_by_stripe_spec: set[tuple[str, str]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Operations Stripe's (older) spec does not describe, from the parameter model each handler parses
    (``X.parse(params)``): (paths, component schemas)."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for router in ROUTERS:
        for method, path, fn in router.routes:
            if (blank(path), method.lower()) in served_by_stripe_spec:
                continue
            found = _PARSES.search(inspect.getsource(fn))
            model = getattr(sys.modules[fn.__module__], found.group(1)) if found else Params
            schema = model.model_json_schema()
            for name, definition in schema.pop("$defs", {}).items():
                schemas[name] = _clean(definition)
            schema = _clean(schema)
            # Every request takes ``expand`` (read before the model parses the rest).
            expand = {"type": "array", "items": {"type": "string", "maxLength": 5000}}
            schema.setdefault("properties", {}).setdefault("expand", expand)
            parameters = [
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "maxLength": 5000},
                }
                for name in re.findall(r"\{([^}]+)\}", path)
            ]
            op: dict[str, Any] = {
                "operationId": f"billfold_{method.lower()}_{blank(path)}",
                "x-source": "billfold",
            }
            if method == "GET":
                for name, prop in schema.get("properties", {}).items():
                    parameters.append(
                        {
                            "name": name,
                            "in": "query",
                            "required": name in schema.get("required", []),
                            "schema": prop,
                            **(
                                {"style": "deepObject", "explode": True}
                                if prop.get("type") == "object"
                                else {}
                            ),
                        }
                    )
            elif schema.get("properties"):
                op["requestBody"] = {"content": {"application/x-www-form-urlencoded": {"schema": schema}}}
            op["parameters"] = parameters
            op["responses"] = {"default": {"description": "Any response; tests/api/test_fuzz.py checks it."}}
            paths.setdefault(path, {})[method.lower()] = op
    return paths, schemas


def trim(spec: dict[str, Any]) -> dict[str, Any]:
    served = implemented()
    paths: dict[str, Any] = {}
    for path, item in spec["paths"].items():
        kept = {
            method: {
                key: op[key]
                for key in ("operationId", "parameters", "requestBody", "description")
                if key in op
            }
            | {"responses": {"default": {"description": "Any response; tests/api/test_fuzz.py checks it."}}}
            for method, op in item.items()
            if method in METHODS and (blank(path), method) in served
        }
        if kept:
            paths[path] = kept
    schemas = spec.get("components", {}).get("schemas", {})
    wanted, todo = set(), refs(paths)
    while todo:
        name = todo.pop()
        if name in wanted or name not in schemas:
            continue
        wanted.add(name)
        todo |= refs(schemas[name])
    described = {(blank(p), m) for p, item in paths.items() for m in item}
    own_paths, own_schemas = own_operations(described)
    paths.update(own_paths)
    return {
        "openapi": spec["openapi"],
        "info": {
            "title": "Stripe API, the requests Billfold serves",
            "version": spec["info"]["version"],
            "description": "Generated by scripts/trim_openapi_for_fuzz.py from "
            + json.dumps(spec.get("x-billing-subset", {}).get("source", {}), sort_keys=True),
        },
        "paths": paths,
        "components": {"schemas": {name: schemas[name] for name in sorted(wanted)} | own_schemas},
    }


def main(argv: list[str]) -> int:
    source, target = Path(argv[0]), Path(argv[1])
    out = trim(json.loads(source.read_text()))
    target.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    ops = sum(len(item) for item in out["paths"].values())
    print(f"{ops} operations, {len(out['components']['schemas'])} component schemas -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
