"""The scripted (offline) teacher: an actor that writes UltraInteract-format actions from the ground
truth with realistic mistakes, and a critic that locates the wrong step by comparing with it.

Actor
-----
Sample i of a request is wrong with probability ``mistake_rate * mistake_decay ** (turn - 1)``
(mistakes become rarer after each critique); ``weak=True`` makes every sample wrong (a weaker model),
``guided=True`` makes every sample correct (the actor was shown the ground truth). All randomness
comes from a ``random.Random`` seeded by sha256 of (request seed, record id, turn, sample index,
actor name): stable across processes, never Python's salted ``hash``.

* Synthetic records (``reference`` with a ``family``): ``render_solution`` writes the action; the
  mistake kind is drawn by the ``mistakes`` weights among ``applicable_mistakes(record)``. When no
  weighted kind applies, the final answer is perturbed instead (``perturbed_answer``).
* Other records (what the scripted actor supports, ``UnsupportedRecord`` otherwise):

  - Math_CoT / Math_PoT with an ``answer``: the steps come from the reference ``rationale`` (GSM8K
    calculator annotations ``<<...>>`` removed; one line per step, or one sentence per step when the
    rationale is one paragraph), from an SVAMP ``expression``, or a single generic step when there is
    only the answer. CoT ends with ``Answer:\\n\\boxed{answer}``; PoT adds a fence whose
    ``# Step k:`` comments repeat the steps and which prints the answer. Mistake: ``off_by_one``
    (the final answer moved by one; the last step that states it is changed consistently).
  - Coding with reference ``code`` (MBPP / HumanEval): two generic steps and the reference code in a
    fence. Mistakes: ``wrong_operator`` (one operator in the function body swapped, e.g. ``<`` ->
    ``<=``, ``+`` -> ``-``) or ``off_by_one`` (an integer literal moved by one). Such an action is
    very likely, but not verified, to fail the tests (dataset code is never executed here).
  - Logic with an ``answer``: one step and ``Answer:\\n<answer>``; the mistake picks another option
    letter, flips yes/no / true/false, or moves a number by one.

Critic
------
Finds the first step where the action departs from the reference and says what is wrong and how to
fix it, UltraInteract style ("Step 3 is incorrect. You subtracted ... but this step needs ..."),
without giving the final answer:

* synthetic math: the first step whose value differs from the reference value (CoT: the stated
  value; PoT: the value of the step's assignments, evaluated with a tiny arithmetic evaluator, the
  code is never executed), then the cause: a skipped step, a misread given, a wrong operator, a wrong
  quantity or number, wrongly grouped operations, or an arithmetic slip;
* synthetic code: the first ``# Step k`` block whose code differs from the reference step (with the
  offending tokens) and the first failing test quoted in the observation;
* synthetic logic: the clue or premise that was misread, swapped or ignored, or a wrong pick from a
  correct order / a reversed conclusion;
* other data: the first action step whose result does not occur in the reference rationale, or the
  first code line that departs from the reference code; a generic hint otherwise.
"""

from __future__ import annotations

import ast
import difflib
import io
import json
import random
import re
import tokenize
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from preftree.agents.base import Action, ActRequest, CritiqueRequest
from preftree.agents.cache import default_critique_key
from preftree.config import AgentParams
from preftree.hashing import record_digest, stable_seed
from preftree.sources.synthetic import MISTAKES, applicable_mistakes, render_solution

VERSION = 1  # bump when the scripted texts change: part of every cache key
LETTERS = "ABCDE"


class UnsupportedRecord(ValueError):
    """The scripted teacher cannot write an action for this record (see the module docstring)."""


def _reference(record: Mapping[str, Any]) -> dict[str, Any]:
    text = record.get("reference") or ""
    if not text:
        return {}
    try:
        ref = json.loads(text)
    except json.JSONDecodeError:
        return {"kind": "text", "text": text}
    return ref if isinstance(ref, dict) else {}


def _step_lines(texts: Sequence[str]) -> str:
    return "\n".join(f"Step {i}: {t}" for i, t in enumerate(texts, start=1))


def _fence(code: str) -> str:
    return f"```python\n{code.rstrip()}\n```"


def _number(text: str) -> str | None:
    """Canonical form of a number ("1,234" -> "1234", "5.0" -> "5"), else None."""
    t = text.strip().replace(",", "")
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)", t):
        return None
    try:
        num = Decimal(t)
    except InvalidOperation:
        return None
    return str(int(num)) if num == num.to_integral_value() else format(num.normalize(), "f")


def perturb_answer(answer: str, rng: random.Random) -> str:
    """A nearby wrong answer: a number moved by one, the last integer inside an expression moved by one."""
    num = _number(answer)
    if num is not None:
        delta = rng.choice((1, -1))
        moved = _number(str(Decimal(num) + delta))
        return moved if moved is not None and moved != num else str(Decimal(num) + 1)
    found = list(re.finditer(r"\d+", answer))
    if found:
        m = found[-1]
        return answer[: m.start()] + str(int(m.group()) + 1) + answer[m.end() :]
    return f"{answer} + 1" if answer else "1"


# ============================================================================================
# actor


@dataclass
class _Drawn:
    text: str
    mistake: str | None


