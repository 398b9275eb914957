"""Constraints between parameters: safe expressions such as ``nnsize % nheads == 0``.

An expression is parsed with :mod:`ast` and compiled by a whitelist walk, never ``eval``:
numbers, strings (to compare with CATEGORICAL parameters), parameter names, arithmetic
(``+ - * / // % **``), unary ``-``, comparisons (chains included) and ``and`` / ``or`` / ``not``.
A parameter is named as written, or with ``-`` and ``.`` spelled ``_`` (as argparse does), so
``learning-rate`` is ``learning_rate`` in an expression. Types are checked at parse time.

A compiled ``Constraint`` evaluates on a mapping from parameter name to value, or to a column of
values (numpy arrays), with numpy semantics: numbers are float64, ``x % 0`` is NaN, and a
comparison involving NaN is false, so it marks the point infeasible instead of raising.
"""
from __future__ import annotations

import ast
import difflib
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np

from tf_hptune.errors import SpecError
from tf_hptune.spec.model import ParameterSpec, ParamType

MAX_LENGTH = 1_000  # characters in one expression

Evaluator = Callable[[Mapping[str, Any]], Any]

_ARITHMETIC: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARISONS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_NOT_ALLOWED = {
    ast.Call: "function calls are not allowed",
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "indexing is not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.IfExp: "conditional expressions are not allowed",
    ast.NamedExpr: "assignment is not allowed",
}

# Kinds of value an expression can have; ANY stands for a parameter not known yet.
NUMBER, STRING, BOOLEAN, ANY = "a number", "a string", "a condition", "any"


@dataclass(frozen=True)
class Constraint:
    """A compiled constraint. ``text`` is the expression; ``names`` the parameters it reads."""

    text: str
    names: tuple[str, ...]
    _evaluate: Evaluator = field(repr=False, compare=False)

    def __call__(self, values: Mapping[str, Any]) -> np.ndarray:
        """Whether the point(s) satisfy the constraint: a bool array shaped like the values."""
        with np.errstate(all="ignore"):
            return np.asarray(self._evaluate(values), dtype=bool)


def parse_constraint(
    text: Any, params: Sequence[ParameterSpec] | None, path: str
) -> Constraint:
    """Compile ``text`` over ``params``; raise ``SpecError(path, text, ...)`` on any problem.

    With ``params`` None (not known yet, e.g. a resumed job), names are not checked and the
    result is only good for validation, not for evaluation.
    """
    if not isinstance(text, str) or not text.strip():
        raise SpecError(path, text, "must be a non-empty expression, e.g. 'nnsize % nheads == 0'")
    if len(text) > MAX_LENGTH:
        raise SpecError(path, text, f"is longer than {MAX_LENGTH:,} characters")
    return _Compiler(text, params, path).compile()


