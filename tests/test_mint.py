"""MINT's own protocol (preftree.evaluate.mint) and its task checks (preftree.evaluate.mint_tasks), driven by
scripted ``generate`` callables: no model."""

from __future__ import annotations

from pathlib import Path

import pytest

from preftree.compose import from_conf
from preftree.config.evaluate import BenchmarkSource, EvalGenerationParams, EvalParams, MintParams, MultiTurnParams
from preftree.config.sandbox import SandboxParams
from preftree.evaluate import load_benchmark
from preftree.evaluate.mint import (
    INVALID_INPUT,
    LAST_STEP,
    STOP_WORDS,
    MintPrompts,
    assistant_message,
    execution_output,
    observation_message,
    run_mint,
    subset_success,
    tagged,
)
from preftree.evaluate.mint_tasks import (
    HUMANEVAL_PREFIX,
    THEOREMQA_PREFIX,
    literal_eval_arith,
    mint_options,
    mint_task,
    multiple_choice_success,
    reasoning_success,
    theoremqa_answer,
    theoremqa_success,
)
from preftree.evaluate.suite import run_suite
from tests.test_evaluate import needs_sandbox

FIX = Path(__file__).resolve().parent / "fixtures"
PROMPTS_DIR = FIX / "mint_prompts"
MINT_FILES = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "mint"
LIMITS = from_conf(SandboxParams, "sandbox", timeout_s=10.0)


def items(name: str) -> list:
    return load_benchmark(f"mint_{name}", FIX / "mint" / f"{name}_test_prompts.jsonl")


class Scripted:
    """Answers each episode (found by its first message) with the next of its scripted answers."""

    def __init__(self, script: dict[str, list[str]]) -> None:
        self.script = script
        self.calls: list[tuple[int, float, int, int, list[str]]] = []
        self.histories: list[list[dict[str, str]]] = []

    def __call__(self, prompts, n, temperature, max_new_tokens, seed, stop):
        self.calls.append((len(prompts), temperature, max_new_tokens, seed, list(stop)))
        out = []
        for messages in prompts:
            self.histories.append(messages)
            key = next(k for k in self.script if messages[0]["content"].endswith(k))
            turn = sum(m["role"] == "assistant" for m in messages)
            out.append([self.script[key][turn]])
        return out


PROMPTS = MintPrompts.load(PROMPTS_DIR)


# ----------------------------------------------------------------------------- the first message


def test_first_message_is_the_instruction_then_the_example_then_the_task():
    (item,) = items("mmlu")
    task = mint_task(item)
    first = PROMPTS.first_message(task, 5, 2)
    template = (PROMPTS_DIR / "mint/prompt/templates/template_with_tool.txt").read_text()
    example = (PROMPTS_DIR / "mint/tasks/in_context_examples/reasoning/with_tool.txt").read_text()
    assert first.startswith(template.split("{max_total_steps}")[0])
    assert "act 5 times and answer 2 times" in first
    assert first.index(example) < first.index("Task:\n" + task.prompt)
    assert first.endswith("---\n\nTask:\n" + task.prompt + "\n")
    assert "\n\n\n\n---" in first  # an empty tool description, as in Eurus's MINT runs


def test_prompts_load_from_the_checkout_root_or_its_mint_folder(tmp_path):
    assert MintPrompts.load(PROMPTS_DIR / "mint") == PROMPTS
    with pytest.raises(FileNotFoundError, match="not a mint-bench checkout"):
        MintPrompts.load(tmp_path)


def test_task_prompts_follow_mints_task_classes():
    (he,) = items("humaneval")
    assert mint_task(he).prompt == HUMANEVAL_PREFIX + he.meta["mint"]["prompt"]
    assert mint_task(he).example == "humaneval" and mint_task(he).check == "code"
    gsm = mint_task(items("gsm8k")[0])
    assert gsm.prompt == items("gsm8k")[0].meta["mint"]["prompt"].strip() and gsm.reference == "42"
    with pytest.raises(ValueError, match="protocol=mint runs MINT's own files"):
        mint_task(load_benchmark("gsm_plus", FIX / "evaluate" / "gsm_plus.jsonl")[0])


