"""The synthetic problem pools and their solutions: ``generate`` (a frame of ``INSTRUCTION_SCHEMA`` rows),
``render_solution``, ``applicable_mistakes`` and ``pretraining_documents``; see the package docstring
(``preftree.sources.synthetic``) for the families, the reference layout and the two pools.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

from preftree.schema import INSTRUCTION_SCHEMA, TASKS, conform, make_instruction, record_ids
from preftree.sources.synthetic import coding, logic, math_solutions
from preftree.sources.synthetic import math as math_problems
from preftree.sources.synthetic.common import MISTAKES, Problem

__all__ = [
    "MISTAKES",
    "POOLS",
    "applicable_mistakes",
    "generate",
    "in_pool",
    "pretraining_documents",
    "render_solution",
    "task_counts",
]

DATASET = "synthetic"
POOLS = ("pretrain", "instruct")
PRETRAIN_MODULUS = 8  # pool "pretrain" owns 1/8 of the problem space
FAMILY = {"Math_CoT": "math", "Math_PoT": "math", "Coding": "coding", "Logic": "logic"}
MAKERS: dict[str, Callable[[random.Random, int], Problem]] = {
    "math": math_problems.make,
    "coding": coding.make,
    "logic": logic.make,
}
DEFAULT_TASKS: dict[str, float] = {"Math_CoT": 0.3, "Math_PoT": 0.3, "Coding": 0.25, "Logic": 0.15}


def in_pool(problem_id: str, pool: str) -> bool:
    """Disjoint partition by content hash: "pretrain" owns ids with int(id[:8], 16) % 8 == 0."""
    if pool not in POOLS:
        raise ValueError(f"unknown pool {pool!r}; expected one of {', '.join(POOLS)}")
    owned = int(problem_id[:8], 16) % PRETRAIN_MODULUS == 0
    return owned if pool == "pretrain" else not owned


def task_counts(n: int, tasks: Mapping[str, float] | None) -> dict[str, int]:
    """Split n over the tasks by weight, largest-remainder rounding (ties in TASKS order)."""
    weights = dict(DEFAULT_TASKS if tasks is None else tasks)
    unknown = [t for t in weights if t not in TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; expected some of {', '.join(TASKS)}")
    if any(w < 0 for w in weights.values()):
        raise ValueError(f"task weights must be non-negative, got {weights}")
    total = sum(weights.values())
    if total <= 0:
        if n > 0:
            raise ValueError("task weights sum to zero")
        return {t: 0 for t in weights}
    order = [t for t in TASKS if t in weights]
    quotas = {t: n * weights[t] / total for t in order}
    counts = {t: int(quotas[t]) for t in order}
    by_remainder = sorted(order, key=lambda t: (-(quotas[t] - counts[t]), order.index(t)))
    for t in by_remainder[: n - sum(counts.values())]:
        counts[t] += 1
    return counts


def _row(problem: Problem, task: str, pool: str) -> dict[str, Any]:
    rid, pid = record_ids(task, DATASET, problem.problem)
    return {
        "id": rid,
        "problem_id": pid,
        "task": task,
        "dataset": DATASET,
        "problem": problem.problem,
        "instruction": make_instruction(task, problem.problem),
        "answer": problem.answer,
        "tests": list(problem.tests),
        "reference": json.dumps(problem.reference, sort_keys=True),
        "pattern": f"{problem.family}:{problem.template}",
        "difficulty": problem.steps,
        "source_row": 0,
        "split": pool,
    }


def generate(
    n: int,
    *,
    seed: int,
    pool: str = "instruct",
    tasks: Mapping[str, float] | None = None,
    min_steps: int = 2,
    max_steps: int = 5,
) -> pl.DataFrame:
    """n distinct problems (INSTRUCTION_SCHEMA) from ``pool``; deterministic for all the arguments.

    dataset="synthetic", split=pool, source_row=0..n-1, pattern="{family}:{template}", difficulty =
    reasoning steps in [min_steps, max_steps]; task counts follow the weights. Problems outside the
    pool are rejected, so the two pools never share a problem_id (nor a problem text).
    """
    in_pool("0" * 8, pool)  # validates the pool name
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 1 <= min_steps <= max_steps:
        raise ValueError(f"need 1 <= min_steps <= max_steps, got {min_steps}, {max_steps}")
    counts = task_counts(n, tasks)
    if counts.get("Coding", 0) and min_steps > coding.MAX_STEPS:
        raise ValueError(f"coding problems have at most {coding.MAX_STEPS} steps; min_steps={min_steps}")
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for task, count in counts.items():
        rng = random.Random(f"preftree.synthetic|{seed}|{pool}|{task}|{min_steps}|{max_steps}")
        make, made, attempts = MAKERS[FAMILY[task]], 0, 0
        if task == "Math_CoT":  # CoT does the arithmetic in text: one-digit amounts (math.SMALL)
            make = functools.partial(math_problems.make, ranges=math_problems.SMALL)
        while made < count:
            attempts += 1
            if attempts > 100 * count + 1000:
                raise RuntimeError(f"could not draw {count} distinct {task} problems in pool {pool!r}")
            steps = rng.randint(min_steps, min(max_steps, coding.MAX_STEPS) if task == "Coding" else max_steps)
            row = _row(make(rng, steps), task, pool)
            if row["problem_id"] in seen or not in_pool(row["problem_id"], pool):
                continue
            seen.add(row["problem_id"])
            rows.append(row)
            made += 1
    random.Random(f"preftree.synthetic.order|{seed}|{pool}").shuffle(rows)
    for i, row in enumerate(rows):
        row["source_row"] = i
    if not rows:
        return pl.DataFrame(schema=INSTRUCTION_SCHEMA)
    return conform(pl.DataFrame(rows, schema=INSTRUCTION_SCHEMA), INSTRUCTION_SCHEMA, what="synthetic")


def render_solution(record: Mapping[str, Any], *, mistake: str | None = None, rng: random.Random) -> str | None:
    """An UltraInteract-style response for a row of ``generate``'s frame.

    mistake=None: correct (math answer == ``answer``, code passes every test, logic picks the right
    letter). Otherwise the text and code consistently contain that mistake and the final result is
    wrong (the error location is re-drawn with ``rng`` until it is); None when that mistake cannot make
    this problem wrong. All randomness comes from ``rng``.
    """
    if mistake is not None and mistake not in MISTAKES:
        raise ValueError(f"unknown mistake {mistake!r}; expected one of {', '.join(MISTAKES)}")
    ref = json.loads(record["reference"])
    family = ref["family"]
    if family == "math":
        return math_solutions.render(ref, record["task"], mistake, rng)
    if family == "coding":
        return coding.render(ref, mistake, rng, list(record["tests"]))
    if family == "logic":
        return logic.render(ref, mistake, rng)
    raise ValueError(f"unknown synthetic family {family!r}")


def applicable_mistakes(record: Mapping[str, Any]) -> list[str]:
    """The mistakes that can make this problem's solution wrong (render_solution tries every location)."""
    return [m for m in MISTAKES if render_solution(record, mistake=m, rng=random.Random(0)) is not None]


