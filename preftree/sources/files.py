"""Row readers for local data files and Hugging Face datasets.

``read_rows`` yields ``(row_index, row)`` pairs from ``.jsonl``, ``.jsonl.gz``, ``.json`` (a JSON
array, a pandas column- or index-oriented object, an object holding a list of rows under a key such
as ``Instances``, or JSONL misnamed ``.json`` as MINT ships it), ``.json.gz`` and ``.parquet``. A JSONL
line that is not valid UTF-8 or not valid JSON does not abort the read: it yields a ``RowError`` for
that row index so the loader can record it as a rejection. Blank lines are skipped.

Row numbers: a JSON document, parquet file or Hugging Face dataset numbers its rows by their 0-based
record index (``rows[i]``, ``df.row(i)``, ``dataset[i]``). A JSONL file numbers them by their 0-based
position among the non-blank lines, or with ``line_numbers=True`` (what ``sources.load`` records as
``source_row``) by their 1-based line number in the file, blank lines counted (``sed -n Np``).

``read_hf`` yields rows through ``datasets`` from a ``save_to_disk`` folder, a local folder or file
that ``datasets.load_dataset`` understands, or a hub id resolved from the local cache only.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUPPORTED_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".parquet")
_GZIP_MAGIC = b"\x1f\x8b"
_RAW_LIMIT = 2000


@dataclass(frozen=True)
class RowError:
    """A source row that could not be decoded at all (the whole row is bad, so no field)."""

    reason: str  # e.g. "undecodable text: invalid UTF-8 ...", "invalid JSON: ..."
    raw: str  # the offending bytes as text (undecodable bytes backslash-escaped), truncated


class SourceUnavailableError(FileNotFoundError):
    """A Hugging Face dataset that is not available offline."""


def _missing(path: Path, source: str | None) -> FileNotFoundError:
    where = f" (source {source!r})" if source else ""
    return FileNotFoundError(f"data file not found: {path}{where}")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in (".jsonl.gz", ".json.gz"):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == _GZIP_MAGIC:
        data = gzip.decompress(data)
    return data


def _escape(data: bytes) -> str:
    return data.decode("utf-8", errors="backslashreplace")[:_RAW_LIMIT]


def _jsonl_rows(data: bytes, *, line_numbers: bool = False) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """Rows of JSONL bytes, numbered by position among the non-blank lines (0-based) or, with
    ``line_numbers``, by the 1-based line number (lines end at ``\\n``, ``\\r\\n`` or ``\\r``)."""
    index = 0
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        if line_numbers:
            index = number
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as err:
            yield index, RowError(f"undecodable text: invalid UTF-8 at byte {err.start}", _escape(line))
            index += 1
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as err:
            yield index, RowError(f"invalid JSON: {err.msg} (column {err.colno})", text[:_RAW_LIMIT])
        else:
            if isinstance(row, dict):
                yield index, row
            else:
                yield index, RowError(f"wrong type: expected object, got {type(row).__name__}", text[:_RAW_LIMIT])
        index += 1


def _is_index_keys(keys: Any) -> bool:
    return all(isinstance(k, str) and k.lstrip("-").isdigit() for k in keys)


def _object_rows(obj: dict[str, Any]) -> list[Any]:
    """Rows of a top-level JSON object: pandas column/index orient, a list under a key, or one row."""
    values = list(obj.values())
    if values and all(isinstance(v, dict) for v in values):
        if _is_index_keys(obj.keys()):  # pandas orient="index": {row_index: {column: value}}
            return [obj[k] for k in sorted(obj, key=int)]
        index_sets = [set(v) for v in values]
        if all(_is_index_keys(s) for s in index_sets) and all(s == index_sets[0] for s in index_sets):
            order = sorted(index_sets[0], key=int)  # pandas orient="columns": {column: {row_index: value}}
            return [{col: obj[col][i] for col in obj} for i in order]
    lists = [v for v in values if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)]
    if len(lists) == 1:  # e.g. {"Definition": ..., "Instances": [...]}
        return lists[0]
    return [obj]


def _json_rows(data: bytes, path: Path, *, line_numbers: bool) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    try:
        obj = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        # JSONL with a .json suffix (MINT): a first line that is a JSON object on its own.
        first = next((line for line in data.splitlines() if line.strip()), b"")
        try:
            looks_jsonl = isinstance(json.loads(first), dict)
        except (json.JSONDecodeError, UnicodeDecodeError):
            looks_jsonl = False
        if not looks_jsonl:
            raise ValueError(f"{path}: neither a JSON document nor JSONL: {err}") from err
        yield from _jsonl_rows(data, line_numbers=line_numbers)
        return
    if isinstance(obj, list):
        rows = obj
    elif isinstance(obj, dict):
        rows = _object_rows(obj)
    else:
        raise ValueError(f"{path}: expected a JSON array or object, got {type(obj).__name__}")
    for index, row in enumerate(rows):
        if isinstance(row, dict):
            yield index, row
        else:
            yield (
                index,
                RowError(
                    f"wrong type: expected object, got {type(row).__name__}",
                    json.dumps(row, ensure_ascii=False, default=str)[:_RAW_LIMIT],
                ),
            )


def _parquet_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    import pyarrow.parquet as pq

    index = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            yield index, row
            index += 1


def read_rows(
    path: str | Path, source: str | None = None, *, line_numbers: bool = False
) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """Yield ``(row_index, row | RowError)`` for every row of a local data file.

    ``row_index`` is the 0-based record index; with ``line_numbers``, a JSONL row's (also JSONL
    misnamed ``.json``) is its 1-based line number in the (decompressed) file, blank lines counted.

    ``source`` only names the source in error messages. A missing file raises ``FileNotFoundError``
    naming the path; an unsupported suffix or an unparsable whole-document JSON raises ``ValueError``.
    """
    p = Path(path)
    if not p.is_file():
        raise _missing(p, source)
    suffix = _suffix(p)
    if suffix == ".parquet":
        yield from _parquet_rows(p)
    elif suffix in (".jsonl", ".jsonl.gz"):
        yield from _jsonl_rows(_read_bytes(p), line_numbers=line_numbers)
    elif suffix in (".json", ".json.gz"):
        yield from _json_rows(_read_bytes(p), p, line_numbers=line_numbers)
    else:
        raise ValueError(f"{p}: unsupported file type {suffix!r}; expected one of {', '.join(SUPPORTED_SUFFIXES)}")


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """Force Hugging Face offline mode (env and the already-imported module flags), then restore."""
    import datasets.config
    import huggingface_hub.constants as hub_constants

    saved_env = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    saved = (datasets.config.HF_HUB_OFFLINE, datasets.config.HF_DATASETS_OFFLINE, hub_constants.HF_HUB_OFFLINE)
    os.environ.update({k: "1" for k in saved_env})
    datasets.config.HF_HUB_OFFLINE = datasets.config.HF_DATASETS_OFFLINE = True
    hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        datasets.config.HF_HUB_OFFLINE, datasets.config.HF_DATASETS_OFFLINE, hub_constants.HF_HUB_OFFLINE = saved


_BUILDERS = {".json": "json", ".jsonl": "json", ".json.gz": "json", ".jsonl.gz": "json", ".parquet": "parquet",
             ".csv": "csv", ".txt": "text", ".arrow": "arrow"}  # fmt: skip


def _pick_split(obj: Any, split: str, where: str) -> Any:
    import datasets

    if isinstance(obj, datasets.DatasetDict):
        if split not in obj:
            raise ValueError(f"{where}: no split {split!r}; available splits: {', '.join(obj)}")
        return obj[split]
    return obj


def _load(hf_id: str, config: str | None, split: str) -> Any:
    import datasets

    p = Path(hf_id)
    if p.is_dir() and ((p / "dataset_dict.json").is_file() or (p / "state.json").is_file()):
        return _pick_split(datasets.load_from_disk(str(p)), split, hf_id)
    if p.is_file():
        builder = _BUILDERS.get(_suffix(p))
        if builder is None:
            raise ValueError(f"{p}: unsupported file type; expected one of {', '.join(_BUILDERS)}")
        return datasets.load_dataset(builder, data_files={split: str(p)}, split=split)
    if p.is_dir():
        return _pick_split(datasets.load_dataset(str(p), config), split, hf_id)
    try:
        return _pick_split(datasets.load_dataset(hf_id, config), split, hf_id)
    except ValueError:
        raise
    except Exception as err:  # ConnectionError / FileNotFoundError / DatasetNotFoundError when offline
        raise SourceUnavailableError(
            f"Hugging Face dataset {hf_id!r} (config={config!r}, split={split!r}) is not available offline: "
            f"download it first (e.g. `hf download --repo-type dataset {hf_id}` on a machine with network, "
            f"or `datasets.load_dataset(...).save_to_disk(DIR)`) or set `path` to a local copy. "
            f"Cause: {type(err).__name__}: {err}"
        ) from err


def read_hf(hf_id: str, config: str | None = None, split: str = "train") -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(row_index, row)`` from a Hugging Face dataset, never touching the network.

    ``hf_id`` is a ``save_to_disk`` folder, a local folder/file loadable by ``datasets.load_dataset``,
    or a hub id present in the local cache. ``split`` selects the split (a single saved ``Dataset``
    has no splits and is read whole). Raises ``SourceUnavailableError`` (a ``FileNotFoundError``)
    naming the id when it cannot be resolved offline.
    """
    with _offline():
        dataset = _load(hf_id, config, split)
    for index, row in enumerate(dataset):
        yield index, dict(row)
