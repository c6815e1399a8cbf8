"""Self-healing state: what a killed run leaves is removed by the next one, and a damaged cache is
moved aside (or discarded and recomputed) with one line naming it, never a raw sqlite/JSON traceback."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

from preftree.agents.cache import CacheCorruptError, CallCache
from preftree.io import atomic_dir, atomic_write_text, clear_stale, scratch_dir, write_parquet
from preftree.models.checkpoint import resolve_model_dir, save_model_folder
from preftree.shards import run_sharded

REPO = Path(__file__).resolve().parents[1]


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def killed_save(out_dir: Path) -> int:
    """Run save_model_folder in a child that SIGKILLs itself halfway through writing the weights."""
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from preftree.models.checkpoint import save_model_folder

        class Model:
            def save_pretrained(self, folder, state_dict=None):
                (Path(folder) / "model.safetensors").write_bytes(b"w" * 3_000_000)
                os.kill(os.getpid(), signal.SIGKILL)

        save_model_folder(Model(), None, Path({str(out_dir)!r}), {{"stage": "sft"}})
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    (left,) = [p for p in out_dir.parent.iterdir() if p.name.startswith(f".{out_dir.name}.tmp-")]
    return int(left.name.split("-")[1])


class Model:
    def save_pretrained(self, folder: Path, state_dict: dict | None = None) -> None:
        (Path(folder) / "model.safetensors").write_bytes(b"ok")


class Tokenizer:
    def save_pretrained(self, folder: Path) -> None:
        (Path(folder) / "tokenizer.json").write_text("{}")


def test_a_rerun_removes_the_temp_folder_a_killed_training_save_left(tmp_path: Path, capsys) -> None:
    out = tmp_path / "models" / "sft"
    pid = killed_save(out)
    save_model_folder(Model(), Tokenizer(), out, {"stage": "sft"})
    assert sorted(p.name for p in out.parent.iterdir()) == ["sft"]  # the 3 MB leftover is gone
    assert (out / "model.safetensors").read_bytes() == b"ok"
    err = capsys.readouterr().err.strip()
    assert re.fullmatch(
        rf"removed {out.parent}/\.sft\.tmp-{pid}-[0-9a-f]{{8}} \(3\.0 MB\), left by a killed run \(pid {pid}\)", err
    )


def test_leftovers_of_a_live_process_are_kept_and_old_and_file_leftovers_go(tmp_path: Path, capsys) -> None:
    target = tmp_path / "data" / "tree"
    target.parent.mkdir()
    dead, live = dead_pid(), os.getppid()  # the test runner's parent is alive
    gone = [f".tree.tmp-{dead}-0badf00d", f".tree.old-{dead}-0badf00d", f".tree.tmp-{os.getpid()}-00000000"]
    kept = [f".tree.tmp-{live}-1234abcd", ".tree.tmp-x", ".treehouse.tmp-1-12345678", ".tree.x.tmp-1-12345678"]
    for name in gone + kept:
        (target.parent / name).mkdir()
        (target.parent / name / "f").write_bytes(b"x" * 1500)
    with atomic_dir(target) as tmp:
        (tmp / "a.parquet").write_bytes(b"a")
    left = sorted(p.name for p in target.parent.iterdir())
    assert left == sorted(["tree", *kept])  # a name this process never made is stale even with its pid
    assert len(capsys.readouterr().err.strip().splitlines()) == 3
    # a killed atomic file write leaves a `.<name>.tmp-<pid>-*` file: the next write of that file removes it
    stale = tmp_path / f".rejected.parquet.tmp-{dead}-abcdefgh"
    stale.write_bytes(b"partial")
    write_parquet(pl.DataFrame({"a": [1]}), tmp_path / "rejected.parquet")
    atomic_write_text(tmp_path / "note.txt", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "note.txt", "rejected.parquet"]
    assert "(7 B), left by a killed run" in capsys.readouterr().err
    assert clear_stale(target) == []


def test_trainer_scratch_folders_of_killed_runs_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    stale = tmp_path / f".preftree-sft-trainer.tmp-{dead_pid()}-deadbeef"
    stale.mkdir()
    with scratch_dir("sft-trainer") as scratch:
        assert scratch.parent == tmp_path and scratch.name.startswith(f".preftree-sft-trainer.tmp-{os.getpid()}-")
        assert not stale.exists()
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------
# the call cache (sqlite): an optimisation, so a damaged file is moved aside and a new one started


def filled_cache(path: Path, rows: int = 3000) -> None:
    """About 6 MB for 3000 rows: more than sqlite's page cache, so reads reach the file."""
    with CallCache(path) as cache:
        cache.put_many([(f"k{i}", "act", "m", ["text " * 400], [{}]) for i in range(rows)])


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_call_cache_is_moved_aside_with_one_warning_and_rebuilt(tmp_path: Path, capsys, damage: str) -> None:
    path = tmp_path / ".preftree-cache" / "calls.sqlite"
    filled_cache(path)
    data = path.read_bytes()
    damaged = data[: len(data) // 2] if damage == "truncated" else os.urandom(len(data))
    path.write_bytes(damaged)
    with CallCache(path) as cache:
        assert len(cache) == 0 and cache.get_many(["k1"]) == {}
        cache.put_many([("k1", "act", "m", ["new"], [{}])])
        assert cache.get_many(["k1"]) == {"k1": (["new"], [{}])}
    (aside,) = [p for p in path.parent.iterdir() if ".corrupt-" in p.name]
    assert re.fullmatch(r"calls\.sqlite\.corrupt-\d{8}-\d{6}", aside.name) and aside.read_bytes() == damaged
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"warning: {path} is not a readable sqlite cache (")
    assert f"moved it to {aside} and started an empty cache" in err
    path.write_bytes(b"not a database, again" * 100)  # damaged again within the same second
    CallCache(path).close()
    assert aside.read_bytes() == damaged and len(list(path.parent.glob("calls.sqlite.corrupt-*"))) == 2


