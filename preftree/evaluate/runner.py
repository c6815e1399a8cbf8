"""Run a policy on benchmark items: single-turn pass@1 and multi-turn (MINT-style) success@k.

``generate`` is any callable with this signature (batched; one list of ``n`` texts per prompt)::

    generate(prompts: list[list[{"role", "content"}]], n: int, temperature: float, max_new_tokens: int,
             seed: int, stop: list[str]) -> list[list[str]]

A chat that ends with an assistant message asks the engine to continue that message (a prefill).

Single turn (:func:`evaluate`): each item's 0-shot prompt as one user message, with its benchmark's
generation settings (``preftree.evaluate.requests``: new tokens, stops, prefill); ``n`` samples per item
(pass@1 = mean correctness over samples and items; the paper uses greedy decoding, ``n=1``,
``temperature=0``). Math benchmarks: ``mode="both"`` runs the CoT *and* the PoT prompt and
:func:`summary` reports the better of the two per benchmark, as Eurus does; ``mode="cot"`` / ``"pot"``
runs one. Code and tiny-world items have one prompt and are run once whatever the mode.

Multi-turn (:func:`evaluate_multiturn`): after a wrong answer the environment's observation (the
``preftree.env`` format: ``"Out: ...\\nYour answer is wrong."`` for executed code, ``"Your answer is
wrong."`` otherwise; no language feedback, like Eurus's MINT setting) is appended as a user turn and
the model tries again, up to ``max_turns``. success@k is the share of items solved within k turns.
(MINT runs a separate episode per k; with deterministic decoding and the same observations the
cumulative count equals that.) Tiny-world Math_PoT trajectories keep their notebook state across turns
(``preftree.env.carry_over``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from preftree import env
from preftree.config.sandbox import SandboxParams
from preftree.evaluate.items import Item
from preftree.evaluate.registry import BENCHMARKS
from preftree.evaluate.requests import Settings, request_for, scored_response
from preftree.evaluate.scoring import Verdict, score_many
from preftree.generation.sampling import Message
from preftree.observation import Observation


class Generate(Protocol):
    def __call__(
        self,
        prompts: list[list[Message]],
        n: int,
        temperature: float,
        max_new_tokens: int,
        seed: int,
        stop: list[str],
    ) -> list[list[str]]: ...


@dataclass(frozen=True)
class Result:
    id: str
    benchmark: str
    family: str
    mode: str  # the prompt style: cot | pot (code and tiny items: cot)
    sample: int  # 0..n-1
    response: str
    correct: bool
    answer: str | None
    status: str


@dataclass
class MultiTurnResult:
    id: str
    benchmark: str
    family: str
    solved_turn: int | None  # 1-based turn of the first correct answer; None = not solved
    responses: list[str] = field(default_factory=list)
    feedback: list[str] = field(default_factory=list)


def _modes(item: Item, mode: str) -> tuple[str, ...]:
    if mode not in ("cot", "pot", "both"):
        raise ValueError(f"mode must be 'cot', 'pot' or 'both', got {mode!r}")
    if item.kind in ("code", "tiny", "multiple-choice", "text") or item.pot_prompt is None:
        return ("cot",)
    return ("cot", "pot") if mode == "both" else (mode,)


def _generate_checked(generate: Generate, prompts: list[list[Message]], n: int, **kw: Any) -> list[list[str]]:
    out = generate(prompts, n, kw["temperature"], kw["max_new_tokens"], kw["seed"], list(kw["stop"]))
    if len(out) != len(prompts) or any(len(texts) != n for texts in out):
        raise ValueError(f"generate returned {[len(t) for t in out]} texts for {len(prompts)} prompts x n={n}")
    return out


def evaluate(
    items: Sequence[Item],
    generate: Generate,
    *,
    mode: str = "both",
    n: int = 1,
    temperature: float = 0.0,
    max_new_tokens: int | None = None,
    seed: int = 0,
    stop: Sequence[str] = (),
    workers: int = 1,
    limits: SandboxParams,
    batch_size: int | None = None,
) -> list[Result]:
    """Generate for every (item, prompt style) and score; one :class:`Result` per sample, in item order.

    Each request follows its benchmark's protocol (``preftree.evaluate.requests``): the official
    new-token budget (``max_new_tokens``, when given, caps it), the benchmark's stop strings plus
    ``stop``, and the prefill, which starts the recorded and scored response. Requests that share a
    budget and stops go to ``generate`` together, ``batch_size`` at a time."""
    jobs = [(item, m, request_for(item, m, cap=max_new_tokens, extra_stop=tuple(stop)))
            for item in items for m in _modes(item, mode)]  # fmt: skip
    groups: dict[Settings, list[int]] = defaultdict(list)
    for j, (_, _, req) in enumerate(jobs):
        groups[req.settings].append(j)
    slots: list[list[Result]] = [[] for _ in jobs]
    for settings, members in groups.items():
        step = batch_size or max(1, len(members))
        for start in range(0, len(members), step):
            chunk = [jobs[j] for j in members[start : start + step]]
            texts = _generate_checked(
                generate,
                [req.messages for _, _, req in chunk],
                n,
                temperature=temperature,
                max_new_tokens=settings.max_new_tokens,
                seed=seed,
                stop=settings.stop,
            )
            responses = [[scored_response(req, t) for t in ts] for (_, _, req), ts in zip(chunk, texts, strict=True)]
            flat_items = [item for (item, _, _), t in zip(chunk, responses, strict=True) for _ in t]
            flat_modes = [m for (_, m, _), t in zip(chunk, responses, strict=True) for _ in t]
            flat_texts = [text for t in responses for text in t]
            verdicts = iter(score_many(flat_items, flat_texts, flat_modes, workers=workers, limits=limits))  # type: ignore[arg-type]
            for j, (item, m, _), t in zip(members[start : start + step], chunk, responses, strict=True):
                for sample, text in enumerate(t):
                    v = next(verdicts)
                    slots[j].append(
                        Result(item.id, item.benchmark, item.family, m, sample, text, v.correct, v.answer, v.status)
                    )
    return [r for slot in slots for r in slot]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def summary(results: Sequence[Result]) -> dict[str, Any]:
    """pass@1 per benchmark (by prompt style, and the better style) and per task family.

    Returns ``{"benchmarks": {name: {"pass@1", "best_mode", "by_mode": {mode: pass@1}, "n_items"}},
    "families": {family: {"pass@1", "n_items"}}}``; a family's figure is item-weighted over its
    benchmarks, each at its better prompt style."""
    per_item: dict[tuple[str, str, str], list[bool]] = defaultdict(list)
    family_of: dict[tuple[str, str], str] = {}
    for r in results:
        per_item[(r.benchmark, r.mode, r.id)].append(r.correct)
        family_of[(r.benchmark, r.id)] = r.family
    item_score = {key: _mean([float(c) for c in cs]) for key, cs in per_item.items()}
    by_mode: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for (bench, mode, _), value in item_score.items():
        by_mode[bench][mode].append(value)
    benchmarks: dict[str, Any] = {}
    families: dict[str, list[float]] = defaultdict(list)
    for bench in sorted(by_mode):
        rates = {m: _mean(v) for m, v in sorted(by_mode[bench].items())}
        best = max(rates, key=lambda m: (rates[m], m == "cot"))
        ids = sorted({i for (b, m, i) in item_score if b == bench and m == best})
        benchmarks[bench] = {"pass@1": rates[best], "best_mode": best, "by_mode": rates, "n_items": len(ids)}
        for i in ids:
            families[family_of[(bench, i)]].append(item_score[(bench, best, i)])
    return {
        "benchmarks": benchmarks,
        "families": {f: {"pass@1": _mean(v), "n_items": len(v)} for f, v in sorted(families.items())},
    }


# ----------------------------------------------------------------------------- multi-turn


def evaluate_multiturn(
    items: Sequence[Item],
    generate: Generate,
    *,
    max_turns: int = 5,
    mode: str = "auto",
    temperature: float = 0.0,
    max_new_tokens: int = 1024,
    seed: int = 0,
    stop: Sequence[str] = (),
    workers: int = 1,
    limits: SandboxParams,
) -> list[MultiTurnResult]:
    """Interact up to ``max_turns`` per item; the environment's observation follows each wrong answer.

    ``mode``: how math answers are judged (``auto``: executed when the response has code, else read from
    the text; ``cot`` / ``pot`` force one). Turn t samples with seed ``seed + t - 1``."""
    if max_turns < 1:
        raise ValueError("max_turns must be >= 1")
    out = [MultiTurnResult(it.id, it.benchmark, it.family, None) for it in items]
    histories: list[list[Message]] = [[{"role": "user", "content": it.prompt}] for it in items]
    prior: list[tuple[str, ...]] = [() for _ in items]
    active = list(range(len(items)))
    for turn in range(1, max_turns + 1):
        if not active:
            break
        texts = _generate_checked(
            generate,
            [list(histories[i]) for i in active],
            1,
            temperature=temperature,
            max_new_tokens=max_new_tokens,
            seed=seed + turn - 1,
            stop=stop,
        )
        responses = [t[0] for t in texts]
        verdicts = score_many(
            [items[i] for i in active],
            responses,
            mode,  # type: ignore[arg-type]
            workers=workers,
            limits=limits,
            prior_code=[prior[i] for i in active],
        )
        still: list[int] = []
        for i, response, v in zip(active, responses, verdicts, strict=True):
            out[i].responses.append(response)
            out[i].feedback.append(v.feedback)
            if v.correct:
                out[i].solved_turn = turn
                continue
            prior[i] = _carry(prior[i], v)
            histories[i] += [{"role": "assistant", "content": response}, {"role": "user", "content": v.feedback}]
            still.append(i)
        active = still
    return out


def _carry(prior: tuple[str, ...], v: Verdict) -> tuple[str, ...]:
    obs = Observation(v.feedback, v.correct, "pot" if v.mode == "pot" else "cot", v.code, v.answer, v.status, True)
    return env.carry_over(prior, obs)


def success_at_k(results: Sequence[MultiTurnResult], max_turns: int = 5) -> dict[int, float]:
    """{k: share of items solved within k turns} for k = 1..max_turns."""
    return {
        k: _mean([float(r.solved_turn is not None and r.solved_turn <= k) for r in results])
        for k in range(1, max_turns + 1)
    }


def multiturn_summary(results: Sequence[MultiTurnResult], max_turns: int = 5) -> dict[str, Any]:
    """success@k overall, per benchmark and per task family."""
    by_bench: dict[str, list[MultiTurnResult]] = defaultdict(list)
    by_family: dict[str, list[MultiTurnResult]] = defaultdict(list)
    for r in results:
        by_bench[r.benchmark].append(r)
        by_family[r.family].append(r)
    return {
        "all": success_at_k(results, max_turns),
        "benchmarks": {b: success_at_k(rs, max_turns) for b, rs in sorted(by_bench.items())},
        "families": {f: success_at_k(rs, max_turns) for f, rs in sorted(by_family.items())},
    }


def default_modes(name: str) -> tuple[str, ...]:
    """The prompt styles the registry lists for a benchmark (math: cot and pot)."""
    return BENCHMARKS[name].modes
