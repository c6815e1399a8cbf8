"""The official evaluation protocol per benchmark (issue #15 items 1 and 6): first-fence extraction, the
MBPP harness, the assistant prefill, per-benchmark budgets and stops, and the report's columns, Avg and
departure note, on hand-written cases."""

from __future__ import annotations

import pytest

from preftree.compose import from_conf
from preftree.config.evaluate import EvalGenerationParams
from preftree.config.sandbox import SandboxParams
from preftree.evaluate import BENCHMARKS, Item, evaluate, score_many
from preftree.evaluate.registry import max_new_tokens_for, official_max_new_tokens
from preftree.evaluate.requests import request_for, scored_response
from preftree.evaluate.scoring import (
    MBPP_HARNESS_NAMESPACE,
    first_fence_program,
    harness_tests,
    mbpp_program,
    mbpp_strip,
    program_for,
)
from preftree.generation.chat import ChatRenderer, continuation_text, split_prefill
from preftree.report_table import COLUMNS, PAPER_COLUMNS, label, policy_row, protocol_note
from tests.test_evaluate import needs_sandbox

LIMITS = from_conf(SandboxParams, "sandbox", timeout_s=5.0)


def code_item(benchmark: str, tests: tuple[str, ...], entry: str = "f", **meta: object) -> Item:
    style = "humaneval" if benchmark == "humaneval" else "mbpp"
    return Item(f"{benchmark}-1", benchmark, "code", "Coding", "Write f.", tests=tests, entry_point=entry,
                meta={"style": style, **meta})  # fmt: skip


# ----------------------------------------------------------------------------- first-fence extraction


def test_the_first_fence_is_the_program_cut_at_the_next_backticks() -> None:
    two = "Here:\n```python\ndef f(x):\n    return x\n```\nUsage:\n```python\nprint(f(1))\n```\n"
    assert first_fence_program(two) == "def f(x):\n    return x\n"  # not the last block (the usage example)
    assert first_fence_program("```python\nx = 1```  # closed mid-line\nmore") == "x = 1\n"  # cut at any ```
    assert first_fence_program("```python\ndef f():\n    return 1") == "def f():\n    return 1\n"  # unclosed
    assert first_fence_program("```text\nnot code\n```\n```\ny = 2\n```") == "y = 2\n"  # a text block is skipped
    assert first_fence_program("def f():\n    return 2\n") == "def f():\n    return 2\n"  # no fence: the text
    assert first_fence_program("```python\n\n```") == ""  # an empty block is no code


def test_the_benchmark_decides_first_or_last_fence() -> None:
    two = "```python\nfirst = 1\n```\n```python\nsecond = 2\n```"
    for name in ("humaneval", "mbpp", "mbpp_eurus", "leetcode"):
        assert BENCHMARKS[name].extraction == "first_fence"
        assert program_for(code_item(name, ("pass",)), two) == "first = 1\n"
    assert program_for(code_item("mint_mbpp", ("pass",)), two) == "second = 2\n"  # MINT keeps the last fence


# ----------------------------------------------------------------------------- the MBPP harness


def test_mbpp_strips_every_unindented_line_that_is_not_a_def() -> None:
    code = (
        "import math\nfrom collections import Counter\nLIMIT = 10\n\n@cache\n"
        "def f(x):\n    import re\n    return math.sqrt(x)\nclass A:\n    pass\ndefaults = 1\nprint(f(4))\n"
    )
    assert mbpp_strip(code) == "def f(x):\n    import re\n    return math.sqrt(x)\n    pass\ndefaults = 1"
    assert mbpp_program(code).startswith(MBPP_HARNESS_NAMESPACE)
    assert BENCHMARKS["mbpp_eurus"].harness == "mbpp" and BENCHMARKS["mbpp"].harness == "mbpp"
    assert BENCHMARKS["leetcode"].harness == "plain"


def test_mbpp_test_imports_run_before_the_asserts_only_under_the_harness() -> None:
    item = code_item("mbpp_eurus", ("assert math.isclose(f(2), 4.0)",), preamble="import math")
    assert harness_tests(item) == ("import math", "assert math.isclose(f(2), 4.0)")
    other = code_item("leetcode", ("assert True",), preamble="import math")
    assert harness_tests(other) == ("assert True",)  # a plain harness runs the preamble before the program instead


