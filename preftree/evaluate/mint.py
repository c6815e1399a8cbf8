"""MINT's multi-turn protocol (Wang et al. 2023; paper §4: Eurus reports MINT's success rate at turn 5
with no language feedback), run on MINT's own ``<task>_test_prompts.json`` files.

How one episode goes, as MINT's ``GeneralEnv`` with ``F=None/max5_p2+tool+cd`` (the configuration of
Eurus's published MINT runs in mint-bench ``data/outputs/Eurus-*``):

1. The first user message is MINT's ``template_with_tool.txt`` filled with ``max_total_steps`` (5),
   ``max_propose_solution`` (2), an empty tool description (Eurus's runs list no tool), the task
   family's ``with_tool.txt`` in-context example and ``"Task:\\n" + <task prompt>``. The template and the
   examples are read at run time from a mint-bench checkout (``eval.multiturn.mint.prompts_dir``): this
   repository ships none of MINT's prompt text.
2. Each turn the model answers (greedy, ``max_new_tokens`` 512, MINT's stop words). An answer holding
   ``<solution>`` proposes a solution (the ``<solution>...</solution>`` contents, stripped and joined by
   newlines), checked by the task's MINT check (:mod:`preftree.evaluate.mint_tasks`); any other answer
   executes the ``<execute>...</execute>`` contents in a Python session that keeps its state across the
   episode (here: the project's sandbox replaying the earlier cells, ``preftree.env.build_program``).
   An answer with neither tag is invalid ("I don't understand your input...").
3. The episode ends at success, at the second proposed solution, or after 5 actions. Otherwise the
   next user message is ``"Observation:\\n"`` + the output (or ``"Your answer is wrong."``) + the
   countdown ``"You have N steps left and M chances to propose solution left."`` (+ ``"You should take
   the last step to propose a solution."`` when one step is left). No language feedback.
4. Assistant turns go back into the history as ``"Assistant:\\n" + answer + "\\n"``, as MINT logs them.

Success at turn k here is "solved within the first k actions of the 5-step episode"; MINT runs one
episode per k (``max1_p1`` ... ``max5_p2``, with their own countdowns), and the paper reports k = 5,
which is this episode's final success. Departures (stated in docs/evaluation-protocol.md): the
execution output is the sandbox's stdout + Python traceback, not IPython's (no ``Out[n]:`` prompts, a
plain rather than IPython-formatted traceback); TheoremQA answers are evaluated as literals and
arithmetic only (:mod:`preftree.evaluate.mint_tasks`); a prompt longer than the model's context is cut
from the left by the generator where MINT ends the episode with an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from preftree import env, sandbox
from preftree.config.sandbox import SandboxParams
from preftree.evaluate.items import Item
from preftree.evaluate.mint_tasks import MintTask, mint_task, text_success
from preftree.evaluate.scoring import limits_for
from preftree.generation.sampling import Message
from preftree.observation import NO_OUTPUT, TRUNCATED, limit_message, traceback_tail

# MINT's protocol text (mint/envs/general_env.py, mint/datatypes.py, mint/agents/vllm_agent.py).
STOP_WORDS = ("\nObservation:", "\nExpert feedback:", "\nTask:", "\n---", "\nHuman:")
INVALID_INPUT = (
    "I don't understand your input. \n"
    "If you want to execute code, please use <execute> YOUR_CODE_HERE </execute>.\n"
    "If you want to give me an answer, please use <solution> YOUR_SOLUTION_HERE </solution>.\n"
    "For example: The answer to the question is <solution> 42 </solution>. \n"
)
WRONG = "Your answer is wrong."
LAST_STEP = "You should take the last step to propose a solution."
OUTPUT_LIMIT = 2000  # characters of an execution output, then "...\n[Output Truncated]"

TEMPLATE_PATH = "prompt/templates/template_with_tool.txt"
EXAMPLE_PATH = "tasks/in_context_examples/{name}/with_tool.txt"
EXAMPLES = ("reasoning", "humaneval", "mbpp")

Generate = Callable[..., list[list[str]]]


@dataclass(frozen=True)
class MintPrompts:
    template: str  # template_with_tool.txt
    examples: dict[str, str]  # reasoning | humaneval | mbpp -> with_tool.txt

    @classmethod
    def load(cls, root: str | Path) -> MintPrompts:
        """The template and in-context examples of a mint-bench checkout (its root or its ``mint/``)."""
        base = Path(root).expanduser()
        if (base / "mint" / TEMPLATE_PATH).is_file():
            base = base / "mint"
        paths = {"template": base / TEMPLATE_PATH} | {n: base / EXAMPLE_PATH.format(name=n) for n in EXAMPLES}
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise FileNotFoundError(
                f"{root}: not a mint-bench checkout (git clone https://github.com/xingyaoww/mint-bench); "
                f"missing {', '.join(missing)}"
            )
        text = {k: p.read_text(encoding="utf-8") for k, p in paths.items()}
        return cls(text.pop("template"), text)

    def first_message(self, task: MintTask, max_steps: int, max_propose: int) -> str:
        return self.template.format(
            max_total_steps=max_steps,
            max_propose_solution=max_propose,
            tool_desc="",
            in_context_example=self.examples[task.example],
            task_prompt="Task:\n" + task.prompt,
        )


@dataclass
class MintEpisode:
    """One task's episode; ``solved_turn`` is the 1-based action at which it succeeded (None: not)."""

    id: str
    benchmark: str
    family: str
    solved_turn: int | None = None
    responses: list[str] = field(default_factory=list)
    feedback: list[str] = field(default_factory=list)  # the user message after each action ("" at the end)
    terminate_reason: str | None = None  # task_success | max_propose_steps | max_steps
    proposals: int = 0
    executions: int = 0
    invalid: int = 0

    @property
    def steps(self) -> int:
        return self.proposals + self.executions + self.invalid