class ScriptedActor:
    """Writes actions from the ground truth; see the module docstring for the mistake model."""

    def __init__(self, params: AgentParams, *, name: str = "teacher") -> None:
        if not 0.0 <= params.mistake_rate <= 1.0:
            raise ValueError(f"mistake_rate must be in [0, 1], got {params.mistake_rate}")
        if not 0.0 <= params.mistake_decay <= 1.0:
            raise ValueError(f"mistake_decay must be in [0, 1], got {params.mistake_decay}")
        unknown = [m for m in params.mistakes if m not in MISTAKES]
        if unknown:
            raise ValueError(f"unknown mistake kind(s) {unknown}; expected some of {', '.join(MISTAKES)}")
        if any(w < 0 for w in params.mistakes.values()):
            raise ValueError(f"mistake weights must be non-negative, got {dict(params.mistakes)}")
        self.params = params
        self.name = name
        self.identity = f"scripted:{name}" + (":weak" if params.weak else "")
        self._applicable: dict[str, list[str]] = {}

    def __repr__(self) -> str:
        return f"ScriptedActor({self.identity!r})"

    def config(self) -> dict[str, Any]:
        p = self.params
        return {
            "version": VERSION,
            "mistake_rate": p.mistake_rate,
            "mistake_decay": p.mistake_decay,
            "weak": p.weak,
            "mistakes": dict(sorted(p.mistakes.items())),
        }

    def act_key(self, request: ActRequest) -> dict[str, Any]:
        return {
            "messages": [dict(m) for m in request.messages],
            "record": record_digest(request.record),
            "sampling": {**self.config(), "name": self.name, "turn": request.turn, "guided": request.guided},
            "seed": request.seed,
            "n": request.n,
        }

    def wrong_probability(self, turn: int, *, guided: bool = False) -> float:
        if guided:
            return 0.0
        if self.params.weak:
            return 1.0
        return self.params.mistake_rate * self.params.mistake_decay ** max(0, turn - 1)

    def act(self, requests: Sequence[ActRequest]) -> list[list[Action]]:
        return [[self._sample(req, i) for i in range(req.n)] for req in requests]

    def _sample(self, req: ActRequest, index: int) -> Action:
        record = req.record
        rid = str(record.get("id", ""))
        rng = random.Random(stable_seed("scripted.actor", req.seed, rid, req.turn, index, self.name))
        p = self.wrong_probability(req.turn, guided=req.guided)
        wrong = rng.random() < p
        ref = _reference(record)
        if "family" in ref:
            drawn = self._synthetic(record, ref, wrong, rng)
        else:
            drawn = self._other(record, ref, wrong, rng)
        sampling = {"seed": req.seed, "index": index, "turn": req.turn, "guided": req.guided, "p_wrong": p}
        return Action(text=drawn.text, actor=self.identity, sampling=sampling, mistake=drawn.mistake)

    def _pick(self, kinds: Sequence[str], rng: random.Random) -> str | None:
        weighted = [(k, self.params.mistakes.get(k, 0.0)) for k in kinds]
        weighted = [(k, w) for k, w in weighted if w > 0]
        if not weighted:
            return None
        return rng.choices([k for k, _ in weighted], weights=[w for _, w in weighted])[0]

    # ---------------------------------------------------------------- synthetic

    def _applicable_for(self, record: Mapping[str, Any]) -> list[str]:
        key = f"{record.get('id')}|{record_digest(record)}"
        if key not in self._applicable:
            if len(self._applicable) > 50_000:
                self._applicable.clear()
            self._applicable[key] = applicable_mistakes(record)
        return self._applicable[key]

    def _synthetic(self, record: Mapping[str, Any], ref: Mapping[str, Any], wrong: bool, rng: random.Random) -> _Drawn:
        correct = render_solution(record, rng=rng)
        assert correct is not None
        if not wrong:
            return _Drawn(correct, None)
        kind = self._pick(self._applicable_for(record), rng)
        if kind is not None:
            text = render_solution(record, mistake=kind, rng=rng)
            if text is not None:
                return _Drawn(text, kind)
        return _Drawn(_perturb_synthetic(record, ref, correct, rng), "perturbed_answer")

    # ---------------------------------------------------------------- other datasets

    def _other(self, record: Mapping[str, Any], ref: Mapping[str, Any], wrong: bool, rng: random.Random) -> _Drawn:
        task = record.get("task")
        answer = (record.get("answer") or "").strip()
        if task in ("Math_CoT", "Math_PoT"):
            if not answer:
                raise UnsupportedRecord(f"scripted actor: {task} record {record.get('id')} has no answer")
            steps = _math_steps(ref)
            if not wrong:
                return _Drawn(_math_action(task, steps, answer), None)
            kind = self._pick(["off_by_one"], rng) or "perturbed_answer"
            bad = perturb_answer(answer, rng)
            return _Drawn(_math_action(task, _restate_last(steps, answer, bad), bad), kind)
        if task == "Coding":
            code = ref.get("code") if ref.get("kind") == "code" else None
            if not code:
                raise UnsupportedRecord(
                    f"scripted actor: Coding record {record.get('id')} has no reference code "
                    "(supported: synthetic, mbpp, humaneval or any reference {'kind': 'code', 'code': ...})"
                )
            entry = ref.get("entry_point") or ""
            if not wrong:
                return _Drawn(_code_action(code, entry), None)
            options = {k: code_mutations(code, k) for k in ("wrong_operator", "off_by_one")}
            kind = self._pick([k for k, v in options.items() if v], rng)
            if kind is None:
                kind = next((k for k, v in options.items() if v), None)
            if kind is None:
                broken = re.sub(rf"\bdef\s+{re.escape(entry)}\b", f"def {entry}_", code, count=1) if entry else code
                return _Drawn(_code_action(broken, entry), "perturbed_answer")
            return _Drawn(_code_action(rng.choice(options[kind]), entry), kind)
        if task == "Logic":
            if not answer:
                raise UnsupportedRecord(f"scripted actor: Logic record {record.get('id')} has no answer")
            if not wrong:
                return _Drawn(_logic_action(answer), None)
            return _Drawn(_logic_action(_other_answer(answer, rng)), "perturbed_answer")
        raise UnsupportedRecord(f"scripted actor: unsupported task {task!r} for record {record.get('id')}")


