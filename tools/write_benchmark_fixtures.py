"""Write fixtures/benchmarks/: small benchmark files in the published layouts the eval loaders read.

    python tools/write_benchmark_fixtures.py              # deterministic; rewrites the committed files
    python tools/write_benchmark_fixtures.py --out DIR    # somewhere else (the tests compare the bytes)

The paper's evaluation sets (paper §4, App. C; MINT's multi-turn subsets) at toy size, each with its
release's field names and file format (preftree/evaluate/loaders*.py): HumanEval (``HumanEval.jsonl``),
MBPP (``mbpp.jsonl``), Eurus's sanitized MBPP (``new_mbpp.json``), GSM8K test, MATH-500, SVAMP, GSM-Plus,
TheoremQA and MINT's HumanEval and MATH subsets (``<task>_test_prompts.json``, JSON Lines).
The problems are made up, on other topics than fixtures/sources/ (select decontaminates the sources
against these files with 8-grams, paper App. A.3), and every reference is accepted by
``preftree.evaluate.check_references`` (tests/test_fixture_data.py). eval@<policy> and the select
stage of experiment=eurus7b_cpu read them (conf/sources/ultrainteract_cpu.yaml).
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "benchmarks"
SEED = 0
Row = dict[str, Any]

# ---------------------------------------------------------------------------------------------
# code: (entry point, signature args, docstring, body, checks); the same problems serve HumanEval
# (prompt = signature + docstring, canonical_solution = body) and MINT's HumanEval subset

CODE: list[tuple[str, str, str, str, list[str]]] = [
    ("clamp", "value: int, low: int, high: int",
     "Limit value to the closed range [low, high].\n    >>> clamp(15, 0, 10)\n    10",
     "    return max(low, min(high, value))\n", ["candidate(15, 0, 10) == 10", "candidate(-3, 0, 10) == 0",
                                                  "candidate(4, 0, 10) == 4"]),
    ("alternate_case", "text: str", "Upper-case the characters at even positions, lower-case the others.\n"
     "    >>> alternate_case('abcd')\n    'AbCd'",
     "    return ''.join(c.upper() if i % 2 == 0 else c.lower() for i, c in enumerate(text))\n",
     ["candidate('abcd') == 'AbCd'", "candidate('') == ''", "candidate('XYZ') == 'XyZ'"]),
    ("sum_of_multiples", "n: int, k: int", "Sum of the positive multiples of k that are below n.\n"
     "    >>> sum_of_multiples(10, 3)\n    18", "    return sum(range(k, n, k))\n",
     ["candidate(10, 3) == 18", "candidate(1, 5) == 0", "candidate(21, 7) == 21"]),
    ("is_sorted", "values: list", "True when values never decrease from left to right.\n    >>> is_sorted([1, 1, 2])\n"
     "    True", "    return all(a <= b for a, b in zip(values, values[1:]))\n",
     ["candidate([1, 1, 2]) is True", "candidate([3, 2]) is False", "candidate([]) is True"]),
    ("longest_run", "values: list", "Length of the longest block of equal neighbours.\n"
     "    >>> longest_run([4, 4, 1, 1, 1, 2])\n    3",
     "    best = run = 0\n    for i, v in enumerate(values):\n"
     "        run = run + 1 if i and values[i - 1] == v else 1\n"
     "        best = max(best, run)\n    return best\n",
     ["candidate([4, 4, 1, 1, 1, 2]) == 3", "candidate([]) == 0", "candidate([7]) == 1"]),
    ("pairwise_sums", "values: list", "Sums of each element with the one after it.\n    >>> pairwise_sums([1, 2, 4])\n"
     "    [3, 6]", "    return [a + b for a, b in zip(values, values[1:])]\n",
     ["candidate([1, 2, 4]) == [3, 6]", "candidate([5]) == []"]),
    ("digital_root", "n: int", "Add the decimal digits of n repeatedly until one digit is left.\n"
     "    >>> digital_root(493)\n    7", "    while n >= 10:\n        n = sum(int(d) for d in str(n))\n    return n\n",
     ["candidate(493) == 7", "candidate(0) == 0", "candidate(99) == 9"]),
    ("swap_pairs", "text: str", "Swap every two neighbouring characters; an odd last character stays.\n"
     "    >>> swap_pairs('abcde')\n    'badce'",
     "    chars = list(text)\n    for i in range(0, len(chars) - 1, 2):\n"
     "        chars[i], chars[i + 1] = chars[i + 1], chars[i]\n    return ''.join(chars)\n",
     ["candidate('abcde') == 'badce'", "candidate('ab') == 'ba'", "candidate('') == ''"]),
    ("count_above_mean", "values: list", "How many numbers are strictly greater than the average of the list.\n"
     "    >>> count_above_mean([1, 2, 3, 10])\n    1",
     "    if not values:\n        return 0\n    mean = sum(values) / len(values)\n"
     "    return sum(1 for v in values if v > mean)\n",
     ["candidate([1, 2, 3, 10]) == 1", "candidate([]) == 0", "candidate([2, 2]) == 0"]),
    ("triangle_number", "n: int", "The n-th triangular number 1 + 2 + ... + n.\n    >>> triangle_number(4)\n    10",
     "    return n * (n + 1) // 2\n", ["candidate(4) == 10", "candidate(1) == 1", "candidate(0) == 0"]),
    ("middle_char", "word: str", "The middle character of a word of odd length, the middle two of an even one.\n"
     "    >>> middle_char('robot')\n    'b'", "    k = (len(word) - 1) // 2\n    return word[k:len(word) - k]\n",
     ["candidate('robot') == 'b'", "candidate('moon') == 'oo'", "candidate('a') == 'a'"]),
    ("product_except_zero", "values: list", "Product of the non-zero numbers in the list (1 when there are none).\n"
     "    >>> product_except_zero([2, 0, 5])\n    10",
     "    result = 1\n    for v in values:\n        if v:\n            result *= v\n    return result\n",
     ["candidate([2, 0, 5]) == 10", "candidate([]) == 1", "candidate([0, 0]) == 1", "candidate([-3, 4]) == -12"]),
]  # fmt: skip

MBPP: list[tuple[str, str, list[str]]] = [  # prompt, code, asserts
    ("Write a function to return the product of the digits of a positive integer.",
     "def digit_product(n):\n    p = 1\n    for d in str(n):\n        p *= int(d)\n    return p",
     ["assert digit_product(234) == 24", "assert digit_product(7) == 7", "assert digit_product(105) == 0"]),
    ("Write a function to count the keys of a dictionary whose value is None.",
     "def count_none(d):\n    return sum(1 for v in d.values() if v is None)",
     ["assert count_none({'a': None, 'b': 1}) == 1", "assert count_none({}) == 0"]),
    ("Write a function to interleave two lists of equal length.",
     "def interleave(a, b):\n    out = []\n    for x, y in zip(a, b):\n        out += [x, y]\n    return out",
     ["assert interleave([1, 3], [2, 4]) == [1, 2, 3, 4]", "assert interleave([], []) == []"]),
    ("Write a function to find the index of the largest element of a non-empty list.",
     "def argmax(values):\n    return max(range(len(values)), key=lambda i: values[i])",
     ["assert argmax([3, 8, 1]) == 1", "assert argmax([5]) == 0"]),
    ("Write a function to check whether a number is a perfect square.",
     "import math\ndef is_square(n):\n    return n >= 0 and math.isqrt(n) ** 2 == n",
     ["assert is_square(49) == True", "assert is_square(50) == False", "assert is_square(0) == True"]),
    ("Write a function to convert a list of digits into the integer they spell.",
     "def digits_to_int(digits):\n    value = 0\n    for d in digits:\n        value = value * 10 + d\n"
     "    return value",
     ["assert digits_to_int([4, 0, 2]) == 402", "assert digits_to_int([9]) == 9"]),
    ("Write a function to remove every character that is a digit from a string.",
     "def strip_digits(s):\n    return ''.join(c for c in s if not c.isdigit())",
     ["assert strip_digits('a1b22c') == 'abc'", "assert strip_digits('123') == ''"]),
    ("Write a function to compute the area of a trapezium from its two parallel sides and its height.",
     "def trapezium_area(a, b, h):\n    return (a + b) * h / 2",
     ["assert trapezium_area(3, 5, 4) == 16", "assert trapezium_area(1, 1, 1) == 1"]),
    ("Write a function to return the tuple of elements present in the first tuple but not in the second.",
     "def tuple_difference(t1, t2):\n    return tuple(x for x in t1 if x not in t2)",
     ["assert tuple_difference((1, 2, 3), (2,)) == (1, 3)", "assert tuple_difference((), (1,)) == ()"]),
    ("Write a function to find the number of trailing zeros in the binary representation of a positive integer.",
     "def binary_trailing_zeros(n):\n    count = 0\n    while n % 2 == 0:\n        n //= 2\n        count += 1\n"
     "    return count", ["assert binary_trailing_zeros(8) == 3", "assert binary_trailing_zeros(5) == 0"]),
]  # fmt: skip


def humaneval_row(i: int) -> Row:
    entry, args, doc, body, checks = CODE[i]
    prompt = f'def {entry}({args}):\n    """ {doc}\n    """\n'
    test = "\n\ndef check(candidate):\n" + "".join(f"    assert {c}\n" for c in checks)
    return {"task_id": f"FixtureEval/{i}", "prompt": prompt, "entry_point": entry, "canonical_solution": body,
            "test": test}  # fmt: skip


def humaneval() -> list[Row]:
    return [humaneval_row(i) for i in range(len(CODE))]


def mint_humaneval() -> list[Row]:
    """MINT's HumanEval subset (here the first ten problems): the HumanEval fields plus ``id`` and
    ``reference`` (the test code ending in ``check(<entry_point>)``)."""
    rows = []
    for k, i in enumerate(range(10)):
        row = humaneval_row(i)
        reference = row["test"] + f"\ncheck({row['entry_point']})\n"
        rows.append({"prompt": row["prompt"], "id": str(k), "reference": reference,
                     "task_id": row["task_id"], "canonical_solution": row["canonical_solution"], "test": row["test"],
                     "entry_point": row["entry_point"]})  # fmt: skip
    return rows


def mbpp_full() -> list[Row]:
    """The full MBPP layout (``mbpp.jsonl``: text, code, task_id, test_setup_code, test_list,
    challenge_test_list), the one the ``mbpp`` benchmark and experiment=eurus7b read."""
    return [{"text": prompt, "code": code, "task_id": 900 + i, "test_setup_code": "", "test_list": asserts,
             "challenge_test_list": []} for i, (prompt, code, asserts) in enumerate(MBPP)]  # fmt: skip


def mbpp_eurus() -> list[Row]:
    rows = []
    for i, (prompt, code, asserts) in enumerate(MBPP):
        namespace: dict[str, Any] = {}
        exec(code + "\n" + "\n".join(asserts), namespace)  # noqa: S102 - the fixture's own code: fail here
        rows.append({"source_file": "fixture", "task_id": str(900 + i), "prompt": prompt, "code": code,
                     "test_imports": [], "test_list": asserts, "instruction": f"{prompt}\n{asserts[0]}"})  # fmt: skip
    return rows


# ---------------------------------------------------------------------------------------------
# math


def _calc(text: str, expr: str) -> tuple[str, int]:
    value = int(eval(expr))  # noqa: S307 - arithmetic written here
    return f"{text} {expr} = <<{expr}={value}>>{value}.", value


def gsm8k_test(rng: random.Random) -> list[Row]:
    rows = []
    for i in range(15):
        a, b, c = rng.randint(12, 60), rng.randint(2, 9), rng.randint(2, 11)
        kind = i % 3
        if kind == 0:
            q = (
                f"A bus leaves the depot with {a} passengers. At the first stop {c} people get off and {b} get on. "
                "How many passengers are on the bus now?"
            )
            s1, v = _calc("After the stop there are", f"{a}-{c}+{b}")
            lines = [s1]
        elif kind == 1:
            q = (
                f"A gardener plants {b} rows of tulips with {c} bulbs per row and keeps {a} spare bulbs. "
                "How many bulbs did the gardener buy?"
            )
            s1, planted = _calc("Planted bulbs:", f"{b}*{c}")
            s2, v = _calc("With the spares:", f"{planted}+{a}")
            lines = [s1, s2]
        else:
            q = (
                f"Tickets to the aquarium cost ${b} for each child. A class of {a} children visits and the school "
                f"pays with ${b * a + c * 10} in notes. How much change does the school get?"
            )
            s1, cost = _calc("The tickets cost", f"{a}*{b}")
            s2, v = _calc("The change is", f"{b * a + c * 10}-{cost}")
            lines = [s1, s2]
        rows.append({"question": q, "answer": "\n".join(lines) + f"\n#### {v}"})
    return rows


def gsm_plus_test(base: list[Row]) -> list[Row]:
    """GSM-Plus perturbs GSM8K test questions; every third one drops a needed number (answer "None")."""
    rows = []
    for i, seed in enumerate(base[:10]):
        seed_answer = seed["answer"].rpartition("#### ")[2]
        if i % 3 == 2:
            question = seed["question"].split(". ", 1)[1]  # the first sentence, with its numbers, is gone
            rows.append({"question": question, "solution": "The question does not say how many there were at first.",
                         "answer": "None", "perturbation_type": "critical thinking", "seed_question": seed["question"],
                         "seed_solution": seed["answer"], "seed_answer": seed_answer})  # fmt: skip
            continue
        question = seed["question"] + " Ignore the weather, which was sunny all day."
        rows.append({"question": question, "solution": seed["answer"].rpartition("\n####")[0],
                     "answer": seed_answer, "perturbation_type": "distraction insertion",
                     "seed_question": seed["question"], "seed_solution": seed["answer"],
                     "seed_answer": seed_answer})  # fmt: skip
    return rows


def _math500_row(i: int, problem: str, solution: str, answer: str, subject: str, level: int) -> Row:
    slug = subject.lower().replace(" ", "_")
    return {"problem": problem, "solution": solution, "answer": answer, "subject": subject, "level": level,
            "unique_id": f"test/{slug}/fixture-{i}.json"}  # fmt: skip


def math500(rng: random.Random) -> list[Row]:
    rows = []
    for i in range(16):
        kind = i % 4
        if kind == 0:
            r1, r2 = rng.randint(1, 9), rng.randint(1, 9)
            s, p = r1 + r2, r1 * r2
            rows.append(_math500_row(i, f"What is the sum of the roots of $x^2 - {s}x + {p} = 0$?",
                                     f"By Vieta's formulas the sum of the roots is $\\boxed{{{s}}}$.", str(s),
                                     "Algebra", 2))  # fmt: skip
        elif kind == 1:
            n = rng.choice([12, 18, 20, 28, 30, 36, 40, 45, 48, 60])
            d = sum(1 for k in range(1, n + 1) if n % k == 0)
            rows.append(_math500_row(i, f"How many positive divisors does ${n}$ have?",
                                     f"Listing the divisors of ${n}$ gives $\\boxed{{{d}}}$ of them.", str(d),
                                     "Number Theory", 2))  # fmt: skip
        elif kind == 2:
            k = rng.randint(2, 9)
            rows.append(_math500_row(i, f"A right triangle has legs of lengths ${3 * k}$ and ${4 * k}$. How long is "
                                        "its hypotenuse?",
                                     f"The hypotenuse is $\\sqrt{{{9 * k * k} + {16 * k * k}}} = \\boxed{{{5 * k}}}$.",
                                     str(5 * k), "Geometry", 1))  # fmt: skip
        else:
            a, b = rng.randint(2, 9), rng.randint(10, 40)
            g = math.gcd(a, b)
            frac = f"\\frac{{{a // g}}}{{{b // g}}}"
            rows.append(_math500_row(i, f"Write $\\dfrac{{{a}}}{{{b}}}$ as a fraction in lowest terms.",
                                     f"Dividing top and bottom by ${g}$ gives $\\boxed{{{frac}}}$.", frac,
                                     "Prealgebra", 1))  # fmt: skip
    return rows


def mint_math(math_rows: list[Row]) -> list[Row]:
    """MINT's MATH subset: ``id, prompt, reference`` with a numeric reference (``"10.0"``)."""
    numeric = [r for r in math_rows if r["answer"].lstrip("-").isdigit()]
    return [{"id": k, "prompt": r["problem"], "reference": f"{float(r['answer'])}"} for k, r in enumerate(numeric)]


