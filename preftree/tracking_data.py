"""A stage's data inputs as MLflow datasets: name and source = the path dvc.yaml declares, digest =
the md5 DVC records for it, and for parquet its row count and schema.

Nothing is loaded to log it: the md5 comes from :func:`preftree.dvchash.input_digests` (computed
once per run for the ``dep.<path>`` tags too), rows and schema from the parquet footers. A folder's
rows are the sum over every ``*.parquet`` file below it, its schema that of the first file (sorted
by path). The source is the repository-relative path (type ``local``), so the record does not
depend on where the clone lives.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlflow.data.dataset import Dataset
from mlflow.data.dataset_source import DatasetSource
from mlflow.types.schema import AnyType, Array, ColSpec, DataType, Map, Object, Property, Schema

MODEL_DIR = "models/"
TRAINING_STAGES = frozenset({"base", "sft", "align", "rm"})
EVAL_STAGES = frozenset({"eval", "rerank"})


class RepoPathSource(DatasetSource):
    """A file or folder of the repository, by its path relative to the repository root."""

    def __init__(self, path: str) -> None:
        self.path = path

    @staticmethod
    def _get_source_type() -> str:
        return "local"

    def load(self, dst_path: str | None = None) -> str:
        return self.path

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return False

    @classmethod
    def _resolve(cls, raw_source: Any) -> RepoPathSource:
        return cls(str(raw_source))

    def to_dict(self) -> dict[str, Any]:
        return {"uri": self.path}

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> RepoPathSource:
        return cls(str(source_dict["uri"]))


class DvcDataset(Dataset):
    """A dataset known by its DVC md5 (the digest), with an optional row count and schema."""

    def __init__(self, path: str, md5: str, rows: int | None = None, schema: Schema | None = None, files: int = 0):
        self._rows, self._schema, self._files = rows, schema, files
        super().__init__(source=RepoPathSource(path), name=path, digest=md5)

    def _compute_digest(self) -> str:  # the digest is always given
        raise ValueError(f"{self.name}: a DvcDataset needs its DVC md5")

    @property
    def profile(self) -> dict[str, int]:
        profile = {"files": self._files}
        if self._rows is not None:
            profile["num_rows"] = self._rows
        return profile

    @property
    def schema(self) -> Schema | None:
        return self._schema

    def to_dict(self) -> dict[str, str]:
        config = super().to_dict()
        config["profile"] = json.dumps(self.profile)
        if self._schema is not None:
            config["schema"] = json.dumps({"mlflow_colspec": self._schema.to_dict()})
        return config


def mlflow_type(arrow_type: Any) -> Any:
    """The MLflow type of a pyarrow type (lists, structs and maps included; anything else: AnyType)."""
    import pyarrow as pa

    t = pa.types
    scalars = [
        (t.is_boolean, DataType.boolean),
        (lambda x: t.is_int64(x) or t.is_uint32(x) or t.is_uint64(x), DataType.long),
        (t.is_integer, DataType.integer),
        (t.is_float32, DataType.float),
        (t.is_floating, DataType.double),
        (lambda x: t.is_string(x) or t.is_large_string(x), DataType.string),
        (lambda x: t.is_binary(x) or t.is_large_binary(x), DataType.binary),
        (lambda x: t.is_timestamp(x) or t.is_date(x), DataType.datetime),
    ]
    for test, dtype in scalars:
        if test(arrow_type):
            return dtype
    if t.is_list(arrow_type) or t.is_large_list(arrow_type) or t.is_fixed_size_list(arrow_type):
        return Array(mlflow_type(arrow_type.value_type))
    if t.is_struct(arrow_type):
        fields = [arrow_type.field(i) for i in range(arrow_type.num_fields)]
        return (
            Object([Property(f.name, mlflow_type(f.type), required=not f.nullable) for f in fields])
            if fields
            else AnyType()
        )
    if t.is_map(arrow_type) and t.is_string(arrow_type.key_type):
        return Map(mlflow_type(arrow_type.item_type))
    return AnyType()


def parquet_files(path: Path) -> list[Path]:
    """``path`` itself when it is a parquet file, else every ``*.parquet`` below it, sorted."""
    if path.is_file():
        return [path] if path.suffix == ".parquet" else []
    return sorted(p for p in path.rglob("*.parquet") if p.is_file())


def file_count(path: Path) -> int:
    return 1 if path.is_file() else sum(1 for p in path.rglob("*") if p.is_file())


def describe(path: str, md5: str, root: Path) -> DvcDataset:
    """The dataset for the dep ``path`` (relative to ``root``) whose DVC md5 is ``md5``: rows and
    schema read from parquet footers only."""
    import pyarrow.parquet as pq

    full = root / path
    files = parquet_files(full)
    if not files:
        return DvcDataset(path, md5, files=file_count(full))
    rows = sum(pq.read_metadata(f).num_rows for f in files)
    arrow = pq.read_schema(files[0])
    cols = [ColSpec(mlflow_type(f.type), f.name, required=not f.nullable) for f in arrow]
    return DvcDataset(path, md5, rows=rows, schema=Schema(cols) if cols else None, files=file_count(full))


def context(stage: str, path: str) -> str:
    """What the input is to the stage: ``model`` (a model folder), ``training``, ``eval`` or ``input``."""
    if path.startswith(MODEL_DIR):
        return "model"
    family = stage.split("@")[0]
    return "training" if family in TRAINING_STAGES else "eval" if family in EVAL_STAGES else "input"


def stage_datasets(stage: str, digests: dict[str, str], root: Path) -> list[tuple[DvcDataset, str]]:
    """(dataset, context) for each data dep of ``stage`` that was there to read (``digests``:
    path -> DVC md5, as :func:`preftree.dvchash.input_digests` returns them)."""
    return [(describe(path, md5, root), context(stage, path)) for path, md5 in digests.items()]