def _perturb_synthetic(record: Mapping[str, Any], ref: Mapping[str, Any], correct: str, rng: random.Random) -> str:
    """A wrong action when no weighted mistake applies: move the final answer / pick another option."""
    family, task = ref["family"], record.get("task")
    if family == "math":
        if task == "Math_CoT":
            bad = perturb_answer(str(ref["answer"]), rng)
            return re.sub(r"\\boxed\{[^{}]*\}\s*$", lambda _: f"\\boxed{{{bad}}}", correct.rstrip())
        return re.sub(r"print\((\w+)\)\n```$", r"print(\1 + 1)\n```", correct.rstrip())
    if family == "logic":
        n = len(ref.get("options") or LETTERS)
        letters = [x for x in LETTERS[:n] if x != ref["answer"]]
        bad = rng.choice(letters)
        text = re.sub(r"which is option [A-E]\.", f"which is option {bad}.", correct)
        return re.sub(r"Answer:\n[A-E]\s*$", f"Answer:\n{bad}", text.rstrip())
    if family == "coding":
        from preftree.sources.synthetic.common import passes

        fence = re.search(r"```python\n(.*?)\n```", correct, re.S)
        assert fence is not None
        tests = list(record.get("tests") or [])
        mutated = code_mutations(fence.group(1), "wrong_operator") + code_mutations(fence.group(1), "off_by_one")
        rng.shuffle(mutated)
        for code in mutated:
            if not passes(code, tests):
                return correct[: fence.start(1)] + code + correct[fence.end(1) :]
        return correct  # pragma: no cover - every synthetic coding problem admits some mistake
    raise ValueError(f"unknown synthetic family {family!r}")


def _math_steps(ref: Mapping[str, Any]) -> list[str]:
    kind = ref.get("kind")
    if kind == "rationale" and str(ref.get("rationale") or "").strip():
        text = re.sub(r"<<[^<>]*>>", "", str(ref["rationale"]))
        lines = [re.sub(r"\s+", " ", ln).strip() for ln in text.splitlines()]
        lines = [ln for ln in lines if ln]
        if len(lines) == 1:
            parts = re.split(r"(?<=[.!?])\s+(?=[A-Z\\$])", lines[0])
            lines = [p.strip() for p in parts if p.strip()]
        return lines
    if kind == "expression" and str(ref.get("expression") or "").strip():
        expr = re.sub(r"\s+", " ", str(ref["expression"])).strip()
        return [f"Translate the question into the expression {expr}.", "Evaluate the expression."]
    return ["Work out the quantity the question asks for from the given numbers."]


def _restate_last(steps: list[str], answer: str, bad: str) -> list[str]:
    """Change the last step that states ``answer`` so that it states ``bad`` (keeps the text consistent)."""
    pattern = re.compile(rf"(?<![\w.]){re.escape(answer)}(?![\w]|\.\d)")
    out = list(steps)
    for i in range(len(out) - 1, -1, -1):
        hits = list(pattern.finditer(out[i]))
        if hits:
            m = hits[-1]
            out[i] = out[i][: m.start()] + bad + out[i][m.end() :]
            break
    return out


def _py_literal(answer: str) -> str:
    num = _number(answer)
    return num if num is not None else repr(answer)


def _math_action(task: str, steps: Sequence[str], answer: str) -> str:
    if task == "Math_CoT":
        return f"{_step_lines(steps)}\n\nAnswer:\n\\boxed{{{answer}}}"
    code = [f"# Step {k}: {s}" for k, s in enumerate(steps, start=1)]
    code += [f"answer = {_py_literal(answer)}", "print(answer)"]
    return f"{_step_lines(steps)}\n{_fence(chr(10).join(code))}"


def _code_action(code: str, entry: str) -> str:
    name = f"`{entry}`" if entry else "the required function"
    steps = [f"Define {name} with the signature the task asks for.", "Implement the logic and return the result."]
    return f"{_step_lines(steps)}\n{_fence(code)}"


def _logic_action(answer: str) -> str:
    return f"Step 1: Check each option against the context and keep the one it supports.\n\nAnswer:\n{answer}"


def _other_answer(answer: str, rng: random.Random) -> str:
    if re.fullmatch(r"[A-E]", answer):
        return rng.choice([x for x in LETTERS if x != answer])
    flips = {"yes": "no", "no": "yes", "true": "false", "false": "true"}
    if answer.lower() in flips:
        flipped = flips[answer.lower()]
        return flipped.capitalize() if answer[:1].isupper() else flipped
    return perturb_answer(answer, rng)


OP_SWAPS = {
    "+": "-",
    "-": "+",
    "*": "+",
    "//": "/",
    "/": "//",
    "%": "//",
    "<": "<=",
    "<=": "<",
    ">": ">=",
    ">=": ">",
    "==": "!=",
    "!=": "==",
    "+=": "-=",
    "-=": "+=",
    "and": "or",
    "or": "and",
}