def svamp(rng: random.Random) -> list[Row]:
    rows = []
    for i in range(12):
        a, b = rng.randint(20, 90), rng.randint(2, 9)
        kind = i % 4
        if kind == 0:
            body, q, eq, ans, t = (f"A florist had {a} roses. She bought {b} more boxes with 10 roses each",
                                   "How many roses does the florist have now?", f"( {a}.0 + ( {b}.0 * 10.0 ) )",
                                   a + 10 * b, "Addition")  # fmt: skip
        elif kind == 1:
            body, q, eq, ans, t = (f"The library lent out {b} atlases and still has {a} on the shelf",
                                   "How many atlases did the library have before?", f"( {a}.0 + {b}.0 )", a + b,
                                   "Addition")  # fmt: skip
        elif kind == 2:
            body, q, eq, ans, t = (f"Each crate of oranges weighs {b} kilograms. A truck carries {a} crates",
                                   "What is the weight of the oranges on the truck?", f"( {a}.0 * {b}.0 )", a * b,
                                   "Multiplication")  # fmt: skip
        else:
            body, q, eq, ans, t = (f"A teacher shares {a * b} crayons equally among {b} tables",
                                   "How many crayons does each table get?", f"( {a * b}.0 / {b}.0 )", a,
                                   "Common-Division")  # fmt: skip
        rows.append({"ID": f"chal-{i}", "Body": body, "Question": q, "Equation": eq, "Answer": float(ans), "Type": t})
    return rows


