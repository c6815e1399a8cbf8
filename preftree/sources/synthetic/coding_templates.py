"""The function-writing templates behind the Coding family (see ``coding.py`` for the engine).

A template is: a statement (``{param}`` placeholders), a signature, numbered steps whose text and
code lines share ``{slot}`` placeholders, a trusted reference implementation ``solve`` (used only to
compute expected test values) and an input sampler. A *slot* holds the correct code fragment and the
wrong fragments a given mistake would write; because step text and code are formatted from the same
slots, an injected mistake shows up consistently in both. Literal braces in lines are doubled.
"""

from __future__ import annotations

import math
import random
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Params = dict[str, Any]


@dataclass(frozen=True)
class Slot:
    value: str
    alts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # mistake -> wrong fragments


def S(value: object, **alts: tuple[object, ...]) -> Slot:  # noqa: N802 - a terse constructor for the table
    return Slot(str(value), {k: tuple(str(a) for a in v) for k, v in alts.items()})


@dataclass(frozen=True)
class CStep:
    text: str
    lines: tuple[str, ...]
    droppable: bool = False  # removing it still leaves valid code
    when: str | None = None  # included only when params[when] is truthy


@dataclass(frozen=True)
class CodeTemplate:
    key: str
    entry: str
    args: str  # signature arguments
    returns: str
    statement: str
    steps: tuple[CStep, ...]
    params: Callable[[random.Random], Params]
    slots: Callable[[Params], dict[str, Slot]]
    sample: Callable[[random.Random, Params], tuple[Any, ...]]  # one argument tuple
    solve: Callable[..., Any]  # solve(params, *args): the trusted reference
    pre: str | None = None  # "list" | "str": may be composed with a preprocessing step on the first arg
    edges: tuple[tuple[Any, ...], ...] = ()  # fixed inputs always tested


def ints(rng: random.Random, lo: int, hi: int, n_lo: int, n_hi: int) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(rng.randint(n_lo, n_hi))]