@pytest.mark.skipif(not MINT_FILES.is_dir(), reason="../shared/benchmarks/mint absent")
def test_every_mint_file_becomes_tasks():
    sizes = {}
    for name in ("gsm8k", "math", "hotpotqa", "mmlu", "theoremqa", "humaneval", "mbpp"):
        tasks = [mint_task(i) for i in load_benchmark(f"mint_{name}", MINT_FILES / f"{name}_test_prompts.json")]
        sizes[name] = len(tasks)
        if name == "theoremqa":
            assert all(t.prompt.startswith(THEOREMQA_PREFIX) and t.answer_type for t in tasks)
        if name == "mbpp":
            assert all('"""' not in t.prompt for t in tasks)
        if name == "mmlu":
            assert all(t.reference in dict(t.options) for t in tasks)
    assert sizes == {"gsm8k": 48, "math": 100, "hotpotqa": 43, "mmlu": 76, "theoremqa": 49, "humaneval": 45,
                     "mbpp": 91}  # fmt: skip


# ----------------------------------------------------------------------------- episodes


def test_two_wrong_solutions_end_the_episode():
    chosen = items("gsm8k")[:1]
    gen = Scripted({chosen[0].meta["mint"]["prompt"] + "\n": ["<solution> 30 </solution>", "<solution> 50 </solution>",
                                                               "<solution> 42 </solution>"]})  # fmt: skip
    (ep,) = run_mint(chosen, gen, PROMPTS, limits=LIMITS)
    assert ep.solved_turn is None and ep.terminate_reason == "max_propose_steps" and ep.proposals == 2
    assert len(gen.calls) == 2  # the third (right) answer is never asked for
    assert ep.feedback[0] == (
        "Observation:\nYour answer is wrong.\nYou have 4 steps left and 1 chances to propose solution left.\n"
    )
    assert ep.feedback[1] == ""
    _, temperature, max_new_tokens, seed, stop = gen.calls[1]
    assert (temperature, max_new_tokens, seed, tuple(stop)) == (0.0, 512, 1, STOP_WORDS)
    second = gen.histories[1]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[1]["content"] == "Assistant:\n<solution> 30 </solution>\n"


@needs_sandbox
def test_execute_then_the_right_answer_succeeds_at_turn_two():
    chosen = items("gsm8k")
    eggs_script = ["<thought> count </thought> <execute> eggs = 6 * 7\nprint(eggs) </execute>",
                   "The answer is <solution> 42 </solution>."]  # fmt: skip
    temp_script = ["<execute>t = 5 - 8</execute>", "<execute>print(t)</execute>", "<solution> -3 </solution>"]
    gen = Scripted(
        {chosen[0].meta["mint"]["prompt"] + "\n": eggs_script, chosen[1].meta["mint"]["prompt"] + "\n": temp_script}
    )
    eggs, temp = run_mint(chosen, gen, PROMPTS, limits=LIMITS, workers=2)
    assert eggs.solved_turn == 2 and eggs.terminate_reason == "task_success" and eggs.executions == 1
    assert eggs.feedback[0] == "Observation:\n42\nYou have 4 steps left and 2 chances to propose solution left.\n"
    assert temp.solved_turn == 3  # the session kept t across executions; -3 matches (5 % of |reference|)
    assert temp.feedback[0].startswith("Observation:\n[Executed Successfully with No Output]\n")
    assert temp.feedback[1].startswith("Observation:\n-3\n")


def test_invalid_answers_and_the_last_step_warning():
    chosen = items("gsm8k")[:1]
    gen = Scripted({chosen[0].meta["mint"]["prompt"] + "\n": ["I think it is 42.", "still thinking", "hmm", "well",
                                                               "42"]})  # fmt: skip
    (ep,) = run_mint(chosen, gen, PROMPTS, limits=LIMITS)
    assert ep.solved_turn is None and ep.terminate_reason == "max_steps" and ep.invalid == 5
    assert ep.feedback[0].startswith("Observation:\n" + INVALID_INPUT)
    assert ep.feedback[3].endswith("You have 1 steps left and 2 chances to propose solution left.\n" + LAST_STEP + "\n")