@needs_sandbox
def test_mbpp_programs_run_as_the_official_harness_runs_them() -> None:
    tests = ("assert f(16) == 4",)
    item = code_item("mbpp_eurus", tests)
    needs_math = "```python\nimport math\ndef f(x):\n    return int(math.sqrt(x))\n```"
    needs_re = "```python\nimport re\ndef f(x):\n    return len(re.findall('1', '1111'))\n```"
    inner = "```python\ndef f(x):\n    import math\n    return int(math.sqrt(x))\n```"
    constant = "```python\nFOUR = 4\ndef f(x):\n    return FOUR\n```"
    verdicts = score_many([item] * 4, [needs_math, needs_re, inner, constant], limits=LIMITS)
    assert [v.correct for v in verdicts] == [False, True, True, False]  # top-level import / constant stripped
    assert "NameError" in verdicts[0].feedback
    # the dataset's test imports make math.isclose asserts runnable (the official harness never runs them)
    iso = code_item("mbpp_eurus", ("assert math.isclose(f(2), 4.0)",), preamble="import math")
    (v,) = score_many([iso], ["```python\ndef f(x):\n    return x * 2.0\n```"], limits=LIMITS)
    assert v.correct


# ----------------------------------------------------------------------------- prefill


def test_prefill_is_a_trailing_assistant_message_and_starts_the_scored_response() -> None:
    item = code_item("humaneval", ("pass",), entry="add")
    req = request_for(item, "cot")
    assert req.messages[-1] == {"role": "assistant", "content": " ```python\ndef"}
    assert req.prefill == " ```python\ndef" and req.settings.max_new_tokens == 1024 and req.settings.stop == ()
    text = scored_response(req, " add(a, b):\n    return a + b\n```\nDone.")
    assert text == " ```python\ndef add(a, b):\n    return a + b\n```\nDone."
    assert first_fence_program(text) == "def add(a, b):\n    return a + b\n"
    assert request_for(code_item("leetcode", ("pass",)), "cot").prefill == "```python"
    assert request_for(code_item("mbpp_eurus", ("pass",)), "cot").prefill == "```python\ndef"
    tiny = Item("t", "tiny", "tiny", "Coding", "p")
    assert request_for(tiny, "cot").messages == [{"role": "user", "content": "p"}]  # no prefill, as before


def test_mbpp_stops_at_asserts_a_second_def_and_a_print_of_its_function() -> None:
    req = request_for(code_item("mbpp_eurus", ("pass",), entry="add"), "cot")
    assert req.settings.stop == ("\nassert", "assert", "\ndef ") and req.settings.max_new_tokens == 512
    assert req.item_stop == ("\n\nprint(add",)
    assert scored_response(req, " add(a, b):\n    return a + b\n\nprint(add(1, 2))") == (
        "```python\ndef add(a, b):\n    return a + b"
    )


def test_subset_pot_sends_the_tool_text_as_a_system_message() -> None:
    item = Item("g", "gsm_plus", "numeric", "Math", "COT PROMPT", answer="1", pot_prompt="POT PROMPT")
    chat = request_for(item, "pot").messages
    assert [m["role"] for m in chat] == ["system", "user"] and chat[1]["content"] == "COT PROMPT"
    assert "Present code in ```python```" in chat[0]["content"]
    math = Item("m", "math500", "math", "Math", "COT PROMPT", answer="1", pot_prompt="POT PROMPT")
    assert request_for(math, "pot").messages == [{"role": "user", "content": "POT PROMPT"}]


class SpaceDroppingTokenizer:
    """A SentencePiece-like tokenizer: one token per word, a leading word's space dropped when decoded alone."""

    chat_template = "yes"

    def __init__(self) -> None:
        self.vocab: list[str] = []

    def ids(self, words: list[str]) -> list[int]:
        out = []
        for w in words:
            if w not in self.vocab:
                self.vocab.append(w)
            out.append(self.vocab.index(w))
        return out

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(self.vocab[i] for i in ids).lstrip(" ")

    def apply_chat_template(self, chat, tokenize: bool, add_generation_prompt: bool) -> str:  # noqa: ANN001
        assert add_generation_prompt and chat[-1]["role"] == "user"
        return "".join(f"[INST] {m['content']} [/INST]" for m in chat)


