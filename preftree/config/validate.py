"""A params mapping checked against a dataclass: unknown keys, missing keys and wrong types fail with
one line naming the key."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union

from preftree.config.workspace import PARAMS_FILE, ParamsError


def describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} ({text[:40]}{'...' if len(text) > 40 else ''})"


def coerce(value: Any, tp: Any, path: str) -> Any:
    """Check `value` against the type annotation `tp`; return it built (dataclasses) or converted."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None:
            if type(None) in options:
                return None
            raise ParamsError(f"{PARAMS_FILE}: {path}: must not be null")
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return coerce(value, option, path)
            except ParamsError as err:
                errors.append(err)
        raise errors[0]
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ParamsError(f"{PARAMS_FILE}: {path}: expected one of {list(allowed)}, got {describe(value)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ParamsError(f"{PARAMS_FILE}: {path}: expected a list, got {describe(value)}")
        (item_tp,) = typing.get_args(tp)
        return [coerce(v, item_tp, f"{path}.{i}") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ParamsError(f"{PARAMS_FILE}: {path}: expected a mapping, got {describe(value)}")
        key_tp, item_tp = typing.get_args(tp)
        return {coerce(k, key_tp, f"{path}.<key>"): coerce(v, item_tp, f"{path}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path)
    if value is None:
        raise ParamsError(f"{PARAMS_FILE}: {path}: must not be null")
    if value == "???":
        raise ParamsError(f"{PARAMS_FILE}: {path}: is required: set it, e.g. `dvc exp run -S {path}=...`")
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamsError(f"{PARAMS_FILE}: {path}: expected float, got {describe(value)}")
        return float(value)
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ParamsError(f"{PARAMS_FILE}: {path}: expected int, got {describe(value)}")
    if tp in (str, bool) and not isinstance(value, tp):
        raise ParamsError(f"{PARAMS_FILE}: {path}: expected {tp.__name__}, got {describe(value)}")
    return value


def build(cls: type, data: Any, path: str = "") -> Any:
    """Build dataclass `cls` from a mapping; unknown keys and wrong types raise ParamsError.

    The params dataclasses declare no defaults, so every field is a required key: its value comes from
    conf/ (composed into params.yaml). A field with a default (none today) could be left out.
    """
    where = path or "<root>"
    if not isinstance(data, dict):
        raise ParamsError(f"{PARAMS_FILE}: {where}: expected a mapping, got {describe(data)}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            full = f"{path}.{key}" if path else str(key)
            raise ParamsError(f"{PARAMS_FILE}: unknown key '{full}' (known here: {', '.join(known)})")
    kwargs = {}
    for name, fld in known.items():
        full = f"{path}.{name}" if path else name
        if name in data:
            kwargs[name] = coerce(data[name], hints[name], full)
        elif fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING:
            raise ParamsError(f"{PARAMS_FILE}: missing required key '{full}'")
    return cls(**kwargs)
