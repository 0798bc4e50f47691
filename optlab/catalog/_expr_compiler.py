"""Parse expression text and compile it, node by node, into a tree of closures.

The text is parsed with ``ast.parse(text, mode="eval")``; :class:`Compiler` checks
every node against the whitelist (``_expr_whitelist``) and the size limits, and
turns it into a closure that only calls the backend's operators and whitelisted
functions (``_expr_backends``).  Nothing here calls ``eval``, ``exec`` or
``compile``.
"""

from __future__ import annotations

import ast
import keyword
import warnings
from collections.abc import Iterable
from typing import Any

from optlab.catalog._expr_backends import Node, Ops
from optlab.catalog._expr_whitelist import (
    BINARY_OPERATORS,
    CONSTANTS,
    FUNCTIONS,
    MAX_DEPTH,
    MAX_NODES,
    REFUSED_NODES,
    REFUSED_OPERATORS,
    VARIABLE_NAME,
    ExprError,
    describe_allowed,
)


class Compiler:
    """Checks a parsed expression against the whitelist and builds its closures."""

    def __init__(self, text: str, variables: frozenset[str]) -> None:
        self.text = text
        self.variables = variables
        self.nodes = 0
        self.used: set[str] = set()

    def _where(self, node: ast.AST) -> str:
        line_no = getattr(node, "lineno", None)
        col = getattr(node, "col_offset", None)
        if line_no is None or col is None:
            return ""
        lines = self.text.splitlines() or [""]
        line = lines[min(line_no, len(lines)) - 1]
        column = len(line.encode()[:col].decode(errors="ignore")) + 1  # col_offset is in bytes
        if len(lines) > 1:
            return f" (at line {line_no}, column {column})"
        return f" (at column {column})"

    def _refuse(self, node: ast.AST, what: str) -> ExprError:
        return ExprError(f"{what}{self._where(node)}; {describe_allowed(self.variables)}")

    def _count(self) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ExprError(
                f"expression is too large (more than {MAX_NODES} numbers, names, "
                "operators and calls)"
            )

    def compile(self, node: ast.AST, depth: int = 0) -> Node:
        self._count()
        if depth > MAX_DEPTH:
            raise ExprError(f"expression is nested too deeply (more than {MAX_DEPTH} levels)")
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.UnaryOp):
            return self._unary(node, depth)
        if isinstance(node, ast.BinOp):
            return self._binary(node, depth)
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        message = REFUSED_NODES.get(type(node), f"{type(node).__name__} is not allowed")
        raise self._refuse(node, message)

    def _constant(self, node: ast.Constant) -> Node:
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            raise self._refuse(node, f"{value!r} is not allowed (only numbers)")
        if isinstance(value, complex):
            raise self._refuse(node, "complex numbers are not allowed")
        if isinstance(value, str | bytes):
            raise self._refuse(node, "strings are not allowed")
        if not isinstance(value, int | float):
            raise self._refuse(node, f"{type(value).__name__} literals are not allowed")
        try:
            number = float(value)
        except OverflowError:
            raise self._refuse(node, "number is too large") from None
        return lambda env, ops: number

    def _name(self, node: ast.Name) -> Node:
        name = node.id
        if name in self.variables:
            self.used.add(name)
            return lambda env, ops: env[name]
        if name in CONSTANTS:
            number = CONSTANTS[name]
            return lambda env, ops: number
        if name in FUNCTIONS:
            raise self._refuse(node, f"{name!r} is a function; call it, as in {name}(x)")
        raise self._refuse(node, f"unknown name {name!r}")

    def _unary(self, node: ast.UnaryOp, depth: int) -> Node:
        operand = self.compile(node.operand, depth + 1)
        if isinstance(node.op, ast.USub):
            return lambda env, ops: -operand(env, ops)
        if isinstance(node.op, ast.UAdd):
            return lambda env, ops: +operand(env, ops)
        symbol = REFUSED_OPERATORS.get(type(node.op), type(node.op).__name__)
        raise self._refuse(node, f"operator '{symbol}' is not allowed")

    def _binary(self, node: ast.BinOp, depth: int) -> Node:
        """Compile a left-leaning chain (``a + b - c ...``) as one level, so long sums fit."""
        chain: list[tuple[str, ast.expr]] = []
        current: ast.expr = node
        while isinstance(current, ast.BinOp):
            if current is not node:
                self._count()
            symbol = BINARY_OPERATORS.get(type(current.op))
            if symbol is None:
                refused = REFUSED_OPERATORS.get(type(current.op), type(current.op).__name__)
                raise self._refuse(current, f"operator '{refused}' is not allowed")
            chain.append((symbol, current.right))
            current = current.left
        first = self.compile(current, depth + 1)
        rest = [(symbol, self.compile(right, depth + 1)) for symbol, right in reversed(chain)]
        if len(rest) == 1:
            ((symbol, second),) = rest
            return lambda env, ops: ops.binary(symbol, first(env, ops), second(env, ops))

        def evaluate(env: dict[str, Any], ops: Ops) -> Any:
            value = first(env, ops)
            for symbol, right in rest:
                value = ops.binary(symbol, value, right(env, ops))
            return value

        return evaluate

    def _call(self, node: ast.Call, depth: int) -> Node:
        if not isinstance(node.func, ast.Name):
            if isinstance(node.func, ast.Attribute):
                raise self._refuse(node.func, "attribute access (x.name) is not allowed")
            raise self._refuse(node, "only the listed functions can be called, by name")
        name = node.func.id
        fn = FUNCTIONS.get(name)
        if fn is None:
            if name in self.variables or name in CONSTANTS:
                raise self._refuse(node, f"{name!r} is not a function")
            raise self._refuse(node, f"function {name!r} is not allowed")
        if node.keywords:
            raise self._refuse(node, f"keyword arguments are not allowed (in {name}(...))")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self._refuse(arg, "starred arguments (*x) are not allowed")
        count = len(node.args)
        if fn.max_args is None and count < fn.min_args:
            raise self._refuse(
                node, f"{name}() takes at least {fn.min_args} arguments (got {count})"
            )
        if fn.max_args is not None and not fn.min_args <= count <= fn.max_args:
            raise self._refuse(node, f"{name}() takes exactly 1 argument (got {count})")
        args = [self.compile(a, depth + 1) for a in node.args]
        if len(args) == 1:
            (only,) = args
            return lambda env, ops: ops.call(fn, [only(env, ops)])
        return lambda env, ops: ops.call(fn, [a(env, ops) for a in args])