def text(rng: random.Random, alphabet: str, lo: int, hi: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


WORDS = (
    "apple",
    "River",
    "stone",
    "Cloud",
    "tiger",
    "moon",
    "Blue",
    "garden",
    "sky",
    "Echo",
    "lamp",
    "x",
    "of",
    "Quiet",
    "road",
    "ink",
    "Maple",
    "sun",
    "a",
    "window",
)


def words(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def _palindrome_input(rng: random.Random, p: Params) -> tuple[str]:
    core = text(rng, "abcxyz12", 1, 5)
    s = core + text(rng, "abz", 0, 1) + core[::-1] if rng.random() < 0.6 else text(rng, "abcxyz12", 2, 9)
    noisy = "".join(
        (ch.upper() if rng.random() < 0.3 else ch) + (rng.choice(" ,!") if rng.random() < 0.2 else "") for ch in s
    )
    return (noisy,)


def _is_pal(p: Params, s: str) -> bool:
    keep = [ch.lower() for ch in s if (ch.isalnum() if p["mode"] == "alnum" else ch.isalpha())]
    return keep == keep[::-1]


def _fizz(p: Params, n: int) -> list[str]:
    out = []
    for i in range(1, n + 1):
        word = (p["wa"] if i % p["a"] == 0 else "") + (p["wb"] if i % p["b"] == 0 else "")
        out.append(word or str(i))
    return out


def _kth(p: Params, nums: list[int]) -> int:
    values = sorted(set(nums), reverse=True)
    return values[p["k"] - 1] if len(values) >= p["k"] else p["default"]


def _keep_k(p: Params, nums: list[int]) -> list[int]:
    seen: dict[int, int] = {}
    out = []
    for x in nums:
        seen[x] = seen.get(x, 0) + 1
        if seen[x] <= p["k"]:
            out.append(x)
    return out


def _running(p: Params, nums: list[int]) -> list[int]:
    fn = max if p["agg"] == "max" else min
    return [fn(nums[: i + 1]) for i in range(len(nums))]


def _caesar(p: Params, s: str) -> str:
    lower = string.ascii_lowercase
    return "".join(lower[(lower.index(c) + p["k"]) % 26] if c in lower else c for c in s)


def _primes(p: Params, n: int) -> int:
    return sum(1 for m in range(2, n + 1) if all(m % d for d in range(2, m)))


def _fib(p: Params, n: int) -> int:
    a, b = p["f0"], p["f1"]
    for _ in range(n):
        a, b = b, a + b
    return a


def _rotate(p: Params, nums: list[int]) -> list[int]:
    if not nums:
        return []
    k = p["k"] % len(nums)
    if p["direction"] == "left":
        return nums[k:] + nums[:k]
    return nums[len(nums) - k :] + nums[: len(nums) - k]


SETS = {"vowels": "aeiou", "digits": "0123456789", "punctuation marks": ".,!?;:"}
NTH = {2: "second", 3: "third"}
ROTATE = {"left": "nums[shift:] + nums[:shift]", "right": "nums[-shift:] + nums[:-shift]"}
OTHER = {"left": "right", "right": "left"}

TEMPLATES: tuple[CodeTemplate, ...] = (
    CodeTemplate(
        "sum_multiples",
        "sum_multiples",
        "nums: list[int]",
        "int",
        "Given a list of integers `nums`, return the sum of the elements that are divisible by {k}.",
        (
            CStep("Start a running total `total` at {zero}", ("total = {zero}",)),
            CStep(
                "Go through every number `x` and check whether `x {mod} {kk} == 0`",
                ("for x in nums:", "    if x {mod} {kk} == 0:"),
            ),
            CStep("Add to the total with `total {acc} {term}`", ("        total {acc} {term}",)),
            CStep("Return `{ret}`", ("return {ret}",)),
        ),
        lambda r: {"k": r.randint(2, 5)},
        lambda p: {
            "zero": S(0, off_by_one=(1,)),
            "mod": S("%", wrong_operator=("//",)),
            "kk": S(p["k"], off_by_one=(p["k"] + 1,)),
            "acc": S("+=", wrong_operator=("-=",)),
            "term": S("x", wrong_formula=("1",)),
            "ret": S("total", wrong_variable=("x",)),
        },
        lambda r, p: (ints(r, -12, 30, 2, 9),),
        lambda p, nums: sum(x for x in nums if x % p["k"] == 0),
        pre="list",
        edges=(([],),),
    ),
    CodeTemplate(
        "count_in_set",
        "count_matching",
        "s: str",
        "int",
        'Return how many characters of the string `s` are {which} (one of "{chars}").',
        (
            CStep("Set `count` to {zero}", ("count = {zero}",)),
            CStep(
                "Loop over each character `ch` of `s` and test `ch {inop} {chars}`",
                ("for ch in s:", "    if ch {inop} {chars}:"),
            ),
            CStep("Increase `count` by one for every match", ("        count += 1",)),
            CStep("Return `{ret}`", ("return {ret}",)),
        ),
        lambda r: (lambda w: {"which": w, "chars": SETS[w]})(r.choice(sorted(SETS))),
        lambda p: {
            "zero": S(0, off_by_one=(1,)),
            "inop": S("in", wrong_operator=("not in",)),
            "chars": S(f'"{p["chars"]}"', wrong_formula=(f'"{p["chars"][:-1]}"',)),
            "ret": S("count", wrong_variable=("len(s)",)),
        },
        lambda r, p: (text(r, "abeiouxyzAEIOUB0137.,!? ", 1, 16),),
        lambda p, s: sum(ch in p["chars"] for ch in s),
        pre="str",
        edges=(("",),),
    ),
    CodeTemplate(
        "reverse_words",
        "reverse_words",
        "s: str",
        "str",
        'Return the words of `s` (separated by whitespace) in reverse order, joined by "{sep}".',
        (
            CStep("Split `s` into a list of words", ("words = s.split()",)),
            CStep("Reverse the list with `words[{rev}]`", ("words = words[{rev}]",), droppable=True),
            CStep("Join `{jv}` with {sepq} and return the result", ("return {sepq}.join({jv})",)),
        ),
        lambda r: {"sep": r.choice([" ", "-", ", ", "_"])},
        lambda p: {
            "rev": S("::-1", wrong_formula=("1:",)),
            "sepq": S(repr(p["sep"]), wrong_formula=('""',)),
            "jv": S("words", wrong_variable=("s.split()",)),
        },
        lambda r, p: (words(r, 2, 6),),
        lambda p, s: p["sep"].join(s.split()[::-1]),
        pre="str",
    ),
    CodeTemplate(
        "fibonacci_like",
        "sequence_term",
        "n: int",
        "int",
        "A sequence starts with F(0) = {f0} and F(1) = {f1}, and every later term is the sum of the two "
        "terms before it. Return F(n) for a non-negative integer `n`.",
        (
            CStep("Start with `a, b = {f0}, {f1}`", ("a, b = {f0}, {f1}",)),
            CStep(
                "Advance the pair `{stop}` times with `a, b = b, {a} {plus} b`",
                ("for _ in range({stop}):", "    a, b = b, {a} {plus} b"),
            ),
            CStep("Return `{ret}`, which is F(n)", ("return {ret}",)),
        ),
        lambda r: {"f0": r.randint(0, 2), "f1": r.randint(1, 3)},
        lambda p: {
            "stop": S("n", off_by_one=("n - 1", "n + 1")),
            "plus": S("+", wrong_operator=("*", "-")),
            "a": S("a", wrong_variable=("b",)),
            "ret": S("a", wrong_variable=("b",)),
        },
        lambda r, p: (r.randint(2, 18),),
        _fib,
        edges=((0,), (1,)),
    ),
    CodeTemplate(
        "factorial_mod",
        "factorial_mod",
        "n: int",
        "int",
        "Return n! (the product 1 * 2 * ... * n, where 0! = 1) modulo {m}, for a non-negative integer `n`.",
        (
            CStep("Start with `result = {one}`", ("result = {one}",)),
            CStep(
                "Multiply `result` by every `i` in `range(2, {stop})` using `result = result {mul} {iv}`",
                ("for i in range(2, {stop}):", "    result = result {mul} {iv}"),
            ),
            CStep("Return the result modulo {m}", ("return result % {m}",)),
        ),
        lambda r: {"m": r.choice([1000, 997, 10007, 1_000_000_007])},
        lambda p: {
            "one": S(1, off_by_one=(2,)),
            "stop": S("n + 1", off_by_one=("n",)),
            "mul": S("*", wrong_operator=("+",)),
            "iv": S("i", wrong_variable=("n",)),
        },
        lambda r, p: (r.randint(2, 20),),
        lambda p, n: math.factorial(n) % p["m"],
        edges=((0,),),
    ),
    CodeTemplate(
        "palindrome",
        "is_palindrome",
        "s: str",
        "bool",
        "Return True if `s` reads the same forwards and backwards when case is ignored and only {what} are "
        "considered, and False otherwise.",
        (
            CStep("Keep the characters passing `ch.{filt}()`, as `{low}`", ("t = [{low} for ch in s if ch.{filt}()]",)),
            CStep(
                "Compare `{tv}[i]` with its mirror `t[{mirror}]` over the first half; a mismatch means False",
                ("for i in range(len(t) // 2):", "    if {tv}[i] {neq} t[{mirror}]:", "        return False"),
            ),
            CStep("No mismatch was found, so return True", ("return True",)),
        ),
        lambda r: (lambda m: {"mode": m, "what": "letters and digits" if m == "alnum" else "letters"})(
            r.choice(["alnum", "alpha"])
        ),
        lambda p: {
            "filt": S("isalnum" if p["mode"] == "alnum" else "isalpha"),
            "low": S("ch.lower()", wrong_formula=("ch",)),
            "mirror": S("len(t) - 1 - i", off_by_one=("len(t) - i", "len(t) - 2 - i")),
            "neq": S("!=", wrong_operator=("==",)),
            "tv": S("t", wrong_variable=("s",)),
        },
        _palindrome_input,
        _is_pal,
        edges=(("Ab,bA",), ("ab",)),
    ),
    CodeTemplate(
        "running_extreme",
        "running_extreme",
        "nums: list[int]",
        "list[int]",
        "Return a list whose i-th element is the {word} value among `nums[0]`, ..., `nums[i]` "
        "(an empty list when `nums` is empty).",
        (
            CStep("Return an empty list when `nums` is empty", ("if not nums:", "    return []"), droppable=True),
            CStep("Start with `best = nums[{first}]` and an empty output list", ("best = nums[{first}]", "out = []")),
            CStep(
                "For every `x`, update `best = {agg}(best, x)` and append `{app}`",
                ("for x in nums:", "    best = {agg}(best, x)", "    out.append({app})"),
            ),
            CStep("Return the output list", ("return out",)),
        ),
        lambda r: (lambda a: {"agg": a, "word": "largest" if a == "max" else "smallest"})(r.choice(["max", "min"])),
        lambda p: {
            "first": S(0, off_by_one=(1,)),
            "app": S("best", wrong_variable=("x",)),
            "agg": S(p["agg"], wrong_formula=("min" if p["agg"] == "max" else "max",)),
        },
        lambda r, p: (ints(r, -9, 30, 3, 8),),
        _running,
        pre="list",
        edges=(([],), ([5],)),
    ),
    CodeTemplate(
        "gcd",
        "gcd",
        "a: int, b: int",
        "int",
        "Return the greatest common divisor of two positive integers `a` and `b`.",
        (
            CStep(
                "Try every candidate `d` from `min(a, b)` down, using `range(min(a, b), {stop}, -1)`",
                ("for d in range(min(a, b), {stop}, -1):",),
            ),
            CStep(
                "Return the first `d` with `a % d == 0 {conj} {bv} % d == 0`",
                ("    if a % d == 0 {conj} {bv} % d == 0:", "        return d"),
            ),
        ),
        lambda r: {},
        lambda p: {
            "stop": S(0, off_by_one=(1,)),
            "conj": S("and", wrong_operator=("or",)),
            "bv": S("b", wrong_variable=("a",)),
        },
        lambda r, p: (lambda g: (g * r.randint(1, 15), g * r.randint(1, 15)))(r.randint(1, 12)),
        lambda p, a, b: math.gcd(a, b),
        edges=((7, 12),),
    ),
    CodeTemplate(
        "lcm",
        "lcm",
        "a: int, b: int",
        "int",
        "Return the least common multiple of two positive integers `a` and `b`.",
        (
            CStep(
                "Find the greatest common divisor `g` by trying candidates from `min(a, b)` downwards",
                (
                    "g = 1",
                    "for d in range(min(a, b), 0, -1):",
                    "    if a % d == 0 and b % d == 0:",
                    "        g = d",
                    "        break",
                ),
            ),
            CStep("Compute `result = {formula}`", ("result = {formula}",)),
            CStep("Return `result`", ("return result",)),
        ),
        lambda r: {},
        lambda p: {
            "formula": S(
                "a * b // g", wrong_formula=("a * b",), wrong_operator=("a * b * g",), wrong_variable=("a * b // a",)
            )
        },
        lambda r, p: (lambda g: (g * r.randint(1, 9), g * r.randint(2, 9)))(r.randint(2, 6)),
        lambda p, a, b: a * b // math.gcd(a, b),
    ),
    CodeTemplate(
        "digit_power_sum",
        "digit_power_sum",
        "n: int",
        "int",
        "Return the sum of the {what} of the decimal digits of the non-negative integer `n`.",
        (
            CStep("Start `total` at {zero}", ("total = {zero}",)),
            CStep("Go through the digits of `n` as the characters of `str(n)`", ("for ch in str(n):",)),
            CStep("Add `{term}` for each digit", ("    total += {term}",)),
            CStep("Return `total`", ("return total",)),
        ),
        lambda r: (lambda k: {"p": k, "what": {1: "values", 2: "squares", 3: "cubes"}[k]})(r.randint(1, 3)),
        lambda p: {
            "zero": S(0, off_by_one=(1,)),
            "term": S(
                "int(ch)" if p["p"] == 1 else f"int(ch) ** {p['p']}",
                wrong_formula=("int(ch) ** 2" if p["p"] == 1 else f"int(ch) * {p['p']}",),
                off_by_one=() if p["p"] == 1 else (f"int(ch) ** {p['p'] + 1}",),
            ),
        },
        lambda r, p: (r.randint(10, 99999),),
        lambda p, n: sum(int(c) ** p["p"] for c in str(n)),
        edges=((0,),),
    ),
    CodeTemplate(
        "keep_at_most_k",
        "limit_repeats",
        "nums: list[int]",
        "list[int]",
        "Return `nums` with each value kept at most {k} time(s) (its first occurrences), preserving order.",
        (
            CStep("Prepare a dictionary `counts` and an output list `out`", ("counts = {{}}", "out = []")),
            CStep(
                "For each `x`, increase `counts[x]` and append `{app}` while `counts[x] {le} {kk}`",
                (
                    "for x in nums:",
                    "    counts[x] = counts.get(x, 0) + 1",
                    "    if counts[x] {le} {kk}:",
                    "        out.append({app})",
                ),
            ),
            CStep("Return `{ret}`", ("return {ret}",)),
        ),
        lambda r: {"k": r.randint(1, 3)},
        lambda p: {
            "le": S("<=", wrong_operator=("<",)),
            "kk": S(p["k"], off_by_one=(p["k"] + 1,)),
            "app": S("x", wrong_variable=("counts[x]",)),
            "ret": S("out", wrong_variable=("nums",)),
        },
        lambda r, p: (ints(r, -3, 6, 5, 12),),
        _keep_k,
        pre="list",
        edges=(([4, 4, 4, 4, 1, 1, 1, 1],),),
    ),
    CodeTemplate(
        "char_frequency",
        "char_frequency",
        "s: str",
        "dict[str, int]",
        "Return a dictionary mapping each character of `s`{skip_text} to the number of times it occurs.",
        (
            CStep("Create an empty dictionary `freq`", ("freq = {{}}",)),
            CStep("Loop over the characters of `s`", ("for ch in s:",)),
            CStep(
                'Skip spaces (`ch {eq} " "`)', ('    if ch {eq} " ":', "        continue"), droppable=True, when="skip"
            ),
            CStep("Count the character with `freq[ch] = {upd}`", ("    freq[ch] = {upd}",)),
            CStep("Return `freq`", ("return freq",)),
        ),
        lambda r: (lambda k: {"skip": k, "skip_text": " other than spaces" if k else ""})(r.random() < 0.5),
        lambda p: {
            "eq": S("==", wrong_operator=("!=",)),
            "upd": S(
                "freq.get(ch, 0) + 1",
                off_by_one=("freq.get(ch, 1) + 1",),
                wrong_formula=("1",),
                wrong_variable=("freq.get(s, 0) + 1",),
            ),
        },
        lambda r, p: (text(r, "aabbcde  xyzAB", 2, 10),),
        lambda p, s: {c: s.count(c) for c in dict.fromkeys(s) if not (p["skip"] and c == " ")},
        pre="str",
    ),
    CodeTemplate(
        "kth_largest_distinct",
        "kth_largest",
        "nums: list[int]",
        "int",
        "Return the {nth} largest distinct value in `nums`, or {default} if `nums` has fewer than {k} distinct values.",
        (
            CStep(
                "Sort the distinct values in decreasing order: `sorted({distinct}, reverse={rev})`",
                ("values = sorted({distinct}, reverse={rev})",),
            ),
            CStep(
                "If `len(values) {lt} {k}`, return {default}",
                ("if len(values) {lt} {k}:", "    return {default}"),
                droppable=True,
            ),
            CStep("Otherwise return `values[{idx}]`", ("return values[{idx}]",)),
        ),
        lambda r: (lambda k: {"k": k, "nth": NTH[k], "default": r.choice([-1, 0])})(r.randint(2, 3)),
        lambda p: {
            "distinct": S("set(nums)", wrong_formula=("nums",)),
            "rev": S("True", wrong_formula=("False",)),
            "lt": S("<", wrong_operator=("<=",)),
            "idx": S(p["k"] - 1, off_by_one=(p["k"],)),
        },
        lambda r, p: (ints(r, 1, 15, 3, 9) * r.randint(1, 2),),
        _kth,
        pre="list",
        edges=(([3, 3],), ([9, 9, 2, 5, 5],)),
    ),
    CodeTemplate(
        "rotate_list",
        "rotate",
        "nums: list[int]",
        "list[int]",
        "Return the list `nums` rotated to the {direction} by {k} position(s) (do not modify `nums`).",
        (
            CStep("Return an empty list when `nums` is empty", ("if not nums:", "    return []"), droppable=True),
            CStep("Reduce the shift with `shift = {kk} {mod} len(nums)`", ("shift = {kk} {mod} len(nums)",)),
            CStep("Return `{form}`", ("return {form}",)),
        ),
        lambda r: {"k": r.randint(1, 6), "direction": r.choice(["left", "right"])},
        lambda p: {
            "kk": S(p["k"], off_by_one=(p["k"] + 1, p["k"] - 1)),
            "mod": S("%", wrong_operator=("//",)),
            "form": S(ROTATE[p["direction"]], wrong_formula=(ROTATE[OTHER[p["direction"]]],)),
        },
        lambda r, p: (ints(r, -5, 20, 3, 8),),
        _rotate,
        pre="list",
        edges=(([],),),
    ),
    CodeTemplate(
        "merge_sorted",
        "merge_sorted",
        "a: list[int], b: list[int]",
        "list[int]",
        "Given two lists `a` and `b`, each sorted in non-decreasing order, return one sorted list holding all "
        "their elements, without calling `sort` or `sorted`.",
        (
            CStep("Start two indices at 0 and an empty output list", ("i, j = 0, 0", "out = []")),
            CStep(
                "While `i < len(a) {conj} j < len(b)`, append the smaller head (`a[i] {le} b[j]` takes from `a`)",
                (
                    "while i < len(a) {conj} j < len(b):",
                    "    if a[i] {le} b[j]:",
                    "        out.append(a[i])",
                    "        i += 1",
                    "    else:",
                    "        out.append(b[j])",
                    "        j += 1",
                ),
            ),
            CStep("Append whatever is left in either list", ("out.extend(a[i:])", "out.extend(b[j:])"), droppable=True),
            CStep("Return `out`", ("return out",)),
        ),
        lambda r: {},
        lambda p: {"conj": S("and", wrong_operator=("or",)), "le": S("<=", wrong_operator=(">=",))},
        lambda r, p: (sorted(ints(r, -5, 25, 1, 6)), sorted(ints(r, -5, 25, 1, 6))),
        lambda p, a, b: sorted(a + b),
        edges=(([], [1, 2]),),
    ),
    CodeTemplate(
        "base_to_int",
        "parse_base",
        "s: str",
        "int",
        "The string `s` holds a non-negative number written in base {b} (digits 0 to {top}, most significant "
        "first). Return its value as an int without calling `int(s, {b})`.",
        (
            CStep("Start with `value = {zero}`", ("value = {zero}",)),
            CStep(
                "For every digit shift the value one place: `value = value {mul} {base} + int(ch)`",
                ("for ch in s:", "    value = value {mul} {base} + int(ch)"),
            ),
            CStep("Return `value`", ("return value",)),
        ),
        lambda r: (lambda b: {"b": b, "top": b - 1})(r.choice([2, 3, 5, 8])),
        lambda p: {
            "zero": S(0, off_by_one=(1,)),
            "mul": S("*", wrong_operator=("+",)),
            "base": S(p["b"], off_by_one=(p["b"] + 1,)),
        },
        lambda r, p: (str(r.randint(1, p["b"] - 1)) + text(r, "".join(map(str, range(p["b"]))), 1, 7),),
        lambda p, s: int(s, p["b"]),
        edges=(("0",),),
    ),
    CodeTemplate(
        "count_long_words",
        "count_long_words",
        "s: str",
        "int",
        "Return how many words of `s` (split on whitespace) have more than {t} characters.",
        (
            CStep("Split `s` into words", ("words = s.split()",)),
            CStep(
                "Count the words `w` with `len({lw}) {gt} {tt}`",
                ("count = sum(1 for w in words if len({lw}) {gt} {tt})",),
            ),
            CStep("Return the count", ("return count",)),
        ),
        lambda r: {"t": r.randint(2, 5)},
        lambda p: {
            "gt": S(">", wrong_operator=(">=",)),
            "tt": S(p["t"], off_by_one=(p["t"] + 1, p["t"] - 1)),
            "lw": S("w", wrong_variable=("words",)),
        },
        lambda r, p: (words(r, 3, 8),),
        lambda p, s: sum(len(w) > p["t"] for w in s.split()),
        pre="str",
    ),
    CodeTemplate(
        "fizzbuzz",
        "fizzbuzz",
        "n: int",
        "list[str]",
        'Return a list of strings for the numbers 1 to n: "{wa}{wb}" for multiples of both {a} and {b}, "{wa}" '
        'for the other multiples of {a}, "{wb}" for the other multiples of {b}, and the number itself otherwise.',
        (
            CStep(
                "Loop over `i` in `range(1, {stop})` with an empty output list",
                ("out = []", "for i in range(1, {stop}):"),
            ),
            CStep(
                'A multiple of both ({ab}) gets "{wa}{wb}"', ("    if i % {ab} == 0:", '        out.append("{wa}{wb}")')
            ),
            CStep(
                'Otherwise multiples of {a} get "{wa}" and multiples of {b} get "{wb}"',
                (
                    "    elif i % {a} {eq} 0:",
                    '        out.append("{wa}")',
                    "    elif i % {b} == 0:",
                    '        out.append("{wb}")',
                ),
            ),
            CStep(
                "Every other number is written as `str(i)`; return the list",
                ("    else:", "        out.append(str(i))", "return out"),
            ),
        ),
        lambda r: (lambda ab, w: {"a": ab[0], "b": ab[1], "wa": w[0], "wb": w[1]})(
            r.choice([(2, 3), (3, 5), (2, 5), (3, 4), (4, 6)]),
            r.choice([("Fizz", "Buzz"), ("Foo", "Bar"), ("Ping", "Pong")]),
        ),
        lambda p: {
            "stop": S("n + 1", off_by_one=("n",)),
            "eq": S("==", wrong_operator=("!=",)),
            "ab": S(p["a"] * p["b"] // math.gcd(p["a"], p["b"]), wrong_formula=(p["a"] + p["b"],)),
        },
        lambda r, p: (r.randint(7, 25),),
        _fizz,
        edges=((1,),),
    ),
    CodeTemplate(
        "caesar_shift",
        "shift_letters",
        "s: str",
        "str",
        "Shift every lowercase letter of `s` forward by {k} places in the alphabet, wrapping around from z to a; "
        "leave every other character unchanged.",
        (
            CStep("Prepare an output list", ("out = []",)),
            CStep(
                'Shift each lowercase letter with `chr((ord(ch) - ord("a") {plus} {kk}) % {m} + ord("a"))`',
                (
                    "for ch in s:",
                    '    if "a" <= ch <= "z":',
                    '        out.append(chr((ord(ch) - ord("a") {plus} {kk}) % {m} + ord("a")))',
                    "    else:",
                    "        out.append(ch)",
                ),
            ),
            CStep("Join the characters and return them", ('return "".join(out)',)),
        ),
        lambda r: {"k": r.randint(1, 25)},
        lambda p: {
            "plus": S("+", wrong_operator=("-",)),
            "kk": S(p["k"], off_by_one=(p["k"] + 1,)),
            "m": S(26, off_by_one=(25,)),
        },
        lambda r, p: (text(r, "abcxyzmnqW !", 3, 12),),
        _caesar,
        pre="str",
    ),
    CodeTemplate(
        "prefix_sums",
        "running_totals",
        "nums: list[int]",
        "list[int]",
        "Return the running totals of `nums`: element i of the result is `nums[0] + ... + nums[i]`.",
        (
            CStep("Start `total` at {zero} with an empty output list", ("total = {zero}", "out = []")),
            CStep(
                "Add each number with `total {acc} x` and append `{app}`",
                ("for x in nums:", "    total {acc} x", "    out.append({app})"),
            ),
            CStep("Return `out`", ("return out",)),
        ),
        lambda r: {},
        lambda p: {
            "zero": S(0, off_by_one=(1,)),
            "acc": S("+=", wrong_operator=("-=",)),
            "app": S("total", wrong_variable=("x",)),
        },
        lambda r, p: (ints(r, -9, 20, 2, 8),),
        lambda p, nums: [sum(nums[: i + 1]) for i in range(len(nums))],
        pre="list",
    ),
    CodeTemplate(
        "power_sum",
        "power_sum",
        "nums: list[int]",
        "int",
        "Return the sum of the {what} of the numbers in `nums`.",
        (CStep("Return `sum({term} for x in nums)`", ("return sum({term} for x in nums)",)),),
        lambda r: (lambda k: {"p": k, "what": "squares" if k == 2 else "cubes"})(r.randint(2, 3)),
        lambda p: {
            "term": S(
                f"x ** {p['p']}",
                wrong_operator=(f"x * {p['p']}",),
                off_by_one=(f"x ** {p['p'] + 1}", f"x ** {p['p'] - 1}"),
            )
        },
        lambda r, p: (ints(r, -6, 12, 2, 7),),
        lambda p, nums: sum(x ** p["p"] for x in nums),
        pre="list",
    ),
    CodeTemplate(
        "count_greater",
        "count_greater",
        "nums: list[int]",
        "int",
        "Return how many elements of `nums` are greater than {t}.",
        (CStep("Return `sum(1 for x in nums if x {gt} {tt})`", ("return sum(1 for x in nums if x {gt} {tt})",)),),
        lambda r: {"t": r.randint(-2, 10)},
        lambda p: {"gt": S(">", wrong_operator=(">=", "<")), "tt": S(p["t"], off_by_one=(p["t"] + 1, p["t"] - 1))},
        lambda r, p: (ints(r, -8, 15, 3, 9) + [p["t"]],),
        lambda p, nums: sum(x > p["t"] for x in nums),
        pre="list",
    ),
    CodeTemplate(
        "count_primes",
        "count_primes",
        "n: int",
        "int",
        "Return how many prime numbers are less than or equal to `n`.",
        (
            CStep("Start a counter at 0", ("count = 0",)),
            CStep("Check every `m` in `range(2, {stop})`", ("for m in range(2, {stop}):",)),
            CStep(
                "`m` is prime when `{mv} % d {ne} 0` for every `d` in `range(2, {lim})`",
                ("    if all({mv} % d {ne} 0 for d in range(2, {lim})):",),
            ),
            CStep("Count each prime and return the counter", ("        count += 1", "return count")),
        ),
        lambda r: {},
        lambda p: {
            "stop": S("n + 1", off_by_one=("n",)),
            "lim": S("int(m ** 0.5) + 1", off_by_one=("int(m ** 0.5)",)),
            "ne": S("!=", wrong_operator=("==",)),
            "mv": S("m", wrong_variable=("n",)),
        },
        lambda r, p: (r.randint(2, 60),),
        _primes,
        edges=((1,), (4,)),
    ),
    CodeTemplate(
        "max_window_sum",
        "max_window_sum",
        "nums: list[int]",
        "int",
        "`nums` has at least {k} elements. Return the largest sum of {k} consecutive elements.",
        (
            CStep("Sum the first {k1} elements as the current window", ("window = sum(nums[:{k1}])", "best = window")),
            CStep(
                "Slide the window: add `nums[i]`, remove `nums[i - {k2}]` and keep `best = max(best, {cand})`",
                (
                    "for i in range({k}, len(nums)):",
                    "    window = window + nums[i] {minus} nums[i - {k2}]",
                    "    best = max(best, {cand})",
                ),
            ),
            CStep("Return `best`", ("return best",)),
        ),
        lambda r: {"k": r.randint(2, 4)},
        lambda p: {
            "k1": S(p["k"], off_by_one=(p["k"] + 1,)),
            "k2": S(p["k"], off_by_one=(p["k"] - 1,)),
            "minus": S("-", wrong_operator=("+",)),
            "cand": S("window", wrong_variable=("nums[i]",)),
        },
        lambda r, p: (ints(r, -9, 20, p["k"] + 2, p["k"] + 7),),
        lambda p, nums: max(sum(nums[i : i + p["k"]]) for i in range(len(nums) - p["k"] + 1)),
    ),
)
