"""Message layouts for the model backends (hf, vllm, openai): actor, guided actor and critic.

* Actor: the UltraInteract history as is (the instruction already carries the task prefix), after an
  optional system prompt stating the response format of the released data: numbered ``Step k:``
  lines; for Math_PoT and Coding one ```python fence whose parts are commented ``# Step k:``
  (PoT prints its result); Math_CoT ends with ``Answer:`` and ``\\boxed{}``; Logic with ``Answer:``
  and the option letter.
* Guided actor (paper App. A.2 step 3, the last resort when sampling finds no correct action): the
  system prompt also carries the ground truth: coding gets the full reference code, tool-free math
  the worked rationale with the answer masked, PoT math the rationale and the answer, logic the
  reasoning; the actor is asked to write its own solution from it. Records without a worked solution,
  or of a dataset with answers only (``interact.answer_only``), never get a guided request
  (``preftree.interact.guidable``; paper App. A.2: such datasets use steps (1)-(2) only).
* Critic: modelled on MINT's GPT-4 feedback setup: an expert reads the trajectory and the latest
  observation, is shown the correct solution as a private reference that must not be revealed, and
  writes short feedback that names the first wrong step and how to fix it.
* Judge (``preftree.agents.judge``; paper §1.2: GPT-4 Turbo judged Magicoder-Evol-Instruct, which has no
  tests and no ground truth): shown the task and one response, it writes a brief check and ends with
  the line ``Verdict: correct`` or ``Verdict: wrong``; ``parse_verdict`` reads that line strictly.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from preftree.agents.base import ActRequest, CritiqueRequest, Message

ACTOR_SYSTEM = (
    "You solve problems by breaking them into small sub-problems and solving them one at a time.\n"
    'Write each step on its own line, numbered: "Step 1: ...", "Step 2: ...".\n'
    "{format}\n"
    "When the conversation contains feedback on an earlier attempt, find the mistake it points to, "
    "fix it, and write a complete new solution."
)

FORMATS: dict[str, str] = {
    "Math_CoT": (
        'Reason in plain text, without code. End with a blank line, then "Answer:" and, on the next line, '
        "the simplified final answer as \\boxed{...}."
    ),
    "Math_PoT": (
        "After the steps, write one ```python code block that carries them out, each part introduced by a "
        '"# Step k: ..." comment, and that prints the final answer with print().'
    ),
    "Coding": (
        "After the steps, write the complete solution in one ```python code block, each part introduced by a "
        '"# Step k: ..." comment. Do not add tests, example calls or input reading unless the task asks for it.'
    ),
    "Logic": (
        'End with a blank line, then "Answer:" and, on the next line, the answer (for a multiple-choice '
        "question, the option letter only)."
    ),
}

GUIDED_SUFFIX = (
    "\n\nA reference solution for this task is given below. Use it to write your own solution in the format "
    "above, with your own numbered steps and explanations; never mention that you were given a reference.\n"
    "Reference:\n{reference}"
)

CRITIC_SYSTEM = (
    "You are an expert who reviews an AI assistant's attempts at a task and gives it feedback. The assistant "
    "solves the task step by step and may use a Python interpreter; the environment shows it the execution "
    "output and whether its answer was correct."
)

CRITIC_USER = (
    "Here is the interaction so far, ending with the assistant's latest attempt and what the environment "
    "returned for it.\n\n{trajectory}\n\n"
    "Correct solution (a private reference for you: do NOT disclose it, nor the final answer, to the "
    "assistant):\n{ground_truth}\n\n"
    "The latest attempt is wrong. Write short, constructive feedback that helps the assistant get to the "
    'correct answer by itself: name the first step that goes wrong ("Step k is incorrect."), say what is '
    "wrong with it and how to fix it. Do not write the corrected solution and do not state the final answer.\n"
    "Expert feedback:"
)

MASK = "[MASKED]"


def format_rules(task: str) -> str:
    return FORMATS.get(task, "Number your steps and state the final answer clearly at the end.")


def _reference(record: Mapping[str, Any]) -> dict[str, Any]:
    text = record.get("reference") or ""
    try:
        ref = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {"kind": "text", "text": text}
    return ref if isinstance(ref, dict) else {"kind": "value", "value": ref}


def mask_answer(text: str, answer: str) -> str:
    """Replace every whole-token occurrence of ``answer`` (and ``\\boxed{answer}``) with [MASKED]."""
    answer = (answer or "").strip()
    if not answer:
        return text
    text = text.replace(f"\\boxed{{{answer}}}", f"\\boxed{{{MASK}}}")
    return re.sub(rf"(?<![\w.]){re.escape(answer)}(?![\w]|\.\d)", MASK, text)


def correct_solution(record: Mapping[str, Any]) -> str | None:
    """The ground-truth solution as text: a rendered synthetic solution, a rationale, or reference code."""
    ref = _reference(record)
    if "family" in ref:
        from preftree.sources.synthetic.problems import render_solution

        return render_solution(record, rng=random.Random(0))
    kind = ref.get("kind")
    if kind == "rationale" and ref.get("rationale"):
        return re.sub(r"<<[^<>]*>>", "", str(ref["rationale"])).strip()
    if kind == "code" and ref.get("code"):
        return f"```python\n{str(ref['code']).rstrip()}\n```"
    if kind == "expression" and ref.get("expression"):
        return f"Evaluate {ref['expression']}."
    if kind == "text" and ref.get("text"):
        return str(ref["text"])
    return None


def ground_truth(record: Mapping[str, Any]) -> str:
    """What the critic is shown: the correct solution plus the final answer / tests."""
    parts = []
    solution = correct_solution(record)
    if solution:
        parts.append(solution)
    answer = (record.get("answer") or "").strip()
    if answer:
        parts.append(f"Final answer: {answer}")
    tests = [t for t in (record.get("tests") or []) if t.strip()]
    if tests and record.get("task") == "Coding":
        parts.append("Tests:\n" + "\n".join(render_test(t) for t in tests[:8]))
    return "\n\n".join(parts) if parts else "(no reference solution available)"


def render_test(test: str, limit: int = 300) -> str:
    """A test as the critic reads it: a Python snippet as is, a stdin/stdout case as its input and output."""
    from preftree.schema import parse_stdio_test

    case = parse_stdio_test(test)
    if case is None:
        return test

    def cap(text: str) -> str:
        return text if len(text) <= limit else text[:limit] + "..."

    stdin, stdout = case
    return f"Input:\n{cap(stdin).rstrip()}\nExpected output:\n{cap(stdout).rstrip()}"


def guided_reference(record: Mapping[str, Any]) -> str:
    """The ground truth a guided actor may see (paper App. A.2 step 3)."""
    task = record.get("task", "")
    answer = (record.get("answer") or "").strip()
    solution = correct_solution(record)
    if task == "Coding":
        return solution or ground_truth(record)
    if task == "Math_CoT":
        if solution:
            return mask_answer(solution, answer)
        return "(no worked solution available; reason carefully)"
    if task == "Math_PoT":
        return "\n\n".join(p for p in (solution, f"Final answer: {answer}" if answer else "") if p)
    return "\n\n".join(p for p in (solution, f"Answer: {answer}" if answer and not solution else "") if p)


def actor_system(record: Mapping[str, Any], *, guided: bool) -> str:
    text = ACTOR_SYSTEM.format(format=format_rules(str(record.get("task", ""))))
    if guided:
        text += GUIDED_SUFFIX.format(reference=guided_reference(record))
    return text


def actor_messages(request: ActRequest, *, system_prompt: bool | None = True) -> list[Message]:
    """The chat an actor model sees. ``system_prompt``: True always, False never, None only when guided."""
    use = request.guided if system_prompt is None else system_prompt
    if request.guided and not use:
        raise ValueError("a guided request needs the system prompt (it carries the reference)")
    messages = [{"role": m["role"], "content": m["content"]} for m in request.messages]
    if use:
        messages.insert(0, {"role": "system", "content": actor_system(request.record, guided=request.guided)})
    return messages


def render_trajectory(messages: Sequence[Message], observation: str) -> str:
    """The history as labelled text blocks; the first user turn is the task, later ones observation + feedback."""
    blocks = []
    for i, m in enumerate(messages):
        if m["role"] == "system":
            continue
        if m["role"] == "assistant":
            blocks.append(f"[Assistant]\n{m['content']}")
        elif i == 0 or not blocks:
            blocks.append(f"[Task]\n{m['content']}")
        else:
            blocks.append(f"[Observation and feedback]\n{m['content']}")
    blocks.append(f"[Observation]\n{observation.strip() or '(no output)'}")
    return "\n\n".join(blocks)


def critic_messages(request: CritiqueRequest) -> list[Message]:
    user = CRITIC_USER.format(
        trajectory=render_trajectory(request.messages, request.observation),
        ground_truth=ground_truth(request.record),
    )
    return [{"role": "system", "content": CRITIC_SYSTEM}, {"role": "user", "content": user}]


JUDGE_SYSTEM = (
    "You are a meticulous senior software engineer who grades answers to programming tasks. There are no tests "
    "and no reference solution: you decide yourself whether a response solves its task."
)

JUDGE_USER = (
    "[Task]\n{instruction}\n\n[Response]\n{response}\n\n"
    "Does the response correctly and completely solve the task? Read its code and explanation, trace the code "
    "on an example where that helps, and look for bugs, unmet requirements and false claims. Write a brief "
    "check (a few sentences), then end with one last line that is exactly `Verdict: correct` or "
    "`Verdict: wrong`."
)

_VERDICT = re.compile(r"verdict\s*:\s*(correct|wrong)\.?", re.IGNORECASE)
REASON_CHARS = 1000  # the judge's check is kept up to this many characters


def judge_messages(instruction: str, response: str) -> list[Message]:
    """The chat a judge model sees: the task (as the actor saw it) and one response to it."""
    user = JUDGE_USER.format(instruction=instruction.strip(), response=response.strip() or "(empty response)")
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def parse_verdict(reply: str) -> tuple[bool | None, str]:
    """(correct, reason) from a judge's reply; correct is None when the reply is unparseable.

    Strict: the last non-empty line must be ``Verdict: correct`` or ``Verdict: wrong`` (any case, an
    optional final period, optionally wrapped in markdown ``**`` / backticks) and nothing else; the
    reason is the text before it. Anything else (no such line, a verdict mid-text, "correct-ish") is
    unparseable, and the reason quotes the start of the reply.
    """
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    last = lines[-1].strip("*`").strip() if lines else ""
    found = _VERDICT.fullmatch(last)
    if found is None:
        start = " ".join(reply.split())[:200]
        return None, f"unparseable judge reply (no final 'Verdict: correct|wrong' line): {start!r}"
    reason = "\n".join(lines[:-1]).strip()[:REASON_CHARS]
    return found.group(1).lower() == "correct", reason