def parse(text: str) -> ast.Expression:
    stripped = text.strip()
    if not stripped:
        raise ExprError("expression is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(stripped, mode="eval")
    except SyntaxError as exc:
        raise ExprError(_syntax_message(stripped, exc)) from None
    except ValueError as exc:  # e.g. a null byte
        raise ExprError(f"syntax error: {exc}") from None
    except (MemoryError, RecursionError):
        raise ExprError("expression is nested too deeply") from None
    return tree


def _syntax_message(text: str, exc: SyntaxError) -> str:
    lines = text.splitlines() or [""]
    line_no = min(max(exc.lineno or 1, 1), len(lines))
    column = max(exc.offset or 1, 1)
    line = lines[line_no - 1]
    near = line[column - 1 : column + 14]
    where = f"line {line_no}, column {column}" if len(lines) > 1 else f"column {column}"
    message = f"syntax error at {where}: {exc.msg}"
    return f"{message} (near {near!r})" if near.strip() else f"{message} (at the end)"


def check_variables(variables: Iterable[str]) -> frozenset[str]:
    names = frozenset([variables] if isinstance(variables, str) else variables)
    for name in names:
        if not isinstance(name, str) or not VARIABLE_NAME.match(name):
            raise ExprError(
                f"invalid variable name {name!r}: use letters, digits and '_', starting "
                "with a letter"
            )
        if keyword.iskeyword(name) or name in CONSTANTS or name in FUNCTIONS:
            raise ExprError(f"invalid variable name {name!r}: it is a reserved word or name")
    return names
