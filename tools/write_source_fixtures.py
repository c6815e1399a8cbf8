"""Write fixtures/sources/: one small file per UltraInteract source dataset, in its published layout.

    python tools/write_source_fixtures.py               # deterministic; rewrites the committed files
    python tools/write_source_fixtures.py --out DIR     # somewhere else (the tests compare the bytes)

The twelve source datasets of UltraInteract (paper §2.1, Tables 6-7, App. A.1), each with the column
names and nesting its dataset card / release documents (the layouts the adapters in
preftree/sources/adapters*.py read; conf/sources/ultrainteract.yaml lists them). The content is made
up (simple arithmetic, tiny programs, made-up places and people) so nothing of the datasets is copied.
Every answer is computed here, every program's expected output comes from a separate Python function,
and every row passes its adapter and select's checks (tests/test_fixture_data.py runs the reference
programs in the sandbox). experiment=eurus7b_cpu reads them through conf/sources/ultrainteract_cpu.yaml.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from preftree.sources.registry import ADAPTERS

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "sources"
SEED = 0
N = 20  # rows per dataset (a few less where the problems are written one by one)
NAMES = ["Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Iris", "Jonah", "Kira", "Liam",
         "Maya", "Nico", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tess"]  # fmt: skip
Row = dict[str, Any]


def _hex(text: str, n: int = 24) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def _pick(rng: random.Random, k: int) -> list[str]:
    return rng.sample(NAMES, k)


# ---------------------------------------------------------------------------------------------
# GSM8K (openai/grade-school-math train.jsonl: question, answer with <<calc>> notes and "#### n")


def _gsm(question: str, steps: list[tuple[str, str, int]]) -> Row:
    """``steps``: (text before the calculation, expression, its value)."""
    lines = [f"{text} {expr} = <<{expr}={value}>>{value}." for text, expr, value in steps]
    return {"question": question, "answer": "\n".join(lines) + f"\n#### {steps[-1][2]}"}


def gsm8k(rng: random.Random) -> list[Row]:
    rows = []
    for i in range(N):
        name, a, b = rng.choice(NAMES), rng.randint(3, 40), rng.randint(2, 12)
        c = rng.randint(1, a)
        kind = i % 5
        if kind == 0:
            q = (f"{name} picks {a} apples on Monday and {b} apples on Tuesday. Then {name} gives {c} of them "
                 f"to a neighbour. How many apples does {name} have left?")  # fmt: skip
            rows.append(_gsm(q, [("Over both days", f"{a}+{b}", a + b), ("Left", f"{a + b}-{c}", a + b - c)]))
        elif kind == 1:
            q = f"A shelf holds {b} rows with {a} books in each row. {name} takes {c} books away. How many stay?"
            rows.append(_gsm(q, [("The shelf held", f"{b}*{a}", a * b), ("Then", f"{a * b}-{c}", a * b - c)]))
        elif kind == 2:
            q = (
                f"{name} earns ${b} an hour and works {c % 8 + 2} hours a day for {a % 6 + 2} days. "
                "What are the total earnings?"
            )
            per_day = b * (c % 8 + 2)
            rows.append(_gsm(q, [("Each day pays", f"{b}*{c % 8 + 2}", per_day),
                                 ("In total", f"{per_day}*{a % 6 + 2}", per_day * (a % 6 + 2))]))  # fmt: skip
        elif kind == 3:
            size, days = rng.choice([6, 10, 12]), rng.randint(2, 9)
            eggs = size * rng.randint(5, 60)
            q = (f"{name}'s farm collects {eggs} eggs in {days} days and packs all of them into cartons that hold "
                 f"{size} eggs each. How many cartons are filled?")  # fmt: skip
            rows.append(_gsm(q, [("The cartons number", f"{eggs}/{size}", eggs // size)]))
        else:
            pages = a * b + rng.randint(5, 50)
            q = (
                f"A novel has {pages} pages. {name} reads {b} pages every evening for {a} evenings. "
                "How many pages remain?"
            )
            rows.append(_gsm(q, [("Pages read", f"{b}*{a}", a * b), ("Remaining", f"{pages}-{a * b}", pages - a * b)]))
    return rows


# ---------------------------------------------------------------------------------------------
# MATH (DigitalLearningGmbH/MATH-lighteval: problem, level, type, solution with \boxed{})


def _math_row(problem: str, level: int, kind: str, solution: str) -> Row:
    return {"problem": problem, "level": f"Level {level}", "type": kind, "solution": solution}


def math_rows(rng: random.Random) -> list[Row]:
    rows = []
    for i in range(N):
        kind = i % 5
        if kind == 0:
            a, x, b = rng.randint(2, 9), rng.randint(-9, 15), rng.randint(1, 30)
            solution = f"Subtracting ${b}$ from both sides gives ${a}x = {a * x}$, so $x = \\boxed{{{x}}}$."
            rows.append(_math_row(f"Solve for $x$: ${a}x + {b} = {a * x + b}$.", 1, "Algebra", solution))
        elif kind == 1:
            a, b = rng.randint(4, 30), rng.randint(4, 30)
            lcm = a * b // math.gcd(a, b)
            rows.append(_math_row(f"What is the least common multiple of ${a}$ and ${b}$?", 2, "Prealgebra",
                                  f"Their greatest common divisor is ${math.gcd(a, b)}$, so the least common multiple "
                                  f"is ${a} \\cdot {b} / {math.gcd(a, b)} = \\boxed{{{lcm}}}$."))  # fmt: skip
        elif kind == 2:
            a, b = rng.randint(100, 999), rng.randint(3, 17)
            solution = f"Since ${a} = {b} \\cdot {a // b} + {a % b}$, the remainder is $\\boxed{{{a % b}}}$."
            rows.append(_math_row(f"What is the remainder when ${a}$ is divided by ${b}$?", 1, "Number Theory",
                                  solution))  # fmt: skip
        elif kind == 3:
            n, k = 5 + i // 5 * 2, 2 + i // 5 % 3  # distinct for each of the four rows of this kind
            count = f"$\\binom{{{n}}}{{{k}}} = \\boxed{{{math.comb(n, k)}}}$"
            problem = f"In how many ways can a team of ${k}$ be chosen from ${n}$ students?"
            solution = f"Order does not matter, so the count is {count}."
            rows.append(_math_row(problem, 2, "Counting & Probability", solution))
        else:
            a, b, c = rng.randint(2, 6), rng.randint(1, 20), rng.randint(-4, 6)
            value = a * c * c - b
            rows.append(_math_row(f"If $f(x) = {a}x^2 - {b}$, what is $f({c})$?", 1, "Algebra",
                                  f"We have $f({c}) = {a} \\cdot {c * c} - {b} = \\boxed{{{value}}}$."))  # fmt: skip
    return rows


# ---------------------------------------------------------------------------------------------
# MathQA (allenai/math_qa train.json: Problem, Rationale, options, correct, annotated_formula,
# linear_formula, category); the problem is posed without its options, answered by the correct one


def _mathqa_row(problem: str, rationale: str, value: int, unit: str, formula: str, linear: str, category: str,
                rng: random.Random) -> Row:  # fmt: skip
    wrong = rng.sample([d for d in range(-9, 12) if d], 3)
    values = [value, *[value + d for d in wrong]]
    rng.shuffle(values)
    letters = "abcd"
    options = " , ".join(f"{letters[j]} ) {unit}{v}" for j, v in enumerate(values)) + " , e ) none of these"
    correct = letters[values.index(value)]
    return {"Problem": problem, "Rationale": f'"explanation : {rationale} answer : {correct}"',
            "options": options, "correct": correct, "annotated_formula": formula, "linear_formula": linear,
            "category": category}  # fmt: skip


def mathqa(rng: random.Random) -> list[Row]:
    rows = []
    for i in range(N):
        kind = i % 4
        if kind == 0:
            p, n = rng.randint(3, 25), rng.randint(4, 40)
            rows.append(_mathqa_row(f"a shop sells one pencil for rs . {p} . what do {n} pencils cost ?",
                                    f"cost = {n} × {p} = rs . {n * p}", n * p, "rs . ", f"multiply({n}, {p})",
                                    "multiply(n0,n1)|", "general", rng))  # fmt: skip
        elif kind == 1:
            t, v = rng.randint(2, 9), rng.randint(30, 90)
            rows.append(_mathqa_row(f"a car covers {t * v} km in {t} hours . find its speed in km / hr .",
                                    f"speed = {t * v} / {t} = {v} km / hr", v, "", f"divide({t * v}, {t})",
                                    "divide(n0,n1)|", "physics", rng))  # fmt: skip
        elif kind == 2:
            p, n = rng.choice([10, 20, 25, 40, 50]), rng.randint(2, 30) * 20
            rows.append(_mathqa_row(f"what is {p} % of {n} ?", f"{p} / 100 × {n} = {p * n // 100}", p * n // 100, "",
                                    f"divide(multiply({p}, {n}), const_100)", "multiply(n0,n1)|divide(#0,const_100)|",
                                    "gain", rng))  # fmt: skip
        else:
            k, m = rng.randint(3, 9), rng.randint(11, 60)
            rows.append(_mathqa_row(f"the average of {k} numbers is {m} . what is the sum of the numbers ?",
                                    f"sum = {k} × {m} = {k * m}", k * m, "", f"multiply({k}, {m})",
                                    "multiply(n0,n1)|", "general", rng))  # fmt: skip
    return rows


# ---------------------------------------------------------------------------------------------
# NumGLUE (NumGLUE_train.json, JSON Lines: question, answer, type; Type_3 with Option1 / Option2).
# Types 5-7 are dropped by the paper, so none is written here.

_LEGS = {"spider": 8, "ant": 6, "dog": 4, "bird": 2}
_MASS = {"CO2": 44, "H2O": 18, "NH3": 17, "CH4": 16}  # integer atomic masses: C 12, O 16, H 1, N 14


def numglue(rng: random.Random) -> list[Row]:
    rows: list[Row] = []
    for i in range(N):
        kind, name, n = i % 5, rng.choice(NAMES), rng.randint(2, 15)
        if kind == 0:
            animal = list(_LEGS)[i // 5 % len(_LEGS)]
            rows.append({"question": f"How many legs do {n} {animal}s have altogether?", "answer": _LEGS[animal] * n,
                         "type": "Type_1"})  # fmt: skip
        elif kind == 1:
            formula = list(_MASS)[i // 5 % len(_MASS)]
            rows.append({"question": f"Find the mass in grams of {n} moles of {formula}",
                         "answer": str(_MASS[formula] * n), "type": "Type_2"})  # fmt: skip
        elif kind == 2:
            other = rng.choice([x for x in NAMES if x != name])
            a, b = rng.sample(range(40, 200), 2)
            rows.append({"question": f"{name} cycles {a} metres in a minute and {other} cycles {b} metres in a "
                                     f"minute. Who is faster?", "Option1": name, "Option2": other,
                         "answer": "Option 1" if a > b else "Option 2", "type": "Type_3"})  # fmt: skip
        elif kind == 3:
            a = rng.randint(5, 40)
            rows.append({"question": f"{name} had {a} stamps and bought {n} more. {name} has _____ stamps now.",
                         "answer": str(a + n), "type": "Type_4"})  # fmt: skip
        else:
            a = rng.randint(n + 1, 60)
            rows.append({"question": f"There were {a} kites in the park. {n} kites flew away. How many kites are "
                                     f"in the park now?", "answer": float(a - n), "type": "Type_8"})  # fmt: skip
    return rows


# ---------------------------------------------------------------------------------------------
# TabMWP (PromptPG data/tabmwp/problems_train.json: an object keyed by problem id). Grades 4 and 5:
# the paper keeps those levels (select.difficulty.per_dataset.tabmwp in experiment=eurus7b).

_ITEMS = ["stickers", "marbles", "shells", "badges", "postcards"]
_PRICES = {"pencil": 35, "eraser": 20, "ruler": 85, "notebook": 140, "glue stick": 65, "marker": 90}


def _table(title: str, header: tuple[str, str], cells: list[tuple[str, str]]) -> Row:
    text = " | ".join(header) + "\n" + "\n".join(f"{a} | {b}" for a, b in cells)
    return {"table_title": title, "table": text, "table_for_pd": {header[0]: [a for a, _ in cells],
            header[1]: [b for _, b in cells]}, "row_num": len(cells) + 1, "column_num": 2}  # fmt: skip


def _tab_row(question: str, answer: str, table: Row, solution: str, *, ans_type: str, grade: int,
             choices: list[str] | None = None, unit: str | None = None) -> Row:  # fmt: skip
    return {"question": question, "choices": choices, "answer": answer, "unit": unit, **table, "solution": solution,
            "ques_type": "multi_choice" if choices else "free_text", "ans_type": ans_type, "grade": grade,
            "split": "train"}  # fmt: skip


def _tab_counts(rng: random.Random, i: int) -> Row:
    item, names = _ITEMS[i % len(_ITEMS)], _pick(rng, 5)
    counts = rng.sample(range(10, 99), len(names))  # distinct: one largest
    table = _table(f"{item.capitalize()} collected", ("Name", f"Number of {item}"),
                   [(n, str(c)) for n, c in zip(names, counts, strict=True)])  # fmt: skip
    kind = i % 4
    if kind == 0:
        counts[-1] += (5 - sum(counts) % 5) % 5  # a whole-number mean
        table = _table(table["table_title"], ("Name", f"Number of {item}"),
                       [(n, str(c)) for n, c in zip(names, counts, strict=True)])  # fmt: skip
        mean = sum(counts) // 5
        return _tab_row("What is the mean of the numbers?", str(mean), table,
                        f"Add the numbers: {sum(counts)}. Divide by 5: {sum(counts)} ÷ 5 = {mean}.",
                        ans_type="integer_number", grade=5)  # fmt: skip
    if kind == 1:
        a, b = names[0], names[1]
        diff = abs(counts[0] - counts[1])
        return _tab_row(f"How many {item} separate {a}'s count from {b}'s?", str(diff), table,
                        f"Subtract the smaller number from the larger: {max(counts[:2])} - {min(counts[:2])} = {diff}.",
                        ans_type="integer_number", grade=4, unit=item)  # fmt: skip
    if kind == 2:
        top = names[counts.index(max(counts))]
        return _tab_row(f"Who collected the most {item}?", top, table,
                        f"The largest number is {max(counts)}, so the answer is {top}.", ans_type="extractive_text",
                        grade=4, choices=sorted(names))  # fmt: skip
    limit = rng.randint(30, 80)
    answer = "yes" if sum(counts) / 5 > limit else "no"
    return _tab_row(f"Is the mean of the numbers greater than {limit}?", answer, table,
                    f"The mean is {sum(counts)} ÷ 5 = {sum(counts) / 5:g}, so the answer is {answer}.",
                    ans_type="boolean_text", grade=5, choices=["yes", "no"])  # fmt: skip


def _tab_prices(rng: random.Random) -> Row:
    a, b = rng.sample(sorted(_PRICES), 2)
    cells = [(item, f"${cents / 100:.2f}") for item, cents in sorted(_PRICES.items())]
    total = _PRICES[a] + _PRICES[b]
    table = _table("School shop", ("Item", "Price"), cells)
    return _tab_row(f"How much money does {rng.choice(NAMES)} need to buy a {a} and a {b}?", f"${total / 100:.2f}",
                    table, f"Add the prices: ${_PRICES[a] / 100:.2f} + ${_PRICES[b] / 100:.2f} = ${total / 100:.2f}.",
                    ans_type="decimal_number", grade=4)  # fmt: skip


def tabmwp(rng: random.Random) -> dict[str, Row]:
    rows = [_tab_prices(rng) if i % 5 == 4 else _tab_counts(rng, i) for i in range(N)]
    return {str(i + 1): row for i, row in enumerate(rows)}


# ---------------------------------------------------------------------------------------------
# stdin/stdout programs shared by CodeContests and TACO: (name, statement, input maker, expected
# output (a separate function from the reference), reference program)

Maker = Callable[[random.Random], str]
Solver = Callable[[str], str]


def _ints(rng: random.Random, lo: int = -50, hi: int = 99) -> str:
    values = [rng.randint(lo, hi) for _ in range(rng.randint(2, 8))]
    return f"{len(values)}\n{' '.join(map(str, values))}\n"


def _nums(text: str) -> list[int]:
    return [int(t) for t in text.split()[1:]]


def _word(rng: random.Random) -> str:
    return "".join(rng.choice("abcdeiklmnorstuy") for _ in range(rng.randint(3, 10))) + "\n"


def _pair(rng: random.Random) -> str:
    return f"{rng.randint(1, 500)} {rng.randint(1, 500)}\n"


def _one(rng: random.Random) -> str:
    return f"{rng.randint(1, 12)}\n"


def _fact(n: int) -> int:
    return math.factorial(n)


def _fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


# Statement wording per the datasets' conventions: CodeContests "Input" / "Output" headings, TACO's
# "-----Input-----" / "-----Output-----".
Program = tuple[str, str, str, Maker, Solver, str]  # name, task, input format, make, solve, reference

CC_PROGRAMS: list[Program] = [
    ("Sum It Up", "Given n integers, print their sum.", "The first line holds n, the second the n integers.",
     _ints, lambda s: f"{sum(_nums(s))}\n", "n = int(input())\nprint(sum(map(int, input().split())))\n"),
    ("Spread", "Print the difference between the largest and the smallest of n integers.",
     "The first line holds n, the second the n integers.", _ints, lambda s: f"{max(_nums(s)) - min(_nums(s))}\n",
     "input()\na = list(map(int, input().split()))\nprint(max(a) - min(a))\n"),
    ("Backwards", "Print the given word reversed.", "One line with a word of lowercase letters.", _word,
     lambda s: s.strip()[::-1] + "\n", "print(input().strip()[::-1])\n"),
    ("Vowel Count", "Count the vowels (a, e, i, o, u) in a word.", "One line with a word of lowercase letters.",
     _word, lambda s: f"{sum(ch in 'aeiou' for ch in s.strip())}\n",
     "w = input().strip()\nprint(sum(1 for ch in w if ch in 'aeiou'))\n"),
    ("Even or Odd", "Print YES if the sum of two integers is even and NO otherwise.", "One line with two integers.",
     _pair, lambda s: "YES\n" if sum(map(int, s.split())) % 2 == 0 else "NO\n",
     "a, b = map(int, input().split())\nprint('YES' if (a + b) % 2 == 0 else 'NO')\n"),
    ("Distinct Values", "Print how many different values appear among n integers.",
     "The first line holds n, the second the n integers.", lambda r: _ints(r, 1, 6),
     lambda s: f"{len(set(_nums(s)))}\n", "input()\nprint(len(set(input().split())))\n"),
    ("Sorted Line", "Print n integers in non-decreasing order, separated by spaces.",
     "The first line holds n, the second the n integers.", _ints,
     lambda s: " ".join(map(str, sorted(_nums(s)))) + "\n",
     "input()\nprint(*sorted(map(int, input().split())))\n"),
    ("Factorial", "Print n! (the product 1 * 2 * ... * n).", "One integer n (1 <= n <= 12).", _one,
     lambda s: f"{_fact(int(s))}\n", "n = int(input())\nr = 1\nfor k in range(2, n + 1):\n    r *= k\nprint(r)\n"),
    ("Common Divisor", "Print the greatest common divisor of two positive integers.", "One line with two integers.",
     _pair, lambda s: f"{math.gcd(*map(int, s.split()))}\n",
     "a, b = map(int, input().split())\nwhile b:\n    a, b = b, a % b\nprint(a)\n"),
    ("Digit Sum", "Print the sum of the decimal digits of a positive integer.", "One integer (at most 10^9).",
     lambda r: f"{r.randint(1, 10**9)}\n", lambda s: f"{sum(map(int, s.strip()))}\n",
     "print(sum(int(d) for d in input().strip()))\n"),
    ("Fibonacci", "Print the n-th Fibonacci number, where F(0) = 0 and F(1) = 1.", "One integer n (0 <= n <= 40).",
     lambda r: f"{r.randint(0, 40)}\n", lambda s: f"{_fib(int(s))}\n",
     "n = int(input())\na, b = 0, 1\nfor _ in range(n):\n    a, b = b, a + b\nprint(a)\n"),
    ("Mirror Word", "Print YES if the word reads the same backwards and NO otherwise.",
     "One line with a word of lowercase letters.", lambda r: r.choice(["level\n", "radar\n", "stone\n", "noon\n",
                                                                       "abcba\n", "tree\n", "kayak\n", "moon\n"]),
     lambda s: "YES\n" if s.strip() == s.strip()[::-1] else "NO\n",
     "w = input().strip()\nprint('YES' if w == w[::-1] else 'NO')\n"),
]  # fmt: skip

TACO_STDIO: list[Program] = [
    ("Square Total", "Print 1^2 + 2^2 + ... + n^2.", "A single integer n (1 <= n <= 1000).",
     lambda r: f"{r.randint(1, 1000)}\n", lambda s: f"{sum(k * k for k in range(1, int(s) + 1))}\n",
     "n = int(input())\nprint(n * (n + 1) * (2 * n + 1) // 6)\n"),
    ("Capitals", "Count the uppercase letters in a line of text.", "A single line of letters and spaces.",
     lambda r: "".join(r.choice("aBcDeFgh ") for _ in range(r.randint(5, 20))).strip() + "x\n",
     lambda s: f"{sum(ch.isupper() for ch in s)}\n", "print(sum(1 for c in input() if c.isupper()))\n"),
    ("Runner-up", "Print the second largest distinct value among n integers, or -1 if there is none.",
     "The first line contains n, the second line n space-separated integers.", lambda r: _ints(r, 1, 9),
     lambda s: f"{sorted(set(_nums(s)))[-2] if len(set(_nums(s))) > 1 else -1}\n",
     "input()\nv = sorted(set(map(int, input().split())))\nprint(v[-2] if len(v) > 1 else -1)\n"),
    ("Rotate", "Rotate a list of n integers left by k positions and print it.",
     "The first line contains n and k, the second line the n integers.",
     lambda r: (lambda n: f"{n} {r.randint(0, 9)}\n{' '.join(str(r.randint(0, 9)) for _ in range(n))}\n")(
         r.randint(2, 7)),
     lambda s: (lambda n, k, a: " ".join(a[k % n:] + a[:k % n]) + "\n")(
         int(s.split()[0]), int(s.split()[1]), s.split("\n")[1].split()),
     "n, k = map(int, input().split())\na = input().split()\nk %= n\nprint(' '.join(a[k:] + a[:k]))\n"),
    ("Even Count", "Count the even numbers among n integers.",
     "The first line contains n, the second line n space-separated integers.", _ints,
     lambda s: f"{sum(v % 2 == 0 for v in _nums(s))}\n",
     "input()\nprint(sum(1 for x in input().split() if int(x) % 2 == 0))\n"),
    ("Triangle Check", "Print YES if three lengths can form a triangle with positive area and NO otherwise.",
     "One line with three positive integers.", lambda r: " ".join(str(r.randint(1, 20)) for _ in range(3)) + "\n",
     lambda s: (lambda a, b, c: "YES\n" if a + b > c else "NO\n")(*sorted(map(int, s.split()))),
     "a, b, c = sorted(map(int, input().split()))\nprint('YES' if a + b > c else 'NO')\n"),
]  # fmt: skip

# call-based problems: name, statement, starter code, fn_name, argument lists, expected, reference
Call = tuple[str, str, str, str, list[list[Any]], Callable[..., Any], str]

TACO_CALLS: list[Call] = [
    ("Double Up", "Write a function `double_all(values)` that returns a new list with every number doubled.",
     "def double_all(values):\n\t", "double_all", [[[1, 2, 3]], [[]], [[-4, 0, 7]]],
     lambda v: [2 * x for x in v], "def double_all(values):\n    return [2 * x for x in values]\n"),
    ("Initials", "Write a function `initials(name)` that returns the first letters of the words of a name, upper "
     "case, joined by dots (\"ada love\" -> \"A.L\").", "def initials(name):\n\t", "initials",
     [["ada love"], ["sam"], ["kim lee park"]], lambda s: ".".join(w[0].upper() for w in s.split()),
     "def initials(name):\n    return '.'.join(w[0].upper() for w in name.split())\n"),
    ("Count Char", "Write a function `count_char(text, ch)` that returns how often the character ch occurs in text.",
     "def count_char(text, ch):\n\t", "count_char", [["banana", "a"], ["", "x"], ["mississippi", "s"]],
     lambda t, c: t.count(c), "def count_char(text, ch):\n    return sum(1 for c in text if c == ch)\n"),
    ("Largest Gap", "Given an integer array nums with at least two elements, return the largest difference between "
     "two neighbours once the array is sorted.", "class Solution:\n    def largestGap(self, nums: List[int]) -> int:\n"
     "        ", "largestGap", [[[3, 9, 1]], [[5, 5]], [[10, 2, 4, 8]]],
     lambda v: max(b - a for a, b in zip(sorted(v), sorted(v)[1:], strict=False)),
     "class Solution:\n    def largestGap(self, nums: List[int]) -> int:\n        s = sorted(nums)\n"
     "        return max(b - a for a, b in zip(s, s[1:]))\n"),
    ("Running Sum", "Given an integer array nums, return the array whose i-th value is nums[0] + ... + nums[i].",
     "class Solution:\n    def runningSum(self, nums: List[int]) -> List[int]:\n        ", "runningSum",
     [[[1, 2, 3]], [[4]], [[2, -2, 5]]], lambda v: [sum(v[: k + 1]) for k in range(len(v))],
     "class Solution:\n    def runningSum(self, nums: List[int]) -> List[int]:\n        out, total = [], 0\n"
     "        for x in nums:\n            total += x\n            out.append(total)\n        return out\n"),
    ("Title Words", "Write a function `shout(words)` that returns the list of words in upper case.",
     "def shout(words):\n\t", "shout", [[["hi", "there"]], [[]], [["ok"]]], lambda w: [x.upper() for x in w],
     "def shout(words):\n    return [w.upper() for w in words]\n"),
]  # fmt: skip


def _cases(rng: random.Random, make: Maker, solve: Solver, n: int) -> tuple[list[str], list[str]]:
    inputs = [make(rng) for _ in range(n)]
    return inputs, [solve(s) for s in inputs]


def _cc_row(rng: random.Random, i: int, program: Program) -> Row:
    name, task, fmt, make, solve, code = program
    public, private, generated = (_cases(rng, make, solve, n) for n in (1, 2, 3))
    example_in, example_out = public[0][0], public[1][0]
    description = (f"{task}\n\nInput\n\n{fmt}\n\nOutput\n\nPrint the answer on one line.\n\nExample\n\n"
                   f"Input\n\n{example_in}\n\nOutput\n\n{example_out}")  # fmt: skip
    return {
        "name": f"{1000 + i}_{'ABCDEF'[i % 6]}. {name}", "description": description,
        "public_tests": {"input": public[0], "output": public[1]},
        "private_tests": {"input": private[0], "output": private[1]},
        "generated_tests": {"input": generated[0], "output": generated[1]},
        "source": [2, 1, 5][i % 3], "difficulty": [1, 2, 7][i % 3],
        "solutions": {"language": [2, 3], "solution": ["int main() { return 0; }\n", code]},
        "incorrect_solutions": {"language": [3], "solution": ["print(0)\n"]},
        "cf_contest_id": 1000 + i, "cf_index": "ABCDEF"[i % 6], "cf_points": 500.0, "cf_rating": 800 + 100 * (i % 4),
        "cf_tags": ["implementation"], "is_description_translated": False, "untranslated_description": "",
        "time_limit": {"seconds": 2, "nanos": 0}, "memory_limit_bytes": 256000000, "input_file": "",
        "output_file": "",
    }  # fmt: skip


def codecontests(rng: random.Random) -> pl.DataFrame:
    return pl.DataFrame([_cc_row(rng, i, p) for i, p in enumerate(CC_PROGRAMS)])


_TACO_META = {"raw_tags": "['Implementation']", "name": None, "tags": "['Implementation']", "skill_types": "[]",
              "Expected Auxiliary Space": None, "time_limit": None, "date": "2024-01-01", "picture_num": "0",
              "memory_limit": None, "Expected Time Complexity": None}  # fmt: skip


def _taco_stdio(rng: random.Random, i: int, program: Program) -> Row:
    _name, task, fmt, make, solve, code = program
    inputs, outputs = _cases(rng, make, solve, 4)
    question = f"{task}\n\n-----Input-----\n\n{fmt}\n\n-----Output-----\n\nPrint the answer.\n\n-----Examples-----\n" \
               f"Sample Input:\n{inputs[0]}Sample Output:\n{outputs[0]}"  # fmt: skip
    return {"question": question, "solutions": json.dumps([code]), "starter_code": "",
            "input_output": json.dumps({"inputs": inputs, "outputs": outputs}),
            "difficulty": ["EASY", "MEDIUM", "MEDIUM_HARD"][i % 3], "source": ["codeforces", "aizu", "codechef"][i % 3],
            "url": f"https://example.org/taco-fixture/{i}", **_TACO_META}  # fmt: skip


def _taco_call(i: int, call: Call) -> Row:
    _name, task, starter, fn_name, args, solve, code = call
    outputs = [[solve(*a)] if i % 2 == 0 else solve(*a) for a in args]  # Codewars-style one-element lists too
    source = "leetcode" if starter.startswith("class") else "codewars"
    return {"question": task, "solutions": json.dumps([code]), "starter_code": starter,
            "input_output": json.dumps({"fn_name": fn_name, "inputs": args, "outputs": outputs}),
            "difficulty": ["EASY", "MEDIUM"][i % 2], "source": source, "url": f"https://example.org/taco-fixture/c{i}",
            **_TACO_META}  # fmt: skip


def taco(rng: random.Random) -> pl.DataFrame:
    rows = [_taco_stdio(rng, i, p) for i, p in enumerate(TACO_STDIO)]
    rows += [_taco_call(i, c) for i, c in enumerate(TACO_CALLS)]
    return pl.DataFrame(rows, schema={k: pl.String for k in rows[0]})


# ---------------------------------------------------------------------------------------------
# WikiTableQuestions (stanfordnlp/wikitablequestions: id, question, answers, table {header, rows, name});
# each answer is what the SQL query of ``wtq_questions`` returns on the table the adapter builds

_CLUBS_WTQ = ["Harbour AC", "Hill Striders", "Riverside", "Northgate RC"]
_MONTHS = ["January", "February", "March", "April", "May", "June"]
_COACHES = ["M. Ortiz", "J. Park", "L. Moss", "R. Adeyemi"]
Table = tuple[list[str], list[list[str]]]


def _race_table(rng: random.Random) -> Table:
    names = [f"{n} {s}" for n, s in zip(_pick(rng, 6), rng.sample(_SYLLABLES, 6), strict=True)]
    times = sorted(rng.sample(range(28, 60), 6))
    pairs = enumerate(zip(names, times, strict=True))
    rows = [[str(k + 1), name.title(), rng.choice(_CLUBS_WTQ), str(t)] for k, (name, t) in pairs]
    return ["Rank", "Runner", "Club", "Time (min)"], rows


def _library_table(rng: random.Random) -> Table:
    lent, visitors = rng.sample(range(60, 200), 6), rng.sample(range(200, 500), 6)
    rows = [[m, str(b), str(v)] for m, b, v in zip(_MONTHS, lent, visitors, strict=True)]
    rows[rng.randrange(6)][2] = ""  # one month without a visitor count
    return ["Month", "Books lent", "Visitors"], rows


def _season_table(rng: random.Random) -> Table:
    start, wins = rng.randint(1990, 2015), rng.sample(range(0, 13), 6)
    team = f"{_proper(rng)} Falcons"
    rows = [[str(start + k), team, str(w), str(12 - w), _COACHES[(k + rng.randint(0, 1)) // 2]] for k, w in
            enumerate(wins)]  # fmt: skip
    return ["Year", "Team", "Wins", "Losses", "Coach"], rows


# per table kind: the table maker and its questions, each (question, SQL on data_table) given the table
WTQ_KINDS: list[tuple[Callable[[random.Random], Table], list[Callable[[Table], tuple[str, str]]]]] = [
    (_race_table, [
        lambda t: ("who finished first?", "SELECT Runner FROM data_table WHERE Rank = 1"),
        lambda t: (f"how many runners belong to {t[1][0][2].lower()}?",
                   f"SELECT COUNT(*) FROM data_table WHERE Club = '{t[1][0][2]}'"),
        lambda t: ("what was the time of the third-placed runner?",
                   'SELECT "Time (min)" FROM data_table WHERE Rank = 3'),
        lambda t: ("which club did the slowest runner represent?",
                   'SELECT Club FROM data_table ORDER BY "Time (min)" DESC LIMIT 1'),
        lambda t: (f"which runners ran for {t[1][1][2].lower()}?",
                   f"SELECT Runner FROM data_table WHERE Club = '{t[1][1][2]}' ORDER BY Rank"),
    ]),
    (_library_table, [
        lambda t: ("in which month were the most books lent?",
                   'SELECT Month FROM data_table ORDER BY "Books lent" DESC LIMIT 1'),
        lambda t: ("how many books were lent in total?", 'SELECT SUM("Books lent") FROM data_table'),
        lambda t: ("for which month is the visitor count missing?",
                   "SELECT Month FROM data_table WHERE Visitors IS NULL"),
        lambda t: ("how many more books were lent in march than in february?",
                   "SELECT (SELECT \"Books lent\" FROM data_table WHERE Month = 'March') - "
                   "(SELECT \"Books lent\" FROM data_table WHERE Month = 'February')"),
        lambda t: ("how many months had more than 300 visitors?",
                   "SELECT COUNT(*) FROM data_table WHERE Visitors > 300"),
    ]),
    (_season_table, [
        lambda t: ("in which year did the team win the most games?",
                   "SELECT Year FROM data_table ORDER BY Wins DESC LIMIT 1"),
        lambda t: (f"how many seasons did {t[1][0][4].lower()} coach?",
                   f"SELECT COUNT(*) FROM data_table WHERE Coach = '{t[1][0][4]}'"),
        lambda t: ("what is the total number of losses in the table?", "SELECT SUM(Losses) FROM data_table"),
        lambda t: (f"who coached the team in {t[1][1][0]}?", f"SELECT Coach FROM data_table WHERE Year = {t[1][1][0]}"),
        lambda t: ("in how many seasons did the team lose more games than it won?",
                   "SELECT COUNT(*) FROM data_table WHERE Losses > Wins"),
    ]),
]  # fmt: skip


def wtq_questions(rng: random.Random) -> list[tuple[str, Table, str, str]]:
    """(table name, table, question, SQL): one question per table, so no two problems show the same table."""
    out = []
    for i in range(15):
        make, questions = WTQ_KINDS[i % 3]
        table = make(rng)
        question, sql = questions[i // 3](table)
        out.append((f"csv/fixture-csv/{i}.csv", table, question, sql))
    return out


def wtq_answers(row: Row, sql: str) -> list[str]:
    """The values ``sql`` returns on the table the adapter builds (its reference's ``setup``)."""
    item = ADAPTERS["wikitablequestions"].adapt({**row, "answers": ["?"]})
    namespace: dict[str, Any] = {}
    exec(json.loads(item.reference)["setup"], namespace)  # noqa: S102 - our own fixture table
    conn: sqlite3.Connection = namespace["conn"]
    return [str(value) for record in conn.execute(sql).fetchall() for value in record]


def wikitablequestions(rng: random.Random) -> pl.DataFrame:
    rows = []
    for i, (name, (header, cells), question, sql) in enumerate(wtq_questions(rng)):
        row: Row = {"id": f"nt-{i}", "question": question, "answers": [],
                    "table": {"header": header, "rows": cells, "name": name}}  # fmt: skip
        row["answers"] = wtq_answers(row, sql)
        rows.append(row)
    return pl.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Magicoder-Evol-Instruct (data-evol_instruct-decontaminated.jsonl: instruction, response). No tests
# in the dataset (the paper judges it with an LLM); each response's code is checked here by `checks`.

MAGICODER: list[tuple[str, str, str]] = [  # instruction, code, checks
    ("Write a Python function `celsius_to_fahrenheit(c)` that converts a temperature in Celsius to Fahrenheit.",
     "def celsius_to_fahrenheit(c):\n    return c * 9 / 5 + 32\n",
     "assert celsius_to_fahrenheit(100) == 212\nassert celsius_to_fahrenheit(0) == 32"),
    ("Create a function `merge_counts(a, b)` that merges two dictionaries of counts, adding the values of "
     "shared keys.",
     "def merge_counts(a, b):\n    out = dict(a)\n    for key, value in b.items():\n"
     "        out[key] = out.get(key, 0) + value\n    return out\n",
     "assert merge_counts({'x': 1}, {'x': 2, 'y': 3}) == {'x': 3, 'y': 3}"),
    ("Implement `chunk(items, size)` returning consecutive slices of a list, each of at most `size` items.",
     "def chunk(items, size):\n    return [items[i:i + size] for i in range(0, len(items), size)]\n",
     "assert chunk([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]\nassert chunk([], 3) == []"),
    ("Write a Python function that checks whether a string of brackets `()[]{}` is balanced.",
     "def balanced(text):\n    pairs = {')': '(', ']': '[', '}': '{'}\n    stack = []\n    for ch in text:\n"
     "        if ch in '([{':\n            stack.append(ch)\n        elif ch in pairs:\n"
     "            if not stack or stack.pop() != pairs[ch]:\n                return False\n    return not stack\n",
     "assert balanced('([]{})')\nassert not balanced('(]')\nassert not balanced('((')"),
    ("Refactor this loop into a list comprehension that keeps the squares of the odd numbers: "
     "`out = []; for n in nums: if n % 2: out.append(n * n)`.",
     "def odd_squares(nums):\n    return [n * n for n in nums if n % 2]\n",
     "assert odd_squares([1, 2, 3, 4]) == [1, 9]"),
    ("Write `flatten(nested)` that flattens a list of lists of any depth into one list.",
     "def flatten(nested):\n    out = []\n    for item in nested:\n        if isinstance(item, list):\n"
     "            out.extend(flatten(item))\n        else:\n            out.append(item)\n    return out\n",
     "assert flatten([1, [2, [3, 4]], 5]) == [1, 2, 3, 4, 5]"),
    ("Design a small Python class `Counter` with methods `add(n)` and `total()` that keeps a running total.",
     "class Counter:\n    def __init__(self):\n        self._total = 0\n\n"
     "    def add(self, n):\n        self._total += n\n\n    def total(self):\n        return self._total\n",
     "c = Counter()\nc.add(3)\nc.add(4)\nassert c.total() == 7"),
    ("Write a function `word_lengths(sentence)` that maps each word of a sentence to its length.",
     "def word_lengths(sentence):\n    return {word: len(word) for word in sentence.split()}\n",
     "assert word_lengths('a bb ccc') == {'a': 1, 'bb': 2, 'ccc': 3}"),
    ("Given a list of (name, score) pairs, write `top_name(pairs)` that returns the name with the highest score.",
     "def top_name(pairs):\n    return max(pairs, key=lambda pair: pair[1])[0]\n",
     "assert top_name([('a', 3), ('b', 9), ('c', 5)]) == 'b'"),
    ("Write `is_leap(year)` that tells whether a year is a leap year in the Gregorian calendar.",
     "def is_leap(year):\n    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)\n",
     "assert is_leap(2000) and is_leap(2024) and not is_leap(1900) and not is_leap(2023)"),
    ("Implement `binary_search(values, target)` over a sorted list, returning the index of target or -1.",
     "def binary_search(values, target):\n    lo, hi = 0, len(values) - 1\n    while lo <= hi:\n"
     "        mid = (lo + hi) // 2\n        if values[mid] == target:\n            return mid\n"
     "        if values[mid] < target:\n            lo = mid + 1\n        else:\n            hi = mid - 1\n"
     "    return -1\n",
     "assert binary_search([1, 3, 5, 7], 5) == 2\nassert binary_search([1, 3, 5, 7], 4) == -1"),
    ("Write a function `dedupe(items)` that removes duplicates from a list while keeping the first occurrences "
     "in order.",
     "def dedupe(items):\n    seen = set()\n    out = []\n    for item in items:\n        if item not in seen:\n"
     "            seen.add(item)\n            out.append(item)\n    return out\n",
     "assert dedupe([3, 1, 3, 2, 1]) == [3, 1, 2]"),
]  # fmt: skip


def magicoder(_rng: random.Random) -> list[Row]:
    rows = []
    for instruction, code, checks in MAGICODER:
        namespace: dict[str, Any] = {}
        exec(code + "\n" + checks, namespace)  # noqa: S102 - the fixture's own code: fail here, not later
        response = f"Here is a solution.\n\n```python\n{code}```\n\nIt runs in linear time in the size of the input."
        rows.append({"instruction": instruction, "response": response})
    return rows


# ---------------------------------------------------------------------------------------------
# ReClor (train.json: context, question, answers (4), label (0-3), id_string)

_CLUBS = ["chess club", "rowing team", "choir", "robotics group", "garden society"]
_EVENTS = ["Friday meeting", "spring fair", "weekend trip", "annual dinner", "open day"]


def _reclor_must(rng: random.Random, i: int) -> tuple[str, str, list[str], int]:
    club, event = _CLUBS[i % 5], _EVENTS[(i * 2) % 5]
    a, b = _pick(rng, 2)
    context = (f"Every member of the {club} attended the {event}. {a} did not attend the {event}, "
               f"but {b} attended it.")  # fmt: skip
    options = [f"{a} is not a member of the {club}.", f"{b} is a member of the {club}.",
               f"{a} has never attended any {event}.", f"Nobody outside the {club} attended the {event}."]  # fmt: skip
    return context, "Which one of the following must be true?", options, 0


def _reclor_flaw(rng: random.Random, i: int) -> tuple[str, str, list[str], int]:
    a = rng.choice(NAMES)
    crop, n = ["tomatoes", "beans", "peppers", "lettuce", "squash"][i % 5], rng.randint(2, 9)
    context = (f"{a} watered the {crop} twice a day for {n} weeks, and this year's harvest was the largest ever. "
               f"Therefore, watering twice a day is what made the {crop} grow so well.")  # fmt: skip
    options = [f"It assumes that {a} watered every plant the same amount.",
               f"It overlooks that something else, such as the weather, may explain the large {crop} harvest.",
               f"It relies on a definition of harvest size that {a} does not state.",
               f"It treats {n} weeks as a long period."]  # fmt: skip
    return context, "The reasoning above is most vulnerable to which criticism?", options, 1


def _reclor_assume(rng: random.Random, i: int) -> tuple[str, str, list[str], int]:
    a = rng.choice(NAMES)
    town, k = ["Elmbrook", "Norhaven", "Castlemere", "Pinebridge", "Westerly"][i % 5], rng.randint(3, 8)
    context = (f"The bakery in {town} sold out of bread on each of the last {k} Saturdays. So {a}, who owns it, "
               f"concludes that baking more loaves on Saturdays would increase the bakery's income.")  # fmt: skip
    options = [f"Bread is the only product sold in {town}.",
               f"The ovens in {town} can bake at most {k} batches a day.",
               "Customers who found no bread on those Saturdays would have bought the extra loaves.",
               f"{a} has owned the bakery for at least {k} years."]  # fmt: skip
    return context, "The conclusion depends on which one of the following assumptions?", options, 2


def _reclor_weaken(rng: random.Random, i: int) -> tuple[str, str, list[str], int]:
    a, b = _pick(rng, 2)
    pct, tool = rng.randint(15, 60), ["timer app", "standing desk", "noise filter", "planner", "reading lamp"][i % 5]
    context = (f"Since the office introduced a {tool}, the reports written by {a}'s team contain {pct} percent fewer "
               f"errors. {b} argues that the {tool} caused the improvement.")  # fmt: skip
    options = [f"{a}'s team used the {tool} every day.", f"The {tool} is also popular in other offices.",
               f"Several other teams also received the {tool}.",
               f"At the same time the {tool} arrived, {a}'s team hired two editors who check every "
               "report."]  # fmt: skip
    return context, f"Which one of the following most weakens {b}'s argument?", options, 3


def reclor(rng: random.Random) -> list[Row]:
    makers = [_reclor_must, _reclor_flaw, _reclor_assume, _reclor_weaken]
    rows = []
    for i in range(N):
        context, question, options, label = makers[i % 4](rng, i // 4)
        order = rng.sample(range(4), 4)  # the correct option at a seeded position
        rows.append({"context": context, "question": question, "answers": [options[j] for j in order],
                     "label": order.index(label), "id_string": f"train_{i}"})  # fmt: skip
    return rows


# ---------------------------------------------------------------------------------------------
# HotpotQA (hotpot_train_v1.1.json: _id, question, answer, type, level, supporting_facts
# [[title, sent_id]], context [[title, [sentences]]]); made-up places and people

_SYLLABLES = ["al", "bra", "cor", "dun", "el", "fen", "gar", "hal", "is", "jor", "kel", "lun", "mor", "nes", "or",
              "pel", "quin", "ros", "sal", "tor", "ul", "vam", "wen", "yar"]  # fmt: skip


def _proper(rng: random.Random) -> str:
    return "".join(rng.sample(_SYLLABLES, 2)).capitalize() + rng.choice(["a", "on", "ick", "mere", "ford"])


def _hotpot_compare(rng: random.Random) -> tuple[str, str, str, list[tuple[str, list[str]]], list[str]]:
    r1, r2 = f"{_proper(rng)} River", f"{_proper(rng)} River"
    l1, l2 = rng.sample(range(40, 400), 2)
    paras = [(r1, [f"The {r1} is a river in the fictional province of {_proper(rng)}.", f" It is {l1} km long."]),
             (r2, [f"The {r2} flows into Lake {_proper(rng)}.", f" Its length is {l2} km."])]  # fmt: skip
    return f"Which is longer, the {r1} or the {r2}?", r1 if l1 > l2 else r2, "comparison", paras, [r1, r2]


def _hotpot_bridge(rng: random.Random) -> tuple[str, str, str, list[tuple[str, list[str]]], list[str]]:
    shop, person, year = f"{_proper(rng)} Bakery", f"{rng.choice(NAMES)} {_proper(rng)}", rng.randint(1901, 1999)
    paras = [(shop, [f"{shop} is a family bakery opened in {year + rng.randint(20, 40)}.",
                     f" It was founded by {person}."]),
             (person, [f"{person} (born {year}) is a baker and writer.",
                       " Her recipes appear in several books."])]  # fmt: skip
    return f"In which year was the founder of {shop} born?", str(year), "bridge", paras, [shop, person]


def _hotpot_same(rng: random.Random) -> tuple[str, str, str, list[tuple[str, list[str]]], list[str]]:
    p1, p2 = f"{rng.choice(NAMES)} {_proper(rng)}", f"{rng.choice(NAMES)} {_proper(rng)}"
    job1, job2 = rng.choice(["painter", "composer"]), rng.choice(["painter", "composer"])
    paras = [(p1, [f"{p1} is a {job1} from the town of {_proper(rng)}.", " Their early work was self-published."]),
             (p2, [f"{p2} works as a {job2}.", f" They have lived in {_proper(rng)} since childhood."])]  # fmt: skip
    return f"Are {p1} and {p2} both {job1}s?", "yes" if job1 == job2 else "no", "comparison", paras, [p1, p2]


def hotpotqa(rng: random.Random) -> list[Row]:
    makers = [_hotpot_compare, _hotpot_bridge, _hotpot_same]
    rows = []
    for i in range(N):
        question, answer, kind, gold, titles = makers[i % 3](rng)
        hall = f"{_proper(rng)} Hall"
        distractor = (hall, [f"{hall} is a concert venue.", f" It seats {rng.randint(2, 19) * 100} people."])
        context = [gold[0], distractor, gold[1]] if i % 2 else [distractor, *gold]
        facts = [[title, sent] for title in titles for sent in range(2)]
        rows.append({"_id": _hex(question), "question": question, "answer": answer, "type": kind,
                     "level": ["easy", "medium", "hard"][i % 3], "supporting_facts": facts,
                     "context": [[title, sentences] for title, sentences in context]})  # fmt: skip
    return rows


# ---------------------------------------------------------------------------------------------
# StrategyQA (strategyqa_train.json: qid, term, description, question, answer (bool), facts,
# decomposition)


def _sqa_flight(rng: random.Random) -> Row:
    start, hours = rng.randint(6, 22), rng.randint(1, 12)
    return {"term": "Flight", "description": "A journey by aircraft.",
            "question": f"Would a {hours}-hour flight leaving at {start}:00 land before midnight on the same day?",
            "answer": start + hours < 24,
            "facts": [f"The flight departs at {start}:00.", f"The flight takes {hours} hours.",
                      "A day ends at 24:00 (midnight)."],
            "decomposition": [f"What time is {hours} hours after {start}:00?",
                              "Is #1 earlier than 24:00?"]}  # fmt: skip


def _sqa_vote(rng: random.Random) -> Row:
    born, vote = rng.randint(1980, 2010), rng.randint(1995, 2030)
    return {"term": "Voting age", "description": "The minimum age a person must reach to vote in an election.",
            "question": f"Could a person born in {born} vote in an election held in {vote} if the voting age is 18?",
            "answer": vote - born >= 18,
            "facts": [f"The person was born in {born}.", f"The election is held in {vote}.",
                      "A voter must be at least 18 years old."],
            "decomposition": [f"How old is a person born in {born} during {vote}?", "Is #1 at least 18?"]}  # fmt: skip


def _sqa_seats(rng: random.Random) -> Row:
    guests, tables, seats = rng.randint(10, 60), rng.randint(2, 8), rng.randint(4, 10)
    return {"term": "Banquet table", "description": "A long table for seating many guests at a meal.",
            "question": f"Can {guests} guests all sit down at {tables} tables with {seats} chairs each?",
            "answer": tables * seats >= guests,
            "facts": [f"There are {tables} tables.", f"Each table has {seats} chairs.",
                      f"{guests} guests need a seat."],
            "decomposition": [f"How many chairs do {tables} tables with {seats} chairs have?",
                              f"Is #1 at least {guests}?"]}  # fmt: skip


def _sqa_weeks(rng: random.Random) -> Row:
    days, weeks = rng.randint(5, 40), rng.randint(1, 5)
    return {"term": "Week", "description": "A period of seven days.",
            "question": f"Is a holiday of {days} days longer than {weeks} weeks?", "answer": days > 7 * weeks,
            "facts": ["A week has 7 days.", f"The holiday lasts {days} days."],
            "decomposition": [f"How many days are {weeks} weeks?", f"Is {days} greater than #1?"]}  # fmt: skip


def strategyqa(rng: random.Random) -> list[Row]:
    makers = [_sqa_flight, _sqa_vote, _sqa_seats, _sqa_weeks]
    rows = []
    for i in range(N):
        row = makers[i % 4](rng)
        rows.append({"qid": _hex(row["question"], 20), **row})
    return rows


# ---------------------------------------------------------------------------------------------
# writing


def _jsonl(rows: list[Row]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1) + "\n"


def rng_for(dataset: str) -> random.Random:
    """One seeded stream per dataset, so a change to one writer leaves the other files as they are."""
    return random.Random(f"{SEED}:{dataset}")


JSON_FILES: dict[str, tuple[Callable[[random.Random], Any], Callable[[Any], str]]] = {
    "gsm8k_train.jsonl": (gsm8k, _jsonl),
    "mathqa_train.json": (mathqa, _json),
    "NumGLUE_train.json": (numglue, _jsonl),  # JSON Lines despite the suffix, as released
    "tabmwp_problems_train.json": (tabmwp, _json),
    "magicoder_evol_instruct.jsonl": (magicoder, _jsonl),
    "reclor_train.json": (reclor, _json),
    "hotpot_train_v1.1.json": (hotpotqa, _json),
    "strategyqa_train.json": (strategyqa, _json),
}
PARQUET_FILES: dict[str, Callable[[random.Random], pl.DataFrame]] = {
    "math_train.parquet": lambda rng: pl.DataFrame(math_rows(rng)),
    "code_contests_train.parquet": codecontests,
    "taco_train.parquet": taco,
    "wikitablequestions_train.parquet": wikitablequestions,
}


def write_all(out: Path) -> list[Path]:
    """Write every fixture file into ``out``; the same seeds, so the same bytes, on every run."""
    out.mkdir(parents=True, exist_ok=True)
    for name, (make, dump) in JSON_FILES.items():
        (out / name).write_text(dump(make(rng_for(name))), encoding="utf-8")
    for name, make_frame in PARQUET_FILES.items():
        make_frame(rng_for(name)).write_parquet(out / name)
    return sorted(out / name for name in [*JSON_FILES, *PARQUET_FILES])


def run_cli(doc: str, default: Path, write: Callable[[Path], list[Path]], argv: list[str] | None = None) -> None:
    """The writers' command line: ``--out DIR`` (default: the committed folder), then one line per file."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default, help=f"output folder (default {default})")
    args = parser.parse_args(argv)
    for path in write(args.out):
        print(f"{path}  {path.stat().st_size} bytes")


if __name__ == "__main__":
    run_cli(__doc__, OUT, write_all)
