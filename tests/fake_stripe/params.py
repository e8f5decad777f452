"""Stripe's form encoding read back: `a[b][c]=1`, `a[0][b]=x`, `a[]=y`, as stripe-python sends."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


class ParamError(ValueError):
    def __init__(self, message: str, param: str):
        super().__init__(message)
        self.param = param


def parse(body: str) -> dict[str, Any]:
    """Nested dicts and lists from a form-encoded body or query string.

    Dicts whose keys are all indices (`[0]`, `[1]`) become lists; `[]` appends. Values
    stay strings, as Stripe receives them; `coerce_*` read them as numbers or booleans.
    """
    root: dict[str, Any] = {}
    for raw_key, value in parse_qsl(body, keep_blank_values=True):
        match = _KEY.match(raw_key)
        if not match:
            raise ParamError(f"Invalid parameter name: {raw_key}", raw_key)
        path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node: Any = root
        for index, part in enumerate(path):
            last = index == len(path) - 1
            if part == "":
                # `a[]=x`: append; a following `[b]` starts a new element only when needed.
                part = str(len(node))
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise ParamError(f"Invalid parameter: {raw_key}", raw_key)
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def integer(params: dict[str, Any], name: str, *, required: bool = False) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        if required:
            raise ParamError(f"Missing required param: {name}.", name)
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ParamError(f"Invalid integer: {value}", name) from None


def string(params: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = params.get(name)
    if value in (None, ""):
        if required:
            raise ParamError(f"Missing required param: {name}.", name)
        return None
    if not isinstance(value, str):
        raise ParamError(f"Invalid string: {name}", name)
    return value


def boolean(value: Any) -> bool:
    return str(value).lower() == "true"


def metadata(params: dict[str, Any], current: dict[str, str] | None = None) -> dict[str, str]:
    """Stripe merges metadata on update; an empty value deletes the key."""
    merged = dict(current or {})
    given = params.get("metadata")
    if given in (None, ""):
        return {} if given == "" else merged
    if not isinstance(given, dict):
        raise ParamError("Invalid metadata: must be a hash", "metadata")
    for key, value in given.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return merged