def test_chat_renderer_continues_a_prefill_and_decodes_it_in_context() -> None:
    tok = SpaceDroppingTokenizer()
    render = ChatRenderer(tok, "fake")
    chat = [{"role": "user", "content": "Write add."}, {"role": "assistant", "content": "```python\ndef"}]
    assert render(chat) == "[INST] Write add. [/INST]```python\ndef"
    assert render(chat[:1]) == "[INST] Write add. [/INST]"  # no prefill: unchanged
    assert split_prefill(chat[:1]) == (chat[:1], "")
    with pytest.raises(ValueError, match="only an assistant message"):
        split_prefill(chat[1:])
    context, new = tok.ids(["def"]), tok.ids([" add", "(a):"])
    assert tok.decode(new) == "add(a):"  # decoded alone, the first word loses its space
    assert continuation_text(tok, context, new) == " add(a):"
    assert continuation_text(tok, [], new) == "add(a):"  # no prefill: the plain decode, as before


@needs_sandbox
def test_evaluate_scores_prefill_plus_continuation_with_each_benchmarks_budget() -> None:
    he = code_item("humaneval", ("assert add(1, 2) == 3",), entry="add",
                   code_prompt='def add(a, b):\n    """Add."""\n')  # fmt: skip
    tiny_like = Item("x", "mbpp_eurus", "code", "Coding", "p", tests=("assert add(2, 2) == 4",), entry_point="add",
                     meta={"style": "mbpp"})  # fmt: skip
    calls = []

    def generate(prompts, n, temperature, max_new_tokens, seed, stop):  # noqa: ANN001
        calls.append((len(prompts), max_new_tokens, list(stop), prompts[0][-1]["content"]))
        return [[" add(a, b):\n    return a + b\n```\nAnd a second block:\n```python\nadd = None\n```"]] * len(prompts)

    results = evaluate([he, tiny_like], generate, mode="cot", limits=LIMITS)
    assert calls == [(1, 1024, [], " ```python\ndef"), (1, 512, ["\nassert", "assert", "\ndef "], "```python\ndef")]
    assert [r.response.startswith(BENCHMARKS[r.benchmark].prefill) for r in results] == [True, True]
    assert [r.correct for r in results] == [True, True]  # the first fence, not the later `add = None`
    capped = evaluate([he], generate, mode="cot", max_new_tokens=64, limits=LIMITS)
    assert calls[-1][1] == 64 and capped[0].correct


# ----------------------------------------------------------------------------- budgets


def test_official_budgets_per_benchmark_and_prompt_style() -> None:
    expected = {("humaneval", "cot"): 1024, ("leetcode", "cot"): 1024, ("mbpp_eurus", "cot"): 512,
                ("mbpp", "cot"): 512, ("math", "cot"): 1024, ("math", "pot"): 2048, ("gsm_plus", "pot"): 2048,
                ("svamp", "cot"): 1024, ("asdiv", "pot"): 2048, ("theoremqa", "cot"): 1024,
                ("theoremqa", "pot"): 1024, ("tiny", "cot"): 256}  # fmt: skip
    for (name, mode), tokens in expected.items():
        assert official_max_new_tokens(name, mode) == tokens, (name, mode)
    assert max_new_tokens_for("math", "pot", None) == 2048
    assert max_new_tokens_for("math", "pot", 100) == 100 and max_new_tokens_for("mbpp", "cot", 4096) == 512
    assert BENCHMARKS["math"].stop == ("\n###\nProblem: ",) and BENCHMARKS["theoremqa"].stop == ("Question:",)


def test_conf_leaves_the_budget_to_the_registry_so_tiny_keeps_256() -> None:
    gen = from_conf(EvalGenerationParams, "eval.generation")
    assert gen.max_new_tokens is None
    assert max_new_tokens_for("tiny", "cot", gen.max_new_tokens) == 256  # the budget the tiny world always had


# ----------------------------------------------------------------------------- the report's columns


def full(name: str, value: float = 0.5) -> dict[str, float | int]:
    return {"pass@1": value, "n_items": BENCHMARKS[name].rows or 10}


PAPER_SINGLE = ("humaneval", "mbpp_eurus", "leetcode", "gsm_plus", "math", "theoremqa", "svamp", "asdiv")


