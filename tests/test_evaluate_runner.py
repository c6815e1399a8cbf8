"""The single-turn and multi-turn runners with fake ``generate`` callables."""

from __future__ import annotations

from pathlib import Path

import pytest

from preftree.compose import from_conf
from preftree.config.sandbox import SandboxParams
from preftree.evaluate import check_references as cr
from preftree.evaluate import evaluate, evaluate_multiturn, load_benchmark, multiturn_summary, success_at_k, summary
from tests.test_evaluate import needs_sandbox

FIX = Path(__file__).resolve().parent / "fixtures" / "evaluate"
LIMITS = from_conf(SandboxParams, "sandbox", timeout_s=5.0)


class FakeGenerate:
    """Answers by looking the item up from its first user message; ``plan(item, turn, prompt)`` -> text."""

    def __init__(self, items, plan):
        self.by_prompt = {}
        for it in items:
            self.by_prompt[it.prompt] = it
            if it.pot_prompt:
                self.by_prompt[it.pot_prompt] = it
        self.plan = plan
        self.calls = []

    def __call__(self, prompts, n, temperature, max_new_tokens, seed, stop):
        self.calls.append((len(prompts), n, temperature, max_new_tokens, seed, list(stop)))
        out = []
        for messages in prompts:
            prefill = messages[-1]["content"] if messages[-1]["role"] == "assistant" else ""
            chat = messages[:-1] if prefill else messages
            assert chat[-1]["role"] == "user"
            system = chat[0]["role"] == "system"  # GSM-Plus / SVAMP / ASDiv PoT: tool text as a system message
            users = [m for m in chat if m["role"] == "user"]
            item = self.by_prompt[users[0]["content"]]
            first = item.pot_prompt if system else users[0]["content"]
            turn = len(users)
            texts = [self.plan(item, turn, first, chat) for _ in range(n)]
            out.append([continuation(prefill, t) for t in texts])
        return out


def continuation(prefill: str, text: str) -> str:
    """What a model that wanted to write ``text`` continues a ``prefill`` with (the text after the
    prefill's fence and keyword when ``text`` has them; else the whole text)."""
    head = prefill.strip()
    at = text.find(head) if head else -1
    return text[at + len(head) :] if at >= 0 else text


def test_evaluate_single_turn_both_modes():
    items = load_benchmark("gsm_plus", FIX / "gsm_plus.jsonl") + load_benchmark("asdiv", FIX / "asdiv.json")

    def plan(item, turn, prompt, messages):
        pot = prompt == item.pot_prompt
        if item.benchmark == "asdiv":  # right in CoT only
            return "\\boxed{-1}" if pot else cr.reference_response(item)
        return cr.reference_response(item) if not pot or item.answer is None else "no idea"

    gen = FakeGenerate(items, plan)
    results = evaluate(items, gen, mode="both", n=2, max_new_tokens=64, seed=3, limits=LIMITS)
    assert len(results) == len(items) * 2 * 2  # both prompt styles, two samples each
    assert gen.calls == [(len(items) * 2, 2, 0.0, 64, 3, ["\n###\nProblem: "])]  # capped budget, the math stop
    s = summary(results)
    assert s["benchmarks"]["asdiv"] == {"pass@1": 1.0, "best_mode": "cot", "by_mode": {"cot": 1.0, "pot": 0.0},
                                        "n_items": 3}  # fmt: skip
    assert s["benchmarks"]["gsm_plus"]["by_mode"] == {"cot": 1.0, "pot": 0.5}
    assert s["families"] == {"Math": {"pass@1": 1.0, "n_items": 7}}


def test_evaluate_rejects_bad_generate_output():
    items = load_benchmark("asdiv", FIX / "asdiv.json")
    with pytest.raises(ValueError, match="generate returned"):
        evaluate(items, lambda prompts, *a: [["x"]], mode="cot", limits=LIMITS)


@needs_sandbox
def test_evaluate_code_and_tiny_families():
    items = load_benchmark("leetcode", FIX / "leetcode.jsonl") + load_benchmark("tiny", FIX / "tiny_heldout.parquet")
    first_coding = next(it.id for it in items if it.kind == "code")

    def plan(item, turn, prompt, messages):
        if item.id == first_coding:
            return "```python\nclass Solution:\n    pass\n```"
        return cr.reference_response(item)

    results = evaluate(items, FakeGenerate(items, plan), mode="both", workers=2, limits=LIMITS)
    assert len(results) == len(items)  # code and tiny items have one prompt style
    s = summary(results)
    assert s["benchmarks"]["leetcode"]["pass@1"] == pytest.approx(2 / 3)
    assert s["benchmarks"]["tiny"]["pass@1"] == 1.0
    assert set(s["families"]) == {"Coding", "Math_CoT", "Math_PoT", "Logic"}
    assert s["families"]["Coding"]["n_items"] == 5 and s["families"]["Coding"]["pass@1"] == pytest.approx(4 / 5)


@needs_sandbox
def test_multiturn_tiny_wrong_then_right():
    items = load_benchmark("tiny", FIX / "tiny_heldout.parquet")
    seen_feedback = {}

    def plan(item, turn, prompt, messages):
        if turn == 1:
            if item.family in ("Coding", "Math_PoT"):
                return "```python\nprint(undefined_name)\n```"
            return "The answer is \\boxed{-98765}." if item.family != "Logic" else "Answer: Z"
        seen_feedback[item.id] = messages[-1]["content"]
        return cr.reference_response(item)

    results = evaluate_multiturn(items, FakeGenerate(items, plan), max_turns=5, workers=2, limits=LIMITS)
    assert success_at_k(results) == {1: 0.0, 2: 1.0, 3: 1.0, 4: 1.0, 5: 1.0}
    assert all(r.solved_turn == 2 and len(r.responses) == 2 for r in results)
    for it in items:
        fb = seen_feedback[it.id]
        assert fb.endswith("Your answer is wrong.")
        if it.family in ("Coding", "Math_PoT"):
            assert fb.startswith("Out: ") and "NameError" in fb
    summ = multiturn_summary(results)
    assert summ["all"][1] == 0.0 and summ["families"]["Logic"][2] == 1.0


@needs_sandbox
def test_multiturn_benchmarks_and_unsolved():
    items = (
        load_benchmark("gsm_plus", FIX / "gsm_plus.jsonl")[:1] + load_benchmark("leetcode", FIX / "leetcode.jsonl")[:1]
    )

    def plan(item, turn, prompt, messages):
        if item.kind == "code":
            return "```python\nclass Solution:\n    def twoSum(self, nums, target):\n        return [0, 0]\n```"
        return "\\boxed{17}" if turn < 3 else "\\boxed{18}"

    results = evaluate_multiturn(items, FakeGenerate(items, plan), max_turns=4, limits=LIMITS)
    assert [r.solved_turn for r in results] == [3, None]
    assert len(results[1].responses) == 4 and "AssertionError" in results[1].feedback[0]
    assert results[0].feedback[:2] == ["Your answer is wrong."] * 2
    assert success_at_k(results, 4) == {1: 0.0, 2: 0.0, 3: 0.5, 4: 0.5}