def code_mutations(code: str, kind: str) -> list[str]:
    """Every single-token mutation of ``kind`` (wrong_operator | off_by_one) in the body of the first ``def``."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError):
        return []
    header_end, depth, in_def = None, 0, False
    for t in tokens:
        if not in_def:
            in_def = t.type == tokenize.NAME and t.string == "def"
        elif t.type == tokenize.OP and t.string in ("(", "[", "{"):
            depth += 1
        elif t.type == tokenize.OP and t.string in (")", "]", "}"):
            depth -= 1
        elif t.type == tokenize.OP and t.string == ":" and depth == 0:
            header_end = t.end
            break
    if header_end is None:
        return []
    lines = code.splitlines(keepends=True)
    out = []
    for t in tokens:
        if t.start < header_end or t.start[0] != t.end[0]:
            continue
        news: list[str] = []
        if kind == "wrong_operator" and t.type in (tokenize.OP, tokenize.NAME) and t.string in OP_SWAPS:
            news = [OP_SWAPS[t.string]]
        elif kind == "off_by_one" and t.type == tokenize.NUMBER and re.fullmatch(r"\d+", t.string):
            value = int(t.string)
            news = [str(value + 1)] + ([str(value - 1)] if value > 0 else [])
        row, col = t.start[0] - 1, t.start[1]
        for new in news:
            changed = list(lines)
            changed[row] = changed[row][:col] + new + changed[row][col + len(t.string) :]
            out.append("".join(changed))
    return out


# ============================================================================================
# parsing actions (shared by the critic)

STEP_RE = re.compile(r"^[ \t]*Step\s+(\d+)\s*:\s*(.*?)\s*$", re.M)
FENCE_RE = re.compile(r"```[ \t]*(?:python|py|Python)?[ \t]*\n(.*?)(?:```|\Z)", re.S)
CODE_STEP_RE = re.compile(r"^\s*#\s*Step\s+(\d+)\s*:?\s*(.*?)\s*$")


def split_action(text: str) -> tuple[str, str | None]:
    """(prose before the first code fence, the fenced code or None)."""
    m = FENCE_RE.search(text)
    if m is None:
        return text, None
    return text[: m.start()], m.group(1)


def prose_steps(prose: str) -> dict[int, str]:
    steps: dict[int, str] = {}
    for m in STEP_RE.finditer(prose):
        steps.setdefault(int(m.group(1)), m.group(2))
    return steps


def _eval_node(node: ast.AST, env: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Expression):
        return _eval_node(node.body, env)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in env:
            raise KeyError(node.id)
        return env[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval_node(node.operand, env)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        a, b = _eval_node(node.left, env), _eval_node(node.right, env)
        op = node.op
        if isinstance(op, ast.Add):
            return a + b
        if isinstance(op, ast.Sub):
            return a - b
        if isinstance(op, ast.Mult):
            return a * b
        if isinstance(op, ast.FloorDiv):
            return a // b
        if isinstance(op, ast.Div):
            return a / b
        if isinstance(op, ast.Mod):
            return a % b
        if isinstance(op, ast.Pow) and abs(b) <= 8:
            return a**b
    raise ValueError(f"unsupported expression node {type(node).__name__}")


def safe_eval(expr: str, env: Mapping[str, Any] | None = None) -> int | float | None:
    """Value of an arithmetic expression over numbers and known names; None when it is anything else."""
    try:
        value = _eval_node(ast.parse(expr.strip(), mode="eval"), env or {})
    except (
        SyntaxError,
        ValueError,
        KeyError,
        ZeroDivisionError,
        OverflowError,
        TypeError,
        RecursionError,
        MemoryError,
    ):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


OP_NAMES = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Div: "/", ast.Mod: "%", ast.Pow: "**"}


def expr_shape(expr: str) -> tuple[list[str], list[Any]] | None:
    """(operators in order, leaves in order: names as str, numbers as numbers) of an expression."""
    try:
        tree = ast.parse(expr.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    ops: list[str] = []
    leaves: list[Any] = []

    def walk(node: ast.AST) -> bool:
        if isinstance(node, ast.BinOp) and type(node.op) in OP_NAMES:
            ok = walk(node.left)
            ops.append(OP_NAMES[type(node.op)])
            return walk(node.right) and ok
        if isinstance(node, ast.Name):
            leaves.append(node.id)
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            leaves.append(node.value)
            return True
        return False

    return (ops, leaves) if walk(tree) else None


def tree_shape(tree: Any) -> tuple[list[str], list[Any]]:
    ops: list[str] = []
    leaves: list[Any] = []

    def walk(t: Any) -> None:
        if isinstance(t, list):
            walk(t[1])
            ops.append(t[0])
            walk(t[2])
        else:
            leaves.append(t)

    walk(tree)
    return ops, leaves


# ============================================================================================
# critic


@dataclass
class _MathStep:
    k: int
    desc: str = ""  # the step's description (text before the computation)
    expr: str = ""  # CoT: the shown arithmetic; PoT: the right-hand side of the step's last assignment
    var: str = ""  # PoT: the variable the step assigns last
    value: Any = None  # the step's result (stated for CoT, evaluated for PoT)
    computed: Any = None  # CoT: the shown arithmetic evaluated
    givens: dict[str, Any] = field(default_factory=dict)  # PoT: literal assignments in this step


class ScriptedCritic:
    """Locates the first wrong step with the ground truth and suggests the fix (never the final answer)."""

    def __init__(self, params: AgentParams | None = None, *, name: str = "critic") -> None:
        self.params = params
        self.name = name
        self.identity = f"scripted:{name}"

    def __repr__(self) -> str:
        return f"ScriptedCritic({self.identity!r})"

    def critique_key(self, request: CritiqueRequest) -> dict[str, Any]:
        return {**default_critique_key(request), "version": VERSION}

    def critique(self, requests: Sequence[CritiqueRequest]) -> list[str]:
        return [self.feedback(r) for r in requests]

    def feedback(self, request: CritiqueRequest) -> str:
        action = next((m["content"] for m in reversed(request.messages) if m["role"] == "assistant"), "")
        record = request.record
        ref = _reference(record)
        family = ref.get("family")
        if family == "math":
            return math_feedback(ref, record.get("task", ""), action)
        if family == "coding":
            return coding_feedback(ref, record, action, request.observation)
        if family == "logic":
            return logic_feedback(ref, action)
        task = record.get("task")
        if task in ("Math_CoT", "Math_PoT"):
            return other_math_feedback(ref, record, action)
        if task == "Coding":
            return other_code_feedback(ref, record, action, request.observation)
        return (
            "Your answer is wrong. Go back over the context and check each step of your reasoning against it; "
            "make sure the answer you give is the one your reasoning supports."
        )


# --------------------------------------------------------------------------------- math

VERB_PAST = {
    "+": "added",
    "-": "subtracted",
    "*": "multiplied",
    "//": "divided",
    "/": "divided",
    "%": "took a remainder",
}
OP_NOUN = {"+": "an addition", "-": "a subtraction", "*": "a multiplication", "//": "a division", "/": "a division"}


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _label_of(desc: str) -> str:
    """'Add 15 to X to get the cookies after baking' -> 'the cookies after baking'."""
    if " to get " not in desc:
        return ""
    return desc.rsplit(" to get ", 1)[1].strip().rstrip(".").strip()


def parse_math_action(action: str) -> tuple[list[_MathStep], Any]:
    """The steps of a math action with their values, and the final answer it reports."""
    prose, code = split_action(action)
    texts = prose_steps(prose)
    steps: dict[int, _MathStep] = {}
    final: Any = None
    if code is not None:
        env: dict[str, Any] = {}
        current = 0
        for line in code.splitlines():
            m = CODE_STEP_RE.match(line)
            if m:
                current = int(m.group(1))
                steps.setdefault(current, _MathStep(current, desc=m.group(2) or texts.get(current, "")))
                continue
            a = re.match(r"^\s*([A-Za-z_]\w*)\s*=\s*(.+?)\s*(#.*)?$", line)
            if a:
                name, expr = a.group(1), a.group(2)
                value = safe_eval(expr, env)
                env[name] = value
                if current:
                    step = steps.setdefault(current, _MathStep(current, desc=texts.get(current, "")))
                    if re.fullmatch(r"-?\d+(\.\d+)?", expr.strip()):
                        step.givens[name] = value
                    else:
                        step.expr, step.var, step.value = expr, name, value
                continue
            p = re.match(r"^\s*print\((.*)\)\s*$", line)
            if p:
                final = safe_eval(p.group(1), env)
        for k, text in texts.items():
            steps.setdefault(k, _MathStep(k, desc=text))
        for step in steps.values():
            if not step.desc:
                step.desc = texts.get(step.k, "")
            if step.value is None and step.givens:
                step.value = list(step.givens.values())[-1]
    else:
        for k, text in texts.items():
            step = _MathStep(k, desc=text)
            m = re.search(r":\s*([^:]*?)\s*=\s*(-?\d+(?:\.\d+)?)\s*\.?\s*$", text)
            if m:
                step.desc = text[: m.start()].strip()
                step.expr = m.group(1)
                step.value = safe_eval(m.group(2))
                step.computed = safe_eval(m.group(1).replace("×", "*").replace("÷", "/"))
            steps[k] = step
        boxed = re.findall(r"\\boxed\{([^{}]*)\}", action)
        if boxed:
            final = safe_eval(boxed[-1].replace(",", "")) if _number(boxed[-1]) is not None else boxed[-1]
    return [steps[k] for k in sorted(steps)], final


def _ref_math(ref: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, str], set[str]]:
    values = {g["var"]: g["value"] for g in ref["givens"]} | {s["var"]: s["value"] for s in ref["steps"]}
    labels = {g["var"]: g["label"] for g in ref["givens"]} | {s["var"]: s["label"] for s in ref["steps"]}
    return list(ref["steps"]), values, labels, {g["var"] for g in ref["givens"]}


def first_math_divergence(ref: Mapping[str, Any], action: str) -> int | None:
    """1-based number of the first step whose value differs from (or is missing in) the reference;
    len(steps) + 1 for an unneeded extra step; None when every step and the final answer agree."""
    steps, final = parse_math_action(action)
    by_k = {s.k: s for s in steps}
    rsteps = ref["steps"]
    for k, r in enumerate(rsteps, start=1):
        a = by_k.get(k)
        if a is None or a.value is None or a.value != r["value"]:
            return k
    if any(s.k > len(rsteps) for s in steps):
        return len(rsteps) + 1
    return None if final == ref["answer"] else len(rsteps)


def math_feedback(ref: Mapping[str, Any], task: str, action: str) -> str:
    steps, final = parse_math_action(action)
    rsteps, values, labels, given_vars = _ref_math(ref)
    n = len(rsteps)
    if not steps:
        first = rsteps[0]
        how = "print the result of the last step" if task == "Math_PoT" else "end with the result in \\boxed{}"
        return (
            "Your answer is wrong, and the solution does not lay out numbered steps that can be checked. "
            f"Work step by step: start from the quantities in the problem, e.g. Step 1 should "
            f"{_lower_first(first['text'])}, then compute each following quantity in turn and {how}."
        )
    k = first_math_divergence(ref, action)
    by_k = {s.k: s for s in steps}
    if k is None:
        return (
            f"Steps 1 to {n} compute the right quantities, but the answer was not accepted: make sure the final "
            "answer is given in the required format, as a plain number."
        )
    if k > n:
        return (
            f"Step {k} is unnecessary. Step {n} already gives {labels[ref['answer_var']]}, which is what the question "
            "asks for; stop there and report that value."
        )
    r = rsteps[k - 1]
    a = by_k.get(k)
    if k == n and a is not None and a.value == r["value"]:
        return (
            f"Step {n} is right, but the final answer you report is not the result of that step. Report exactly "
            "the value your last step computes."
        )
    describe = _lower_first(r["text"].rsplit(" to get ", 1)[0])
    head = f"Step {k} is incorrect."
    tail = (
        f" This step should give {r['value']} for {r['label']}; carry that value through the remaining steps."
        if k < n
        else f" This step should give {r['label']}; fix it and recompute the final answer."
    )
    if a is None:
        last = steps[-1]
        done = _label_of(last.desc) or f"Step {last.k}"
        more = "" if k == n else ", and continue from there"
        return (
            f"Step {k} is missing. Your solution stops at {done}, but the question asks for "
            f"{labels[ref['answer_var']]}: you still need to {describe} to get {r['label']}{more}."
        )
    # a skipped step: this step already computes a later reference quantity
    later = {s["var"]: j for j, s in enumerate(rsteps, start=1) if j > k}
    later_labels = {s["label"]: j for j, s in enumerate(rsteps, start=1) if j > k}
    a_label = _label_of(a.desc)
    if (a.var and a.var in later) or (a_label and a_label in later_labels):
        return (
            f"{head} It already works out {a_label or labels.get(a.var, a.var)}, but a step is missing before it: "
            f"first you need {r['label']}, i.e. {describe}. Insert that step and redo the following steps with it."
        )
    # a misread given (PoT: a literal assignment that disagrees with the problem)
    for var, v in a.givens.items():
        if var in given_vars and v != values[var]:
            return (
                f"{head} You used {v} for {labels[var]}, but the problem states {values[var]}. "
                f"Re-read the problem statement.{tail}"
            )
    a_shape = expr_shape(a.expr) if a.expr else None
    r_ops, r_leaves = tree_shape(r["tree"])
    if a_shape is not None:
        a_ops, a_leaves = a_shape
        if len(a_ops) == len(r_ops) and a_ops != r_ops:
            i = next(i for i, (x, y) in enumerate(zip(a_ops, r_ops, strict=True)) if x != y)
            verb = VERB_PAST.get(a_ops[i], f"used `{a_ops[i]}`")
            need = OP_NOUN.get(r_ops[i], "another operation")
            return f"{head} You {verb} where this step needs {need}: it should {describe}.{tail}"
        if len(a_leaves) == len(r_leaves):
            for x, y in zip(a_leaves, r_leaves, strict=True):
                msg = _leaf_message(x, y, values, labels, given_vars, code=task == "Math_PoT")
                if msg:
                    return f"{head} {msg} This step should {describe}.{tail}"
            if a.computed is not None and a.value is not None and a.computed != a.value:
                return f"{head} The arithmetic is off: {a.expr} is not {a.value}.{tail}"
            if a_ops == r_ops:
                return (
                    f"{head} The operations are grouped the wrong way: this step should {describe}; "
                    f"mind the order of operations.{tail}"
                )
    if a.computed is not None and a.value is not None and a.computed != a.value:
        return f"{head} The arithmetic is off: {a.expr} is not {a.value}.{tail}"
    return f"{head} This step should {describe}.{tail}"


def _leaf_message(
    got: Any, want: Any, values: Mapping[str, Any], labels: Mapping[str, str], given_vars: set[str], *, code: bool
) -> str | None:
    """A sentence for a wrong operand, or None when the operand is right."""
    if code:  # names against names, numbers against numbers
        if got == want:
            return None
        if isinstance(want, str) and isinstance(got, str):
            return f"You used {labels.get(got, got)} where {labels.get(want, want)} is needed."
        if isinstance(want, int) and isinstance(got, (int, float)):
            return f"The number {got} is wrong here: the problem gives {want}."
        if isinstance(want, str):
            return f"You used {got} where {labels.get(want, want)} ({values.get(want)}) is needed."
        return f"You used {labels.get(got, got)} where the number {want} from the problem is needed."
    want_value = values.get(want) if isinstance(want, str) else want
    if got == want_value:
        return None
    if isinstance(want, str):
        if want in given_vars and isinstance(got, (int, float)) and abs(got - want_value) == 1:
            return f"You used {got} for {labels[want]}, but the problem states {want_value}."
        other = next((v for v, x in values.items() if x == got and v != want), None)
        if other is not None:
            return f"You used {labels[other]} ({got}) where {labels[want]} ({want_value}) is needed."
        return f"You used {got} for {labels[want]}, which is {want_value}."
    return f"The number {got} is wrong here: the problem gives {want_value}."


# --------------------------------------------------------------------------------- coding

FAIL_MARK = re.compile(r"^\s*(assert .+)$", re.M)


def failing_test(tests: Sequence[str], observation: str) -> str | None:
    """The first of the record's tests quoted in the observation, else the first assert line in it."""
    for test in tests:
        for line in test.strip().splitlines():
            if line.strip().startswith("assert") and line.strip() in observation:
                return line.strip()
    m = FAIL_MARK.search(observation)
    return m.group(1).strip() if m else None


