"""Model folders, model cards, checkpoint identity and pointers to local checkpoints.

A *model folder* (``models/base`` and later stages) holds either

* a full HF model (``config.json``, ``model.safetensors``, tokenizer files) plus ``card.json`` and a
  ``README.md`` model card, written by :func:`save_model_folder`; or
* a *pointer* to a local checkpoint elsewhere (``checkpoint.json`` + ``card.json`` + ``README.md``),
  written by :func:`write_pointer` when ``model.path`` is set, so that multi-GB weights are never
  copied into the DVC cache.

:func:`checkpoint_identity` fingerprints a checkpoint cheaply (full hashes of small files, size plus
head/tail hashes of weight files) and :func:`resolve_model_dir` re-checks it before a pointer is used.
All folder writes are atomic: a temp sibling is filled, then swapped in.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from pathlib import Path
from typing import Any

import yaml

from preftree.io import atomic_dir

SMALL_FILE = 1 << 20  # files below this size are hashed in full; larger ones by head and tail
CHUNK = 1 << 20  # bytes hashed at each end of a large file
CARD_FILE = "card.json"
POINTER_FILE = "checkpoint.json"
README_FILE = "README.md"


class CheckpointChangedError(RuntimeError):
    """The checkpoint a pointer refers to no longer matches the identity recorded by `base`."""


# --------------------------------------------------------------------------------------------
# atomic folders and cards


def _json_text(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=str, ensure_ascii=False) + "\n"


def _flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Dotted ``(key, value)`` rows of a nested dict, sorted by key."""
    if isinstance(obj, dict) and obj:
        rows: list[tuple[str, Any]] = []
        for key in sorted(obj, key=str):
            rows += _flatten(obj[key], f"{prefix}.{key}" if prefix else str(key))
        return rows
    return [(prefix, obj)]


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text.replace("|", "\\|").replace("\n", " ")


def render_card(card: dict) -> str:
    """A short README.md model card: yaml front matter and a table of the card's (flattened) fields."""
    front: dict[str, Any] = {
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "tags": ["preftree"] + [str(card[k]) for k in ("name", "stage") if isinstance(card.get(k), str)],
    }
    if isinstance(card.get("base_model"), str):
        front["base_model"] = card["base_model"]
    title = card.get("name") or card.get("stage") or "model"
    lines = ["---", yaml.safe_dump(front, sort_keys=True).rstrip(), "---", "", f"# {title}", ""]
    if isinstance(card.get("description"), str):
        lines += [card["description"], ""]
    lines += ["Built by preftree. Fields of `card.json`:", "", "| param | value |", "| --- | --- |"]
    lines += [f"| `{key}` | {_cell(value)} |" for key, value in _flatten(card) if key != "description"]
    return "\n".join(lines) + "\n"


def _write_card(folder: Path, card: dict) -> None:
    (folder / CARD_FILE).write_text(_json_text(card), encoding="utf-8")
    (folder / README_FILE).write_text(render_card(card), encoding="utf-8")


def save_model_folder(model: Any, tokenizer: Any, out_dir: Path, card: dict, state_dict: dict | None = None) -> None:
    """Atomically write an HF model folder (safetensors + tokenizer) with ``card.json`` and README.md.

    ``state_dict``: the weights to write (e.g. gathered from ZeRO-3 shards) instead of the model's own."""
    with atomic_dir(Path(out_dir)) as tmp:
        model.save_pretrained(tmp, state_dict=state_dict)
        tokenizer.save_pretrained(tmp)
        _write_card(tmp, card)


# --------------------------------------------------------------------------------------------
# identity


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sha256_ends(path: Path, size: int) -> tuple[str, str]:
    with path.open("rb") as fh:
        head = hashlib.sha256(fh.read(CHUNK)).hexdigest()
        fh.seek(max(0, size - CHUNK))
        tail = hashlib.sha256(fh.read(CHUNK)).hexdigest()
    return head, tail


def _file_identity(path: Path) -> dict[str, Any]:
    size = path.stat().st_size
    if size < SMALL_FILE:
        return {"size": size, "sha256": _sha256_file(path)}
    head, tail = _sha256_ends(path, size)
    return {"size": size, "head_sha256": head, "tail_sha256": tail}


def _checkpoint_files(root: Path) -> list[Path]:
    """Regular files under ``root`` (symlinks followed), skipping hidden names such as ``.cache``."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath) / f for f in filenames if not f.startswith(".") and (Path(dirpath) / f).is_file()]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def checkpoint_identity(path: Path) -> dict:
    """``{"files": {relpath: {...}}, "digest": sha256}`` of a local checkpoint folder, fast on large weights."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"checkpoint folder {root} does not exist")
    files = {p.relative_to(root).as_posix(): _file_identity(p) for p in _checkpoint_files(root)}
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    return {"files": files, "digest": digest}