def theoremqa(rng: random.Random) -> list[Row]:
    rows = []
    for i in range(10):
        kind = i % 3
        if kind == 0:
            a, b, c, d = (rng.randint(-5, 9) for _ in range(4))
            rows.append({"Question": f"What is the determinant of the matrix [[{a}, {b}], [{c}, {d}]]?",
                         "Answer": a * d - b * c, "Answer_type": "integer", "Picture": None})  # fmt: skip
        elif kind == 1:
            n = rng.choice([51, 53, 57, 59, 61, 87, 89, 91, 97, 119])
            prime = all(n % k for k in range(2, int(n**0.5) + 1))
            rows.append({"Question": f"Is {n} a prime number according to the fundamental theorem of arithmetic?",
                         "Answer": prime, "Answer_type": "bool", "Picture": None})  # fmt: skip
        else:
            r = rng.randint(2, 9)
            rows.append({"Question": f"By the formula for the area of a disc, what is the area of a circle of radius "
                                     f"{r}? Round to two decimal places.",
                         "Answer": round(math.pi * r * r, 2), "Answer_type": "float", "Picture": None})  # fmt: skip
    return rows


# ---------------------------------------------------------------------------------------------
# writing


def _jsonl(rows: list[Row]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _json(rows: list[Row]) -> str:
    return json.dumps(rows, ensure_ascii=False, indent=1) + "\n"


def rng_for(name: str) -> random.Random:
    """One seeded stream per file, so a change to one writer leaves the other files as they are."""
    return random.Random(f"{SEED}:{name}")


def write_all(out: Path) -> list[Path]:
    """Write every benchmark file into ``out``; the same seeds, so the same bytes, on every run."""
    out.mkdir(parents=True, exist_ok=True)
    gsm = gsm8k_test(rng_for("gsm8k_test.jsonl"))
    math_rows = math500(rng_for("math500_test.jsonl"))
    texts = {
        "humaneval.jsonl": _jsonl(humaneval()),
        "mbpp.jsonl": _jsonl(mbpp_full()),
        "mbpp_eurus.json": _json(mbpp_eurus()),  # Eurus's sanitized rows (new_mbpp.json), the paper's MBPP
        "gsm8k_test.jsonl": _jsonl(gsm),
        "gsm_plus_test.jsonl": _jsonl(gsm_plus_test(gsm)),  # GSM-Plus perturbs the GSM8K test questions
        "math500_test.jsonl": _jsonl(math_rows),
        "svamp.json": _json(svamp(rng_for("svamp.json"))),
        "theoremqa_test.json": _json(theoremqa(rng_for("theoremqa_test.json"))),
        "mint_humaneval_test_prompts.json": _jsonl(mint_humaneval()),  # JSON Lines despite the suffix, as MINT
        "mint_math_test_prompts.json": _jsonl(mint_math(math_rows)),  # MINT's MATH items are MATH test problems
    }
    for name, text in texts.items():
        (out / name).write_text(text, encoding="utf-8")
    return sorted(out / name for name in texts)


if __name__ == "__main__":
    from write_source_fixtures import run_cli  # tools/ is on sys.path when a script there runs

    run_cli(__doc__, OUT, write_all)