def _error_line(observation: str) -> str | None:
    for line in reversed(observation.strip().splitlines()):
        if re.match(r"^\w*(Error|Exception)\b", line.strip()):
            return line.strip()
    return None


def _tokens(line: str) -> list[str]:
    return re.findall(r"\w+|[^\w\s]+", line)


def token_diff(got: str, want: str) -> str:
    """'`>` should be `>=`'-style notes for a small edit; '' when the lines differ too much to say so."""
    a, b = _tokens(got), _tokens(want)
    parts = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag != "equal" and max(i2 - i1, j2 - j1) > 6:
            return ""
        if tag == "replace":
            parts.append(f"`{' '.join(a[i1:i2])}` should be `{' '.join(b[j1:j2])}`")
        elif tag == "delete":
            parts.append(f"`{' '.join(a[i1:i2])}` does not belong there")
        elif tag == "insert":
            parts.append(f"`{' '.join(b[j1:j2])}` is missing")
    return "; ".join(parts[:2])


def code_blocks(code: str) -> dict[int, list[str]]:
    """'# Step k' blocks of a code fence: k -> stripped, non-empty code lines."""
    blocks: dict[int, list[str]] = {}
    current = 0
    for line in code.splitlines():
        m = CODE_STEP_RE.match(line)
        if m:
            current = int(m.group(1))
            blocks.setdefault(current, [])
        elif current and line.strip() and not line.strip().startswith("#"):
            blocks[current].append(line.strip())
    return blocks


