"""A params mapping checked against a dataclass: unknown keys, missing keys, wrong types and values out
of their declared range fail with one line naming the key, the value and what is allowed.

Ranges and formats are declared next to the type with ``typing.Annotated`` (see
:mod:`preftree.config.types`): ``Annotated[int, Range(ge=1)]``. A dataclass may also check relations
between its own fields in a ``check()`` method that raises :class:`Invalid` naming the field. File
paths declared ``InputPath`` are checked for existence when a path root is active
(:func:`checking_paths`): composition checks the ones outside pipeline outputs, a stage checks all
of its declared ones before loading any model or data.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from preftree.config.workspace import PARAMS_FILE, ParamsError

# Top-level folders whose contents the pipeline writes: paths under them are checked by the stage
# that reads them (they may not exist yet when params are composed).
OUTPUT_ROOTS = ("data", "models", "metrics")
# Suffixes that mark a value as a file name, not a Hugging Face id.
FILE_SUFFIXES = (".json", ".jsonl", ".gz", ".parquet", ".csv", ".txt", ".yaml", ".yml", ".arrow")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class Invalid(ValueError):
    """Raised by a params dataclass's ``check()``: `field` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Range:
    """A numeric range: any of ge / gt / le / lt (None = unbounded on that side)."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def text(self) -> str:
        low = f"[{self.ge:g}" if self.ge is not None else (f"({self.gt:g}" if self.gt is not None else "(-inf")
        high = f"{self.le:g}]" if self.le is not None else (f"{self.lt:g})" if self.lt is not None else "inf)")
        return f"{low}, {high}"

    def check(self, value: Any, path: str) -> None:
        ok = not (isinstance(value, float) and math.isnan(value))
        ok = ok and (self.ge is None or value >= self.ge) and (self.gt is None or value > self.gt)
        ok = ok and (self.le is None or value <= self.le) and (self.lt is None or value < self.lt)
        if not ok:
            raise ParamsError(f"{PARAMS_FILE}: {path}: {value!r} is out of range, allowed {self.text()}")


@dataclass(frozen=True)
class Pattern:
    """A string format: a regular expression that must match the whole value, and its description."""

    regex: str
    text: str

    def check(self, value: Any, path: str) -> None:
        if not re.fullmatch(self.regex, value):
            raise ParamsError(f"{PARAMS_FILE}: {path}: {value!r} is not {self.text}")


@dataclass(frozen=True)
class PathRoot:
    root: Path
    outputs: bool  # also check paths under OUTPUT_ROOTS (a stage about to read them)


_PATH_ROOT: contextvars.ContextVar[PathRoot | None] = contextvars.ContextVar("preftree_path_root", default=None)


@contextlib.contextmanager
def checking_paths(root: Path, *, outputs: bool) -> Iterator[None]:
    """Within this block, ``InputPath`` values are checked for existence relative to `root`."""
    token = _PATH_ROOT.set(PathRoot(Path(root), outputs))
    try:
        yield
    finally:
        _PATH_ROOT.reset(token)


@dataclass(frozen=True)
class InputPath:
    """A file or folder the pipeline reads. `hub`: a value that does not exist locally may be a
    Hugging Face id (``owner/name``, no file suffix) and is then left to the loader."""

    kind: Literal["file", "dir", "any"] = "any"
    hub: bool = False

    def check(self, value: Any, path: str) -> None:
        active = _PATH_ROOT.get()
        if active is None or not value:
            return
        rel = Path(value).expanduser()
        if not rel.is_absolute() and rel.parts and rel.parts[0] in OUTPUT_ROOTS and not active.outputs:
            return
        full = rel if rel.is_absolute() else active.root / rel
        if full.exists():
            if self.kind == "file" and not full.is_file():
                raise ParamsError(f"{PARAMS_FILE}: {path}: {value!r} is a folder, expected a file")
            if self.kind == "dir" and not full.is_dir():
                raise ParamsError(f"{PARAMS_FILE}: {path}: {value!r} is a file, expected a folder")
            return
        if self.hub and HUB_ID.match(str(value)) and not str(value).endswith(FILE_SUFFIXES):
            return  # a Hugging Face id: the loader resolves it (offline cache) and names it if absent
        what = "file or folder" if self.kind == "any" else self.kind
        raise ParamsError(f"{PARAMS_FILE}: {path}: no such {what}: {full}")


def describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} ({text[:40]}{'...' if len(text) > 40 else ''})"


def _key_mismatch(value: Any, tp: Any) -> int:
    """Keys of a mapping that a dataclass option lacks, plus its fields the mapping lacks (0 otherwise)."""
    if typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    if not (isinstance(value, dict) and dataclasses.is_dataclass(tp)):
        return 0
    fields = {f.name for f in dataclasses.fields(tp)}
    return len(set(value) ^ fields)


def coerce(value: Any, tp: Any, path: str) -> Any:
    """Check `value` against the type annotation `tp`; return it built (dataclasses) or converted."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        built = coerce(value, typing.get_args(tp)[0], path)
        if built is not None:
            for rule in tp.__metadata__:
                rule.check(built, path)
        return built
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
                errors.append((_key_mismatch(value, option), err))
        raise min(errors, key=lambda e: e[0])[1]  # the option whose keys the value matches best (ties: first)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            near = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1, cutoff=0.6)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ParamsError(f"{PARAMS_FILE}: {path}: expected one of {list(allowed)}, got {describe(value)}{hint}")
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
    hints = typing.get_type_hints(cls, include_extras=True)
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
    obj = cls(**kwargs)
    check = getattr(obj, "check", None)
    if callable(check):
        try:
            check()
        except Invalid as err:
            full = f"{path}.{err.field}" if path else err.field
            raise ParamsError(f"{PARAMS_FILE}: {full}: {err.message}") from None
    return obj