class _Compiler:
    """One expression's whitelist walk: each node becomes (kind, evaluator)."""

    def __init__(self, text: str, params: Sequence[ParameterSpec] | None, path: str) -> None:
        self.text, self.path = text, path
        self.source = text.strip()
        self.indent = len(text) - len(text.lstrip())
        self.params: dict[str, ParameterSpec] | None = None
        if params is not None:
            self.params = {}
            for p in params:  # argparse spellings first, so that exact names win
                self.params.setdefault(p.name.replace("-", "_").replace(".", "_"), p)
            self.params.update({p.name: p for p in params})
        self.used: dict[str, None] = {}

    def compile(self) -> Constraint:
        try:
            tree = ast.parse(self.source, mode="eval")
        except SyntaxError as exc:
            column = exc.offset if exc.offset and exc.lineno == 1 else len(self.source)
            self._fail_at(column - 1, f"invalid expression: {exc.msg}")
        except (RecursionError, MemoryError, ValueError):
            self._fail_at(0, "invalid expression: nested too deeply")
        try:
            kind, evaluate = self._node(tree.body)
        except RecursionError:
            self._fail_at(0, "invalid expression: nested too deeply")
        if kind not in (BOOLEAN, ANY):
            self._fail(tree.body, f"must be a condition (a comparison such as "
                                  f"'nnsize % nheads == 0'), not {kind}")
        return Constraint(self.text, tuple(self.used), evaluate)

    # -- errors ------------------------------------------------------------------------------
    def _fail_at(self, char_offset: int, problem: str) -> NoReturn:
        column = self.indent + char_offset + 1
        raise SpecError(self.path, self.text, f"at column {column}: {problem}")

    def _fail(self, node: ast.AST, problem: str) -> NoReturn:
        first_line = self.source.split("\n", 1)[0].encode()
        byte_offset = getattr(node, "col_offset", 0) if getattr(node, "lineno", 1) == 1 else 0
        self._fail_at(len(first_line[:byte_offset].decode(errors="ignore")), problem)

    def _expect(self, node: ast.AST, kind: str, wanted: str, role: str) -> None:
        if kind not in (wanted, ANY):
            self._fail(node, f"{role} must be {wanted}, not {kind}")

    # -- nodes -------------------------------------------------------------------------------
    def _node(self, node: ast.AST) -> tuple[str, Evaluator]:
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        if isinstance(node, ast.UnaryOp):
            return self._unary(node)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.BoolOp):
            return self._boolop(node)
        problem = _NOT_ALLOWED.get(type(node), f"{type(node).__name__} is not allowed")
        self._fail(node, f"{problem}; use arithmetic, comparisons, and/or/not over "
                         f"parameter names and literals")

    def _constant(self, node: ast.Constant) -> tuple[str, Evaluator]:
        value = node.value
        if isinstance(value, str):
            literal: Any = np.asarray(value, dtype=object)
            return STRING, lambda _env: literal
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = np.float64(value)
            except OverflowError:
                self._fail(node, "number is too large")
            return NUMBER, lambda _env: number
        self._fail(node, f"literal {value!r} is not allowed: only numbers and strings are")

    def _name(self, node: ast.Name) -> tuple[str, Evaluator]:
        if self.params is None:
            return ANY, _unknown
        param = self.params.get(node.id)
        if param is None:
            close = difflib.get_close_matches(node.id, list(self.params), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            self._fail(node, f"unknown parameter {node.id!r}{hint}")
        name = param.name
        self.used[name] = None
        if param.type is ParamType.CATEGORICAL:
            return STRING, lambda env: np.asarray(env[name], dtype=object)
        return NUMBER, lambda env: np.asarray(env[name], dtype=np.float64)

    def _binop(self, node: ast.BinOp) -> tuple[str, Evaluator]:
        op = _ARITHMETIC.get(type(node.op))
        if op is None:
            self._fail(node, f"operator {type(node.op).__name__} is not allowed")
        (lkind, left), (rkind, right) = self._node(node.left), self._node(node.right)
        self._expect(node.left, lkind, NUMBER, "an arithmetic operand")
        self._expect(node.right, rkind, NUMBER, "an arithmetic operand")
        return NUMBER, lambda env: op(left(env), right(env))

    def _unary(self, node: ast.UnaryOp) -> tuple[str, Evaluator]:
        kind, operand = self._node(node.operand)
        if isinstance(node.op, ast.Not):
            self._expect(node.operand, kind, BOOLEAN, "the operand of 'not'")
            return BOOLEAN, lambda env: np.logical_not(operand(env))
        if isinstance(node.op, (ast.USub, ast.UAdd)):
            self._expect(node.operand, kind, NUMBER, "the operand of a sign")
            sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
            return NUMBER, lambda env: sign * operand(env)
        self._fail(node, f"operator {type(node.op).__name__} is not allowed")

    def _compare(self, node: ast.Compare) -> tuple[str, Evaluator]:
        operands = [node.left, *node.comparators]
        for i, op_node in enumerate(node.ops):
            if type(op_node) not in _COMPARISONS:
                self._fail(operands[i + 1], f"comparison {type(op_node).__name__} is not "
                                            f"allowed: use == != < <= > >=")
        compiled = [self._node(n) for n in operands]
        links: list[tuple[Callable[[Any, Any], Any], Evaluator, Evaluator]] = []
        for i, op_node in enumerate(node.ops):
            op = _COMPARISONS[type(op_node)]
            (lkind, left), (rkind, right) = compiled[i], compiled[i + 1]
            kinds = {lkind, rkind} - {ANY}
            if BOOLEAN in kinds or len(kinds) > 1:
                self._fail(operands[i + 1], f"cannot compare {lkind} with {rkind}"
                                            + _quote_hint(lkind, rkind))
            if STRING in kinds and op not in (operator.eq, operator.ne):
                self._fail(operands[i + 1], "strings compare only with == and !=")
            links.append((op, left, right))

        def evaluate(env: Mapping[str, Any]) -> Any:
            result: Any = True
            for op, left, right in links:
                result = np.logical_and(result, op(left(env), right(env)))
            return result

        return BOOLEAN, evaluate

    def _boolop(self, node: ast.BoolOp) -> tuple[str, Evaluator]:
        parts = []
        for value in node.values:
            kind, evaluate = self._node(value)
            self._expect(value, kind, BOOLEAN, "an operand of and/or")
            parts.append(evaluate)
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or

        def evaluate(env: Mapping[str, Any]) -> Any:
            result = parts[0](env)
            for part in parts[1:]:
                result = combine(result, part(env))
            return result

        return BOOLEAN, evaluate


def _unknown(_env: Mapping[str, Any]) -> NoReturn:
    raise TypeError("this constraint was parsed without parameters and cannot be evaluated")


def _quote_hint(left: str, right: str) -> str:
    if {left, right} == {NUMBER, STRING}:
        return " (a CATEGORICAL parameter's values are strings: quote the value, e.g. '64')"
    return ""