@dataclass
class _State:
    task: MintTask
    episode: MintEpisode
    history: list[Message]
    cells: list[str] = field(default_factory=list)  # executed code, replayed before the next cell
    finished: bool = False


def tagged(text: str, tag: str) -> str:
    """The contents of every ``<tag>...</tag>`` in ``text``, each stripped, joined by newlines."""
    found = re.findall(rf"<{tag}>(.*?)</{tag}>", "\n" + text + "\n", re.DOTALL)
    return "\n".join(part.strip() for part in found)


def observation_message(observation: str | None, success: bool, steps_left: int, proposals_left: int) -> str:
    """MINT's ``StepOutput.to_str`` with the countdown and no feedback."""
    out = "Observation:\n"
    if observation is not None:
        out += observation + "\n"
    elif not success:
        out += WRONG + "\n"
    out += f"You have {steps_left} steps left and {proposals_left} chances to propose solution left.\n"
    if steps_left <= 1:
        out += LAST_STEP + "\n"
    return out


def assistant_message(response: str) -> str:
    """How MINT logs an answer in the history."""
    body = response if response.lstrip().startswith("Assistant:") else "Assistant:\n" + response
    return body + "\n"


def execution_output(stdout: str, stderr: str, ok: bool, limit: str | None) -> str:
    """What the session shows for an executed cell: stdout, then the traceback or the limit that ended it;
    NO_OUTPUT when empty; cut at OUTPUT_LIMIT characters; stripped."""
    out = stdout
    if not ok:
        out += traceback_tail(stderr) if stderr.strip() else ""
        if limit:
            out += ("\n" if out and not out.endswith("\n") else "") + limit
    if out == "":
        out = NO_OUTPUT
    if len(out) > OUTPUT_LIMIT:
        out = out[:OUTPUT_LIMIT] + "...\n" + TRUNCATED
    return out.strip()


def _execute(state: _State, code: str, limits: SandboxParams) -> str:
    program = env.build_program(code, state.cells)
    result = sandbox.run(program, limits=limits)
    ok = result.status == "ok"
    if result.status in ("ok", "error"):  # the session keeps what ran (a timed-out cell is not replayed)
        state.cells.append(code)
    return execution_output(result.stdout, result.stderr, ok, None if ok else limit_message(result, limits))


def _code_success(task: MintTask, solution: str, limits: SandboxParams) -> bool:
    cell_limits = limits_for(task.item, limits) if task.item is not None else limits
    passed, _ = sandbox.run_tests(solution, [str(task.reference)], limits=cell_limits)
    return passed


def _propose(state: _State, text: str, limits: SandboxParams) -> tuple[str | None, bool]:
    """(observation or None, success) of a proposed solution."""
    solution = tagged(text, "solution")
    if solution == "":
        return INVALID_INPUT, False
    task = state.task
    try:
        if task.check == "code":
            return None, _code_success(task, solution, limits)
        return None, text_success(task, solution)
    except (KeyError, ValueError) as exc:  # MINT shows the check's traceback as the observation
        return f"{type(exc).__name__}: {exc}", False