# --------------------------------------------------------------------------------------------
# validation of a local checkpoint


def _safetensors_parameters(files: list[Path]) -> int:
    """Sum of tensor sizes read from safetensors headers (no weights are loaded)."""
    total = 0
    for file in files:
        with file.open("rb") as fh:
            (length,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(length))
        total += sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")
    return total


def _config_parameters(config: Any) -> int | None:
    """Parameter count of the architecture built on the meta device (no memory, no weights)."""
    import torch
    from transformers import AutoModelForCausalLM

    try:
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
    except Exception:  # noqa: BLE001 - an estimate only; unknown architectures give None
        return None
    return sum(p.numel() for p in model.parameters())


def _num_parameters(root: Path, config: Any) -> tuple[int | None, str]:
    shards = sorted(root.glob("*.safetensors"))
    if shards:
        try:
            return _safetensors_parameters(shards), "safetensors"
        except (OSError, ValueError, KeyError, struct.error):
            pass
    return _config_parameters(config), "config"


def validate_checkpoint(path: str) -> dict:
    """Check that ``path`` is a loadable HF checkpoint (config + tokenizer) and describe it without loading weights."""
    from transformers import AutoConfig, AutoTokenizer

    root = Path(path).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"model.path={path} does not exist")
    if not root.is_dir():
        raise ValueError(f"model.path={path} is not a folder (expected a Hugging Face checkpoint folder)")
    root = root.resolve()
    try:
        config = AutoConfig.from_pretrained(root, local_files_only=True)
    except Exception as err:  # noqa: BLE001 - re-raised with the cause named
        why = f"{type(err).__name__}: {err}"
        raise ValueError(f"model.path={path}: AutoConfig cannot load its config: {why}") from err
    try:
        tokenizer = AutoTokenizer.from_pretrained(root, local_files_only=True)
    except Exception as err:  # noqa: BLE001
        why = f"{type(err).__name__}: {err}"
        raise ValueError(f"model.path={path}: AutoTokenizer cannot load its tokenizer: {why}") from err
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    n_params, source = _num_parameters(root, config)
    return {
        "path": str(root),
        "model_type": config.model_type,
        "architectures": list(getattr(config, "architectures", None) or []),
        "vocab_size": getattr(text_config, "vocab_size", None),
        "num_parameters": n_params,
        "num_parameters_source": source,
        "tokenizer": {
            "size": len(tokenizer),
            "pad_token": tokenizer.pad_token,
            "eos_token": tokenizer.eos_token,
            "chat_template": bool(getattr(tokenizer, "chat_template", None)),
        },
        "identity": checkpoint_identity(root),
    }


# --------------------------------------------------------------------------------------------
# pointers


def pointer_card(info: dict) -> dict:
    """The card of a pointer folder: the checkpoint description without the per-file identity."""
    card = {k: v for k, v in info.items() if k != "identity"}
    card["source"] = "checkpoint"
    card["digest"] = info.get("identity", {}).get("digest")
    return card


def write_pointer(out_dir: Path, info: dict, card: dict | None = None) -> None:
    """Atomically write a folder holding only ``checkpoint.json`` (``info``), ``card.json`` and README.md."""
    with atomic_dir(Path(out_dir)) as tmp:
        (tmp / POINTER_FILE).write_text(_json_text(info), encoding="utf-8")
        _write_card(tmp, card if card is not None else pointer_card(info))


def resolve_model_dir(folder: Path) -> Path:
    """The folder holding the model: ``folder`` itself, or the checkpoint it points to (identity re-checked)."""
    folder = Path(folder)
    pointer = folder / POINTER_FILE
    if pointer.is_file():
        rerun = "rerun `dvc repro -f base`"
        try:
            info = json.loads(pointer.read_text(encoding="utf-8"))
            target, digest = Path(info["path"]), info["identity"]["digest"]
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
            why = f"{type(err).__name__}: {err}"
            raise ValueError(f"{pointer}: not a readable checkpoint pointer ({why}); {rerun}") from err
        if not target.is_dir():
            raise FileNotFoundError(f"the checkpoint at {target} (recorded in {pointer}) no longer exists; {rerun}")
        if checkpoint_identity(target)["digest"] != digest:
            raise CheckpointChangedError(f"the checkpoint at {target} changed since `base` recorded it; {rerun}")
        return target
    if (folder / "config.json").is_file():
        return folder
    raise FileNotFoundError(f"{folder} holds neither a model (config.json) nor a pointer ({POINTER_FILE})")