def test_columns_are_named_by_the_data_evaluated() -> None:
    row = policy_row({"benchmarks": {"math500": full("math500"), "mbpp": {"pass@1": 0.3, "n_items": 500},
                                     "humaneval": {"pass@1": 0.25, "n_items": 12}}})  # fmt: skip
    assert row["MATH"] is None and row["MATH-500"] == pytest.approx(50.0)
    assert row["MBPP"] is None and row["MBPP (full)"] == pytest.approx(30.0)
    assert row["HumanE"] is None and row["HumanE (12 of 164)"] == pytest.approx(25.0)  # partial: its size shown
    assert label("mbpp_eurus", 399) == "MBPP" and label("math", 5000) == "MATH" and label("math500", 500) == "MATH-500"
    mint = {"multiturn": {"benchmarks": {"mint_humaneval": {"success@k": {"5": 0.4}, "n_items": 45},
                                         "tiny": {"success@k": {"3": 0.5}, "n_items": 6}}}}  # fmt: skip
    row = policy_row(mint)
    assert row["MINT-Code"] is None and row["MINT HumanEval"] == pytest.approx(40.0)  # MBPP's half did not run
    assert row["Tiny-MT"] == pytest.approx(50.0)


def test_avg_only_when_all_twelve_paper_columns_ran() -> None:
    assert BENCHMARKS["bbh_eurus"].column == "BBH" and BENCHMARKS["ifeval"].column == "IFEval"
    assert BENCHMARKS["bbh"].column != "BBH"  # exact match after "So the answer is": not the paper's BBH rule
    benchmarks = {name: full(name) for name in (*PAPER_SINGLE, "bbh_eurus", "ifeval")}
    multi = {name: {"success@k": {"5": 0.5}, "n_items": BENCHMARKS[name].rows}
             for name in ("mint_humaneval", "mint_mbpp", "mint_math", "mint_theoremqa", "mint_mmlu")}  # fmt: skip
    row = policy_row({"benchmarks": benchmarks, "multiturn": {"benchmarks": multi}})
    assert all(row[c] == pytest.approx(50.0) for c in PAPER_COLUMNS) and row["Avg"] == pytest.approx(50.0)
    del benchmarks["leetcode"]
    assert policy_row({"benchmarks": benchmarks, "multiturn": {"benchmarks": multi}})["Avg"] is None


def test_avg_is_missing_while_a_paper_column_is() -> None:
    row = policy_row({"benchmarks": {name: full(name) for name in PAPER_SINGLE}})
    assert all(row[c] == pytest.approx(50.0) for c in ("HumanE", "MBPP", "LeetC", "GSM+", "MATH", "ASDiv"))
    assert row["Avg"] is None and list(row)[: len(COLUMNS)] == list(COLUMNS)


def test_the_note_lists_every_remaining_departure_and_cap() -> None:
    evals = {"sft": {"benchmarks": {"math500": {**full("math500"), "max_new_tokens_by_mode": {"cot": 64, "pot": 2048}},
                                    "mbpp_eurus": full("mbpp_eurus"), "tiny": full("tiny")}}}  # fmt: skip
    rows = {p: policy_row(m) for p, m in evals.items()}
    note = protocol_note(evals, rows)
    assert "- **Avg**: the mean of all 12 paper columns, shown only when all ran; not run here: HumanE," in note
    assert "- **MATH-500** (`math500`): data: MATH-500, not the MATH test set" in note
    assert "as_completed" in note and "cot 64 (official 1024)" in note and "pot 2048" not in note
    assert "- **MBPP** (`mbpp_eurus`): " in note and "defaultdict" in note
    assert "`tiny`" not in note  # the tiny world's own protocol has nothing to depart from
    for spec in BENCHMARKS.values():
        assert spec.column, spec.name
        if spec.official and spec.name != "tiny":
            assert spec.max_new_tokens, spec.name


def test_the_budget_used_is_recorded_but_is_no_dvc_metric() -> None:
    from preftree.provenance import headline_metrics

    logged = {"benchmarks": {"tiny": {"pass@1": 0.5, "n_items": 3, "max_new_tokens_by_mode": {"cot": 256}}}}
    assert headline_metrics(logged) == {"benchmarks": {"tiny": {"pass@1": 0.5, "n_items": 3}}}