def _test_sentence(tests: Sequence[str], observation: str) -> str:
    test = failing_test(tests, observation)
    if test:
        return f" That is why `{test}` fails."
    err = _error_line(observation)
    return f" That is why the run ends with `{err}`." if err else ""


def coding_feedback(ref: Mapping[str, Any], record: Mapping[str, Any], action: str, observation: str) -> str:
    tests = list(record.get("tests") or [])
    _, code = split_action(action)
    rsteps = ref["steps"]
    want = [[ln.strip() for ln in s["lines"] if ln.strip()] for s in rsteps]
    why = _test_sentence(tests, observation)
    if code is None:
        return (
            "Your answer is wrong: there is no ```python code block with the function. Write the whole function in one."
            + why
        )
    blocks = code_blocks(code)
    if blocks:
        n = len(rsteps)
        for k in range(1, n + 1):
            got = blocks.get(k)
            r = want[k - 1]
            text = _lower_first(rsteps[k - 1]["text"])
            if got is None:
                return f"Step {k} is missing: the function still needs to {text}." + why
            if got == r:
                continue
            if k < n and got == want[k]:
                return f"Step {k} is incorrect: a step is missing before it. First you need to {text}." + why
            for g, w in zip(got, r, strict=False):
                if g != w:
                    diff = token_diff(g, w)
                    detail = f" In `{g}`, {diff}." if diff else ""
                    return f"Step {k} is incorrect.{detail} This step should {text}." + why
            return f"Step {k} is incorrect: it does not fully {text}." + why
        if len(blocks) > n:
            return f"Step {n + 1} is unnecessary: the function is complete after Step {n}; remove the extra code." + why
    flat = [re.sub(r"\s+", " ", ln.strip()) for ln in code.splitlines() if ln.strip()]
    for k, lines in enumerate(want, start=1):
        if not all(re.sub(r"\s+", " ", ln) in flat for ln in lines):
            return (
                f"Your code gets this part of the logic wrong: it should {_lower_first(rsteps[k - 1]['text'])}." + why
            )
    return "Your answer is wrong. Check the function name, the signature and what it returns against the task." + why