def test_damage_found_mid_run_is_one_line_with_the_command_that_clears_it(tmp_path: Path) -> None:
    path = tmp_path / "calls.sqlite"
    filled_cache(path)
    cache = CallCache(path)
    with path.open("r+b") as fh:  # another process scribbles over the pages behind the open cache
        fh.seek(8192)
        fh.write(os.urandom(path.stat().st_size - 8192))
    with pytest.raises(CacheCorruptError) as caught:
        cache.get_many([f"k{i}" for i in range(3000)])
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: the call cache is damaged (")
    assert message.endswith(f"clear it with `rm -f {path} {path}-wal {path}-shm`")
    cache.close()


def test_a_cached_row_with_truncated_json_is_dropped_and_recomputed(tmp_path: Path, capsys) -> None:
    path = tmp_path / "calls.sqlite"
    filled_cache(path, rows=2)
    with sqlite3.connect(path) as conn:
        conn.execute("""UPDATE calls SET texts = '["text tex' WHERE key = 'k0'""")
    with CallCache(path) as cache:
        assert set(cache.get_many(["k0", "k1"])) == {"k1"}
        assert len(cache) == 1
    assert (
        f"warning: {path}: dropped 1 row(s) whose stored JSON does not parse (first key k0)" in capsys.readouterr().err
    )


# ------------------------------------------------------------------------------------------------
# resume checkpoints (interact shards): discarded and recomputed, the result is the same


def double(shard: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {"out": shard.with_columns(y=pl.col("x") * 2)}


def sharded(ckpt: Path) -> tuple[pl.DataFrame, dict[str, int]]:
    items = pl.DataFrame({"x": list(range(10))})
    merged, counts = run_sharded(items, shard_size=4, ckpt_dir=ckpt, fn=double, names=("out",), progress=False)
    return merged["out"], counts


def test_damaged_shards_and_manifest_are_recomputed_with_a_warning(tmp_path: Path, capsys) -> None:
    ckpt = tmp_path / "interact" / "key"
    expected, _ = sharded(ckpt)
    shard = ckpt / "shard-00001" / "out.parquet"
    shard.write_bytes(shard.read_bytes()[:40])
    manifest = ckpt / "manifest.json"
    manifest.write_text(manifest.read_text()[:10])
    again, counts = sharded(ckpt)
    assert again.equals(expected) and counts == {"shards": 3, "resumed": 2, "computed": 1}
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert err[0].startswith(f"warning: {manifest}: unreadable JSON (") and err[0].endswith(
        "writing it again (each shard is checked as it is read)"
    )
    assert err[1].startswith(f"warning: {ckpt / 'shard-00001'}: unreadable (ComputeError: ")
    assert err[1].endswith("computing this shard again")
    manifest.write_text('{"items": 9, "shard_size": 4, "shards": 3}')  # another cut of the items
    again, counts = sharded(ckpt)
    assert again.equals(expected) and counts["resumed"] == 0
    assert f"discarded the checkpoint {ckpt}, every shard is computed again" in capsys.readouterr().err


def test_a_truncated_checkpoint_pointer_names_the_file_and_the_fix(tmp_path: Path) -> None:
    pointer = tmp_path / "checkpoint.json"
    pointer.write_text('{"path": "/x", "identity": {"dig')
    with pytest.raises(ValueError, match=r"checkpoint\.json: not a readable checkpoint pointer \(JSONDecodeError: "):
        resolve_model_dir(tmp_path)
    with pytest.raises(ValueError, match=r"rerun `dvc repro -f base`$"):
        resolve_model_dir(tmp_path)


def test_process_mode_removes_sandbox_folders_a_killed_harness_left(tmp_path: Path) -> None:
    import subprocess
    import sys

    from preftree import sandbox_modes

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    left = tmp_path / f"preftree-sandbox-{dead_pid}-abc123"
    (left / "sub").mkdir(parents=True)
    (left / "main.py").write_text("print(1)\n")
    alive = tmp_path / "preftree-sandbox-1-live"  # pid 1 is always alive
    alive.mkdir()
    other = tmp_path / "preftree-sandbox-notapid"
    other.mkdir()
    removed = sandbox_modes.sweep_stale_dirs(str(tmp_path))
    assert removed == [str(left)] and not left.exists()
    assert alive.exists() and other.exists()
    assert sandbox_modes.sweep_stale_dirs(str(tmp_path)) == []  # once per process and folder
