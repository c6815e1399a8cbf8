"""Arithmetic helpers of the scripted teacher: canonical numbers, and a tiny evaluator / shape reader for
arithmetic expressions (numbers, known names, ``+ - * / // % **``); code is never executed."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any


def normalize_number(text: str) -> str | None:
    """Canonical form of a number ("1,234" -> "1234", "5.0" -> "5"), else None."""
    t = text.strip().replace(",", "")
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)", t):
        return None
    try:
        num = Decimal(t)
    except InvalidOperation:
        return None
    return str(int(num)) if num == num.to_integral_value() else format(num.normalize(), "f")


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