@needs_sandbox
def test_code_task_runs_the_solution_with_the_reference_tests():
    chosen = items("humaneval")
    key = chosen[0].meta["mint"]["prompt"] + "\n"
    wrong = "<solution>\ndef add_one(x):\n    return x + 2\n</solution>"
    right = "<solution>\ndef add_one(x):\n    return x + 1\n</solution>"
    (ep,) = run_mint(chosen, Scripted({key: [wrong, right]}), PROMPTS, limits=LIMITS)
    assert ep.solved_turn == 2 and ep.feedback[0].startswith("Observation:\nYour answer is wrong.\n")
    (ep,) = run_mint(chosen, Scripted({key: ["<execute>print(add_one(1))</execute>", right]}), PROMPTS, limits=LIMITS)
    assert ep.solved_turn == 2 and "NameError" in ep.feedback[0]  # nothing is defined before the model defines it


def test_solution_tags_and_history_format():
    assert tagged("a <solution> 1 </solution> b <solution>2</solution>", "solution") == "1\n2"
    assert tagged("<solution> 1 ", "solution") == ""
    assert assistant_message("Assistant: hi") == "Assistant: hi\n"
    assert observation_message(None, True, 3, 1).startswith("Observation:\nYou have 3 steps")
    assert execution_output("x" * 2500, "", True, None).endswith("x...\n[Output Truncated]")
    assert execution_output("", "", True, None) == "[Executed Successfully with No Output]"
    tb = 'Traceback (most recent call last):\n  File "<cell-1>", line 1\nZeroDivisionError: division by zero\n'
    assert execution_output("before\n", tb, False, None).endswith("ZeroDivisionError: division by zero")


def test_subsets_pool_their_benchmarks():
    from preftree.evaluate.mint import MintEpisode

    eps = [MintEpisode("1", "mint_humaneval", "Coding", 1), MintEpisode("2", "mint_mbpp", "Coding", None),
           MintEpisode("3", "mint_math", "Math", 5)]  # fmt: skip
    out = subset_success(eps, {"MINT-Code": ("mint_humaneval", "mint_mbpp"), "MINT-Math": ("mint_math", "mint_mmlu")})
    assert out["MINT-Code"] == {"success": 0.5, "n_items": 2, "benchmarks": ["mint_humaneval", "mint_mbpp"],
                                "complete": True}  # fmt: skip
    assert out["MINT-Math"]["complete"] is False and out["MINT-Math"]["success"] == 1.0


def test_suite_runs_the_mint_protocol_when_configured():
    params = EvalParams(
        policies=["sft"],
        benchmarks={"mint_mmlu": BenchmarkSource(str(FIX / "mint" / "mmlu_test_prompts.jsonl"), None)},
        math_mode="cot",
        generation=EvalGenerationParams(max_new_tokens=None, batch_size=4),
        multiturn=MultiTurnParams(["mint_mmlu"], 5, None, "mint", MintParams(str(PROMPTS_DIR), 2, 512, 30.0)),
    )

    def generate(prompts, n, temperature, max_new_tokens, seed, stop):
        multi = prompts[0][0]["content"].startswith("FIXTURE INSTRUCTION")
        return [["<solution> B ) 3 </solution>" if multi else "The answer is (B)."] * n for _ in prompts]

    result = run_suite(generate, params, seed=0, sandbox=LIMITS, workers=1)
    mt = result.metrics["multiturn"]
    assert mt["protocol"] == "mint" and mt["benchmarks"]["mint_mmlu"]["success@k"]["1"] == 1.0
    assert mt["subsets"]["MINT-Math"] == {"success": 1.0, "n_items": 1, "benchmarks": ["mint_mmlu"], "complete": False}
    assert result.multiturn.height == 1 and result.multiturn["solved_turn"].to_list() == [1]