# --------------------------------------------------------------------------------- logic


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().rstrip(".")).lower()


def logic_feedback(ref: Mapping[str, Any], action: str) -> str:
    got = prose_steps(action)
    want = list(ref["steps"])
    if not got:
        return (
            "Your answer is wrong, and the reasoning is not laid out in numbered steps. Go through the context "
            "one statement at a time."
        )
    for k, w in enumerate(want, start=1):
        g = got.get(k)
        if g is None:
            return (
                f"Step {k} is missing: your reasoning stops before it reaches a conclusion the options can be "
                "checked against."
            )
        if _norm(g) == _norm(w):
            continue
        if re.sub(r"option [a-e]\b", "option", _norm(g)) == re.sub(r"option [a-e]\b", "option", _norm(w)):
            return (
                f"Step {k} names the wrong option: your conclusion is right, so give the letter of the option "
                "that states it."
            )
        if ref["kind"] == "ordering":
            return f"Step {k} is incorrect. " + _ordering_hint(ref, g, w)
        return f"Step {k} is incorrect. " + _syllogism_hint(ref, g, w)
    return f"Step {len(want)} picks the wrong option: check which letter matches your conclusion."


CLUE_RE = re.compile(r"Clue (\d+) says that (\w+) is (\w+) than (\w+)", re.I)
PREMISE_RE = re.compile(r"Premise (\d+) says all (\w+) are (\w+)", re.I)