def pretraining_documents(
    n: int,
    *,
    seed: int,
    min_steps: int,
    max_steps: int,
    correct_fraction: float,
    tasks: Mapping[str, float] | None = None,
) -> list[dict[str, Any]]:
    """n documents {"task", "instruction", "response", "correct"} from pool "pretrain".

    About ``correct_fraction`` of the responses are correct; the others carry one random applicable
    mistake (a problem no mistake can break keeps its correct response and ``correct=True``).
    """
    if not 0.0 <= correct_fraction <= 1.0:
        raise ValueError(f"correct_fraction must be in [0, 1], got {correct_fraction}")
    frame = generate(n, seed=seed, pool="pretrain", tasks=tasks, min_steps=min_steps, max_steps=max_steps)
    docs = []
    for record in frame.iter_rows(named=True):
        rng = random.Random(f"preftree.pretrain|{seed}|{record['id']}")
        response, correct = None, True
        if rng.random() >= correct_fraction:
            for mistake in rng.sample(MISTAKES, len(MISTAKES)):
                response = render_solution(record, mistake=mistake, rng=rng)
                if response is not None:
                    correct = False
                    break
        if response is None:
            response = render_solution(record, rng=rng)
        docs.append(
            {"task": record["task"], "instruction": record["instruction"], "response": response, "correct": correct}
        )
    return docs