# ----------------------------------------------------------------------------- MINT's checks


def test_reasoning_check():
    assert reasoning_success("42", " 42.0 ") and reasoning_success("42", "43.9")  # within 5 %
    assert not reasoning_success("42", "44.2")
    assert reasoning_success("-3", "-3.1")  # |reference| (mint-bench 3f7f12c; Eurus's runs predate it)
    assert reasoning_success("yes", "yes, both are american") and reasoning_success("42", "about 42")
    assert not reasoning_success("42", "forty-two")


def test_multiple_choice_check_keeps_mints_quirks():
    options = mint_options("Q?\nOptions: A ) 6 , B ) 121 , C ) 18107 , D ) 54,320")
    assert options == (("a", "6"), ("b", "121"), ("c", "18107"), ("d", "54,320"))
    assert multiple_choice_success("c", options, "C")
    assert multiple_choice_success("c", options, "18107")  # the right option's text
    assert not multiple_choice_success("c", options, "B")
    assert multiple_choice_success("c", options, "the correct one is b")  # a "c" occurs in it: MINT counts it
    assert not multiple_choice_success("c", options, "D ) 54,320")
    assert not multiple_choice_success("a", options, "B ) 121")
    skipped = mint_options("Q?\nOptions: A ) 1 , B ) 2 , C ) 12 , D ) 5")
    # '1' and '12' are dropped from the wrong options while iterating, which skips '2': the right text then
    # also matches a wrong option, and MINT judges it wrong (a proper removal would judge it right)
    assert not multiple_choice_success("c", skipped, "12")
    with pytest.raises(ValueError, match="has no"):
        mint_options("Q?\nOptions: A ) 1 , B 2")


def test_theoremqa_check():
    assert theoremqa_answer("x = 3.0 m") == 3.0 and theoremqa_answer("approximately 2.5") == 2.5
    assert theoremqa_answer("(1, 3)") == [1, 3] and theoremqa_answer("True") is True
    assert theoremqa_answer("b") == "(b)" and theoremqa_answer("$12^\\circ$") is None
    assert theoremqa_success(1.12, "float", "1.15") and not theoremqa_success(1.12, "float", "1.2")
    assert theoremqa_success(25, "integer", "25.4") and not theoremqa_success(25, "integer", "26")
    assert theoremqa_success([0, 5], "list of integer", "[5, 0]")
    assert not theoremqa_success([0, 5], "list of integer", "[5]")
    assert theoremqa_success(False, "bool", "false") and theoremqa_success("a", "option", "(a)")
    assert not theoremqa_success(1000, "integer", "10^3")  # MINT turns it into math.pow(...), which its eval cannot run
    assert theoremqa_success(0.5, "float", "1/2")


def test_answers_are_evaluated_as_literals_only():
    assert literal_eval_arith("2**10 - 1") == 1023 and literal_eval_arith("[1, -2.5]") == [1, -2.5]
    assert literal_eval_arith("__import__('os').getcwd()") is None and literal_eval_arith("np.pi") is None
    assert literal_eval_arith("9**99999999") is None  # too large an exponent is not computed


def test_protocol_mint_needs_the_prompts_folder():
    from preftree.config.validate import build
    from preftree.config.workspace import ParamsError

    mint = {"prompts_dir": None, "max_propose_solution": 2, "max_new_tokens": 512, "repl_timeout_s": 30.0}
    data = {"benchmarks": ["mint_gsm8k"], "max_turns": 5, "limit": None, "protocol": "mint", "mint": mint}
    with pytest.raises(ParamsError, match="multiturn.mint.prompts_dir: protocol mint reads MINT's prompts"):
        build(MultiTurnParams, data, "eval.multiturn")
    assert build(MultiTurnParams, {**data, "protocol": "feedback"}, "eval.multiturn").protocol == "feedback"
