"""Expression trees of the synthetic math problems: ``[op, left, right]`` lists whose leaves are
variable names (str) or constants (int); ops ``+ - * //``. Evaluation, Python-style rendering, an
English description, and the path edits the mistakes use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Union

Tree = Union[int, str, list]  # noqa: UP007 - a recursive alias reads better this way
PREC = {"+": 1, "-": 1, "*": 2, "//": 2}


def evaluate(tree: Tree, env: Mapping[str, int]) -> int:
    if isinstance(tree, int):
        return tree
    if isinstance(tree, str):
        return env[tree]
    op, left, right = tree
    a, b = evaluate(left, env), evaluate(right, env)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a // b  # ZeroDivisionError is the caller's business


def render_tree(tree: Tree, leaf: Callable[[int | str], str]) -> str:
    """Python-style infix with the parentheses the precedence needs (right operands of equal rank too)."""
    if not isinstance(tree, list):
        return leaf(tree)
    op, left, right = tree
    lt, rt = render_tree(left, leaf), render_tree(right, leaf)
    if isinstance(left, list) and PREC[left[0]] < PREC[op]:
        lt = f"({lt})"
    if isinstance(right, list) and PREC[right[0]] <= PREC[op]:
        rt = f"({rt})"
    return f"{lt} {op} {rt}"


def describe(tree: Tree, labels: Mapping[str, str], top: bool = True) -> str:
    if isinstance(tree, int):
        return str(tree)
    if isinstance(tree, str):
        return labels[tree]
    op, left, right = tree
    a, b = describe(left, labels, False), describe(right, labels, False)
    if top:
        return {
            "+": f"Add {b} to {a}",
            "-": f"Subtract {b} from {a}",
            "*": f"Multiply {a} by {b}",
            "//": f"Divide {a} by {b}",
        }[op]
    return {
        "+": f"the sum of {a} and {b}",
        "-": f"{a} minus {b}",
        "*": f"the product of {a} and {b}",
        "//": f"{a} divided by {b}",
    }[op]


def paths(tree: Tree, want: Callable[[Tree], bool], here: tuple[int, ...] = ()) -> Iterator[tuple[int, ...]]:
    if want(tree):
        yield here
    if isinstance(tree, list):
        yield from paths(tree[1], want, (*here, 1))
        yield from paths(tree[2], want, (*here, 2))


def at(tree: Tree, path: tuple[int, ...]) -> Tree:
    for i in path:
        tree = tree[i]  # type: ignore[index]
    return tree


def replaced(tree: Tree, path: tuple[int, ...], new: Tree) -> Tree:
    if not path:
        return new
    out = list(tree)  # type: ignore[arg-type]
    out[path[0]] = replaced(out[path[0]], path[1:], new)
    return out


def rotated(tree: Tree) -> Tree | None:
    """The precedence slip of a two-operation step: (a o b) p c <-> a o (b p c)."""
    if not isinstance(tree, list):
        return None
    op, left, right = tree
    if isinstance(left, list):
        return [left[0], left[1], [op, left[2], right]]
    if isinstance(right, list):
        return [right[0], [op, left, right[1]], right[2]]
    return None


def substituted(tree: Tree, old: str, new: str) -> Tree:
    if isinstance(tree, list):
        return [tree[0], substituted(tree[1], old, new), substituted(tree[2], old, new)]
    return new if tree == old else tree


def first_var(tree: Tree) -> str | None:
    return next((at(tree, p) for p in paths(tree, lambda t: isinstance(t, str))), None)  # type: ignore[return-value]