def _ordering_hint(ref: Mapping[str, Any], got: str, want: str) -> str:
    g, w = CLUE_RE.search(got), CLUE_RE.search(want)
    attr, clues = ref["attribute"], ref["clues"]
    if g is not None and 1 <= int(g.group(1)) <= len(clues):
        j = int(g.group(1))
        clue = clues[j - 1]
        named = {g.group(2), g.group(4)}
        if named == {clue["more"], clue["less"]} and g.group(2) != clue["more"]:
            return (
                f'You read clue {j} backwards: "{clue["text"]}" means {clue["more"]} is {attr[2]} than '
                f"{clue['less']}, not the other way round. Redo the order with it."
            )
        if named != {clue["more"], clue["less"]}:
            return (
                f'Clue {j} ("{clue["text"]}") is about {clue["more"]} and {clue["less"]}, not the people '
                "you named. Redo the order with it."
            )
    if w is not None:
        i = int(w.group(1))
        return f'You skipped clue {i} ("{clues[i - 1]["text"]}"); every clue is needed to pin down the order.'
    if want.lower().startswith("combining"):
        return "The order you derive does not follow from the clues; place each person using all the clues."
    q = ref["question"]
    end = attr[4] if q["end"] == "top" else attr[5]
    return (
        f"Your order is right, but you picked the wrong person from it: the question asks for position "
        f"{q['rank'] + 1} counted from the {end} end, so count again from that end of your order."
    )


def _syllogism_hint(ref: Mapping[str, Any], got: str, want: str) -> str:
    g, w = PREMISE_RE.search(got), PREMISE_RE.search(want)
    start, end = ref["chain"][0], ref["chain"][-1]
    premises = ref["premises"]
    if g is not None and 1 <= int(g.group(1)) <= len(premises):
        j = int(g.group(1))
        p = premises[j - 1]
        if (g.group(2), g.group(3)) == (p["sup"], p["sub"]):
            return (
                f'You read premise {j} backwards: "{p["text"]}" says all {p["sub"]} are {p["sup"]}; '
                f"it does not say all {p['sup']} are {p['sub']}."
            )
        if (g.group(2), g.group(3)) != (p["sub"], p["sup"]):
            return (
                f'Premise {j} ("{p["text"]}") links {p["sub"]} to {p["sup"]}; you used a different category '
                "in its place."
            )
    if w is not None:
        i = int(w.group(1))
        return (
            f'The chain from {start} should continue with premise {i} ("{premises[i - 1]["text"]}"); you '
            "skipped it or followed a premise that does not start where the chain currently is."
        )
    if want.lower().startswith("therefore"):
        return (
            f"The conclusion is reversed or cut short: following the premises as a chain shows that all {start} "
            "belong to each later category; only that direction follows, never the converse."
        )
    return f"Follow the premises as a chain starting from {start} and state what must be true about {start} and {end}."


# --------------------------------------------------------------------------------- other datasets


def _numbers(text: str) -> list[str]:
    return [n for n in (_number(x) for x in re.findall(r"-?\d[\d,]*\.?\d*", text)) if n is not None]


def other_math_feedback(ref: Mapping[str, Any], record: Mapping[str, Any], action: str) -> str:
    prose, code = split_action(action)
    steps = prose_steps(prose)
    known = set(_numbers(str(record.get("problem") or record.get("instruction") or "")))
    if ref.get("kind") == "rationale":
        known |= set(_numbers(re.sub(r"<<([^<>]*)>>", r" \1 ", str(ref.get("rationale") or ""))))
    elif ref.get("kind") == "expression":
        known |= set(_numbers(str(ref.get("expression") or "")))
    answer = _number(str(record.get("answer") or ""))
    if answer:
        known.add(answer)
    if ref.get("kind") in ("rationale", "expression"):
        for k in sorted(steps):
            results = [_number(x) for x in re.findall(r"=\s*\$?(-?\d[\d,]*\.?\d*)", steps[k])]
            bad = [x for x in results if x is not None and x not in known]
            if bad:
                return (
                    f"Step {k} is incorrect: the value {bad[0]} does not follow from the problem. Re-check the "
                    "quantities this step combines and the operation it applies, then redo the later steps."
                )
    if steps:
        last = max(steps)
        return (
            f"Step {last} is incorrect: your steps do not lead to the answer you report. Re-check the last "
            "computation and make sure the final answer is exactly the result it produces."
        )
    return (
        "Your answer is wrong. Lay out the solution in numbered steps and check each computation against the problem."
    )


def other_code_feedback(ref: Mapping[str, Any], record: Mapping[str, Any], action: str, observation: str) -> str:
    tests = list(record.get("tests") or [])
    why = _test_sentence(tests, observation)
    prose, code = split_action(action)
    said = prose_steps(prose)
    reference = str(ref.get("code") or "") if ref.get("kind") == "code" else ""
    if code is None:
        return "Your answer is wrong: there is no ```python code block with the solution." + why
    if reference:
        mine = [ln for ln in code.splitlines() if ln.strip()]
        theirs = [ln for ln in reference.splitlines() if ln.strip()]
        sm = difflib.SequenceMatcher(a=[ln.strip() for ln in mine], b=[ln.strip() for ln in theirs], autojunk=False)
        for tag, i1, _i2, j1, _j2 in sm.get_opcodes():
            if tag == "equal":
                continue
            step = 0
            for ln in mine[: i1 + 1]:
                m = CODE_STEP_RE.match(ln)
                if m:
                    step = int(m.group(1))
            step = step or (max(said) if said else 0)  # no step comments: the last step writes the code
            where = f"Step {step} is incorrect." if step else "Your code has an error."
            if tag == "replace" and i1 < len(mine) and j1 < len(theirs):
                diff = token_diff(mine[i1].strip(), theirs[j1].strip())
                if diff:
                    return f"{where} In `{mine[i1].strip()}`, {diff}." + why
            return f"{where} Check the logic around `{mine[min(i1, len(mine) - 1)].strip()}`." + why
    return (
        "Your answer is wrong. Trace the failing case by hand and compare each step with what the task requires." + why
    )
