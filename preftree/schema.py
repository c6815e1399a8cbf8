"""Polars schemas of every artifact, and the unified instruction record.

Every source (synthetic or a real dataset) is adapted to ``INSTRUCTION_SCHEMA``; ``select`` writes
it back out (``data/selected/{train,heldout}.parquet``) so ``interact`` and the evaluators read one
shape. Rows that cannot be adapted become ``REJECTED_SCHEMA`` rows, never silent drops.

The later artifacts' schemas live here too, so a reader of an artifact need not import its writer:
``NODE_SCHEMA`` / ``TREE_SCHEMA`` (``data/interact``, written by ``preftree.interact`` and rebuilt from
the public release by ``preftree.release``) and the training views ``SFT_SCHEMA``, ``PAIR_SCHEMA``,
``KTO_SCHEMA``, ``RM_SCHEMA`` (``data/tree``, written by ``preftree.tree``).

A Coding record's ``tests`` hold Python snippets or stdin/stdout cases encoded by ``stdio_test``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Final

import polars as pl

from preftree.text import canonical

TASKS: Final = ("Coding", "Math_CoT", "Math_PoT", "Logic")

# UltraInteract's instruction prefixes (paper §2; the Hugging Face release). The Logic prefix is the no-tool
# variant (ReClor-style deduction); the Wikipedia-tool variant needs a search tool we do not ship.
INSTRUCTION_PREFIXES: Final[dict[str, str]] = {
    "Coding": "Write Python code to solve the task.\n",
    "Math_CoT": (
        "Solve the following math problem step-by-step.\n"
        "Simplify your answer as much as possible. Present your final answer as \\boxed{Your Answer}.\n"
    ),
    "Math_PoT": (
        "Tool available:\n[1] Python interpreter\n"
        "When you send a message containing Python code to python, it will be executed in a stateful "
        "Jupyter notebook environment.\n"
        "Solve the following math problem step-by-step.\nSimplify your answer as much as possible.\n"
    ),
    "Logic": "Solve the following problem step-by-step:\n",
}

INSTRUCTION_SCHEMA: Final = pl.Schema(
    {
        "id": pl.String,  # sha256 hex of (task, dataset, canonical problem): stable across runs
        "problem_id": pl.String,  # sha256 hex of (dataset, canonical problem): shared by CoT/PoT variants
        "task": pl.String,  # one of TASKS
        "dataset": pl.String,  # source name, e.g. "synthetic", "gsm8k"
        "problem": pl.String,  # the problem text without the task prefix
        "instruction": pl.String,  # INSTRUCTION_PREFIXES[task] + problem: what the actor sees
        "answer": pl.String,  # ground-truth final answer ("" for Coding)
        "tests": pl.List(pl.String),  # Coding: test snippets run after the solution, in order
        "reference": pl.String,  # JSON: structured reference solution (see sources.synthetic)
        "pattern": pl.String,  # template / formula key for stratified caps ("" when unknown)
        "difficulty": pl.Int32,  # number of reasoning steps where known, else null
        # where the row is in its source: the 1-based line number of a JSONL file (blank lines counted),
        # else the 0-based record index (JSON document, parquet, HF split; synthetic: generation order)
        "source_row": pl.Int64,
        "split": pl.String,  # split of the source dataset ("train", "test", ...)
    }
)

REJECTED_SCHEMA: Final = pl.Schema(
    {
        "dataset": pl.String,
        "file": pl.String,  # path or HF id the row came from
        "source_row": pl.Int64,  # as in INSTRUCTION_SCHEMA
        "field": pl.String,  # the offending field ("" when the whole row is bad)
        "reason": pl.String,  # e.g. "missing", "empty", "wrong type: expected str, got int"
        "raw": pl.String,  # the row as JSON, truncated to 2,000 characters
    }
)

# Rows removed on purpose (dedup, decontamination, caps, difficulty) with the reason: nothing is
# dropped silently, so a user can always see why an instruction is absent.
REMOVED_SCHEMA: Final = pl.Schema(
    {
        "id": pl.String,
        "dataset": pl.String,
        "task": pl.String,
        "source_row": pl.Int64,
        "reason": pl.String,  # exact_duplicate | near_duplicate | contaminated | cap | difficulty | solved
        "detail": pl.String,  # e.g. the kept duplicate's id, or the eval set and the shared 8-gram
    }
)


# data/interact/nodes.parquet: one row per kept action of a preference tree (preftree.interact);
# preftree.release rebuilds the same rows (plus `instruction`) from the public UltraInteract files.
NODE_SCHEMA: Final = pl.Schema(
    {
        "node_id": pl.String,  # <pair_id>_c (chosen) or <pair_id>_r (rejected)
        "pair_id": pl.String,  # <instruction id>_<depth>_<turn>, UltraInteract's id layout
        "parent_id": pl.String,  # node_id of the rejected action expanded at turn-1 (null at turn 1)
        "instruction_id": pl.String,  # data/selected row id (64 hex): the tree's root
        "tree_id": pl.String,  # one tree per instruction here (= instruction_id); imported releases may hold several
        "problem_id": pl.String,
        "task": pl.String,
        "dataset": pl.String,
        "source_row": pl.Int64,
        "depth": pl.Int32,  # number of turns of this tree
        "turn": pl.Int32,  # 1-based
        "role": pl.String,  # chosen | rejected
        "correct": pl.Boolean,
        "expanded": pl.Boolean,  # the rejected action the trajectory continued from
        "action": pl.String,
        "mode": pl.String,  # cot | pot
        "code": pl.String,
        "observation": pl.String,  # UltraInteract format: "Out: ...\nYour answer is wrong."
        "critique": pl.String,  # critic feedback on an expanded rejected action, else ""
        "origin": pl.String,  # sample | escalation | guided | weak
        "actor": pl.String,  # backend identity
        "sampling": pl.String,  # JSON of the sampling params (temperature, top_p, seed, index, ...)
        "mistake": pl.String,  # scripted backends: the injected mistake, else null
    }
)

# data/interact/trees.parquet: one row per tree.
TREE_SCHEMA: Final = pl.Schema(
    {
        "instruction_id": pl.String,
        "task": pl.String,
        "dataset": pl.String,
        "depth": pl.Int32,
        "end_turn": pl.Int32,  # turn at which the trajectory's own action was correct (or the cap)
        "solved": pl.Boolean,  # False when the cap was reached without a correct own action
        "pairs": pl.Int32,
        "escalations": pl.Int32,  # extra sampling rounds used
        "guided": pl.Int32,  # ground-truth-guided actions used
        "syntax_dropped": pl.Int32,  # sampled actions discarded by the syntax check
    }
)

# data/tree/<view>/{train,heldout}.parquet (preftree.tree), in the UltraInteract release schema:
# sft = UltraInteract_sft, pairs = UltraInteract_pair; kto and rm are derived from the pairs.
MESSAGE = pl.Struct({"from": pl.String, "value": pl.String})
CHAT_MESSAGE = pl.Struct({"role": pl.String, "content": pl.String})
_ID = {"id": pl.String, "parent_id": pl.String, "task": pl.String, "dataset": pl.String}

SFT_SCHEMA: Final = pl.Schema({**_ID, "instruction": pl.String, "response": pl.String})
PAIR_SCHEMA: Final = pl.Schema({**_ID, "trajectory": pl.List(MESSAGE), "chosen": pl.String, "rejected": pl.String})
KTO_SCHEMA: Final = pl.Schema(
    {**_ID, "prompt": pl.List(CHAT_MESSAGE), "completion": pl.List(CHAT_MESSAGE), "label": pl.Boolean}
)
RM_SCHEMA: Final = pl.Schema({**PAIR_SCHEMA, "augmented": pl.Boolean, "ultrainteract": pl.Boolean})


def content_id(*parts: str) -> str:
    """64-hex sha256 over canonicalised parts (the shape of UltraInteract's parent_id)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(canonical(part).encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()


def make_instruction(task: str, problem: str) -> str:
    """The prompt the actor sees: UltraInteract's task prefix followed by the problem."""
    if task not in INSTRUCTION_PREFIXES:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return INSTRUCTION_PREFIXES[task] + problem


def record_ids(task: str, dataset: str, problem: str) -> tuple[str, str]:
    """(id, problem_id) for one instruction record."""
    return content_id(task, dataset, problem), content_id(dataset, problem)


# ----------------------------------------------------------------------------- stdin/stdout test cases

STDIO_HEADER: Final = "%%stdio"  # first line of a stdin/stdout test case in ``tests`` (see ``stdio_test``)


def stdio_test(stdin: str, stdout: str) -> str:
    """Encode one stdin/stdout test case as a ``record["tests"]`` string.

    Contract: the line ``%%stdio``, a newline, then one JSON object ``{"input": <stdin>, "output":
    <expected stdout>}`` (both strings, ``ensure_ascii=False``, no other keys). The header is a
    Python syntax error, so a stdio case handed to a snippet runner by mistake fails loudly instead
    of passing as a no-op expression. ``parse_stdio_test`` is the inverse.
    """
    if not isinstance(stdin, str) or not isinstance(stdout, str):
        raise TypeError("stdio_test: input and output must be str")
    return STDIO_HEADER + "\n" + json.dumps({"input": stdin, "output": stdout}, ensure_ascii=False)


def parse_stdio_test(test: str) -> tuple[str, str] | None:
    """``(stdin, expected stdout)`` of a ``stdio_test`` string; None for anything else (a snippet).

    A string that starts with the header but whose body is not the JSON object of the contract
    raises ``ValueError`` (a malformed record, never silently read as a snippet).
    """
    if not test.startswith(STDIO_HEADER + "\n"):
        return None
    try:
        data = json.loads(test[len(STDIO_HEADER) + 1 :])
    except ValueError as err:
        raise ValueError(f"malformed stdio test case: invalid JSON ({err})") from None
    if (
        not isinstance(data, dict)
        or set(data) != {"input", "output"}
        or not all(isinstance(v, str) for v in data.values())
    ):
        raise ValueError('malformed stdio test case: expected {"input": str, "output": str}')
    return data["input"], data["output"]


def empty_frame(schema: pl.Schema) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def conform(df: pl.DataFrame, schema: pl.Schema, *, what: str) -> pl.DataFrame:
    """Select and order the schema's columns, casting strictly; a missing column is a clear error."""
    missing = [c for c in schema.names() if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {', '.join(missing)}")
    return df.select([pl.col(name).cast(dtype, strict=True) for name, dtype in schema.items()])