def _step(state: _State, text: str, *, max_steps: int, max_propose: int, limits: SandboxParams,
          repl_limits: SandboxParams) -> None:  # fmt: skip
    ep = state.episode
    ep.responses.append(text)
    if text:
        state.history.append({"role": "assistant", "content": assistant_message(text)})
    success = False
    observation: str | None
    if "<solution>" in text:
        ep.proposals += 1
        observation, success = _propose(state, text, limits)
    else:
        code = tagged(text, "execute")
        if code == "":
            ep.invalid += 1
            observation = INVALID_INPUT
        else:
            ep.executions += 1
            observation = _execute(state, code, repl_limits)
    if success:
        state.finished, ep.solved_turn, ep.terminate_reason = True, ep.steps, "task_success"
    elif ep.proposals >= max_propose:
        state.finished, ep.terminate_reason = True, "max_propose_steps"
    elif ep.steps >= max_steps:
        state.finished, ep.terminate_reason = True, "max_steps"
    if state.finished:
        ep.feedback.append("")
        return
    message = observation_message(observation, success, max_steps - ep.steps, max_propose - ep.proposals)
    ep.feedback.append(message)
    state.history.append({"role": "user", "content": message})


def run_mint(
    items: Sequence[Item],
    generate: Generate,
    prompts: MintPrompts,
    *,
    max_steps: int = 5,
    max_propose: int = 2,
    max_new_tokens: int = 512,
    seed: int = 0,
    workers: int = 1,
    limits: SandboxParams,
    repl_timeout_s: float = 30.0,
) -> list[MintEpisode]:
    """One MINT episode per ``mint_*`` item, all episodes advancing one action per ``generate`` call
    (greedy, one text per prompt, seed ``seed + turn - 1``). ``limits``: the sandbox limits (code checks
    use the benchmark's timeout, executions ``repl_timeout_s``)."""
    if max_steps < 1 or max_propose < 1:
        raise ValueError(f"max_steps ({max_steps}) and max_propose ({max_propose}) must be >= 1")
    repl_limits = replace(limits, timeout_s=repl_timeout_s, cpu_s=max(1, int(repl_timeout_s)))
    states = []
    for item in items:
        task = mint_task(item)
        first = prompts.first_message(task, max_steps, max_propose)
        states.append(
            _State(task, MintEpisode(task.id, task.benchmark, task.family), [{"role": "user", "content": first}])
        )
    for turn in range(1, max_steps + 1):
        active = [s for s in states if not s.finished]
        if not active:
            break
        texts = generate([list(s.history) for s in active], 1, 0.0, max_new_tokens, seed + turn - 1, list(STOP_WORDS))
        if len(texts) != len(active) or any(len(t) != 1 for t in texts):
            raise ValueError(f"generate returned {[len(t) for t in texts]} texts for {len(active)} prompts x n=1")
        responses = [t[0].rstrip() for t in texts]

        def advance(pair: tuple[_State, str]) -> None:
            _step(pair[0], pair[1], max_steps=max_steps, max_propose=max_propose, limits=limits,
                  repl_limits=repl_limits)  # fmt: skip

        pairs = list(zip(active, responses, strict=True))
        if workers > 1 and len(pairs) > 1:
            with ThreadPoolExecutor(max_workers=min(workers, len(pairs)), thread_name_prefix="mint") as pool:
                list(pool.map(advance, pairs))
        else:
            for pair in pairs:
                advance(pair)
    return [s.episode for s in states]


def subset_success(episodes: Sequence[MintEpisode], subsets: dict[str, Sequence[str]]) -> dict[str, Any]:
    """{subset: {"success", "n_items", "benchmarks"}} over the episodes of each subset's benchmarks that
    ran (Eurus's MINT-Code = humaneval + mbpp, MINT-Math = math + theoremqa + mmlu); a subset whose
    benchmarks are not all present is marked ``"complete": False``."""
    out: dict[str, Any] = {}
    ran = {e.benchmark for e in episodes}
    for name, benches in subsets.items():
        chosen = [e for e in episodes if e.benchmark in benches]
        if not chosen:
            continue
        out[name] = {
            "success": sum(e.solved_turn is not None for e in chosen) / len(chosen),
            "n_items": len(chosen),
            "benchmarks": sorted(b for b in benches if b in ran),
            "complete": all(b in ran for b in benches),
        }
    return out
