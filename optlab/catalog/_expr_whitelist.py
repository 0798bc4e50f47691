"""What a safe expression may contain: limits, constants, functions and operators.

The whitelist of :mod:`optlab.catalog.safe_expr`, and :class:`ExprError`, which every
part of it raises.  Each :class:`Function` names its implementation for each kind of
value: a ``math`` function for Python numbers, a numpy and a torch attribute for
arrays and tensors (see ``_expr_backends``).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

#: longest accepted expression text, in characters
MAX_LENGTH = 500
#: most expression nodes (numbers, names, operators, calls) in one expression
MAX_NODES = 200
#: deepest nesting of operators and calls
MAX_DEPTH = 50


class ExprError(ValueError):
    """An expression that is invalid, or that cannot be evaluated at the given values."""


# --------------------------------------------------------------------------- whitelist

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _sinh(x: float) -> float:
    try:
        return math.sinh(x)
    except OverflowError:
        return math.copysign(math.inf, x)


def _cosh(x: float) -> float:
    try:
        return math.cosh(x)
    except OverflowError:
        return math.inf


def _floor(x: float) -> float:
    return float(math.floor(x)) if math.isfinite(x) else x


def _ceil(x: float) -> float:
    return float(math.ceil(x)) if math.isfinite(x) else x


def _min(*args: float) -> float:
    return math.nan if any(math.isnan(a) for a in args) else min(args)


def _max(*args: float) -> float:
    return math.nan if any(math.isnan(a) for a in args) else max(args)


@dataclass(frozen=True)
class Function:
    """One whitelisted function and its implementation for each kind of value.

    ``numpy``/``torch`` name the attribute of that module to call; for
    ``max_args`` > 1 the function is binary and is folded over the arguments.
    """

    name: str
    doc: str
    scalar: Callable[..., float]
    numpy: str
    torch: str
    min_args: int = 1
    max_args: int | None = 1  # None: any number


def _unary(name: str, doc: str, scalar: Callable[[float], float], np_name: str = "") -> Function:
    return Function(name, doc, scalar, np_name or name, name)


#: the whitelisted functions, by the name used in expressions
FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in (
        _unary("sin", "sine (radians)", math.sin),
        _unary("cos", "cosine (radians)", math.cos),
        _unary("tan", "tangent (radians)", math.tan),
        _unary("asin", "arc sine, for -1 <= x <= 1", math.asin, "arcsin"),
        _unary("acos", "arc cosine, for -1 <= x <= 1", math.acos, "arccos"),
        _unary("atan", "arc tangent", math.atan, "arctan"),
        _unary("sinh", "hyperbolic sine", _sinh),
        _unary("cosh", "hyperbolic cosine", _cosh),
        _unary("tanh", "hyperbolic tangent", math.tanh),
        _unary("exp", "e to the power x", _exp),
        _unary("log", "natural logarithm, for x > 0", math.log),
        _unary("log10", "base-10 logarithm, for x > 0", math.log10),
        _unary("log2", "base-2 logarithm, for x > 0", math.log2),
        _unary("sqrt", "square root, for x >= 0", math.sqrt),
        _unary("abs", "absolute value", abs),
        _unary("floor", "largest integer <= x (as a float)", _floor),
        _unary("ceil", "smallest integer >= x (as a float)", _ceil),
        Function("min", "smallest of 2 or more values", _min, "minimum", "minimum", 2, None),
        Function("max", "largest of 2 or more values", _max, "maximum", "maximum", 2, None),
    )
}

#: the allowed binary operators, by their ast node type
BINARY_OPERATORS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
}

REFUSED_OPERATORS: dict[type[ast.AST], str] = {
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.Invert: "~",
    ast.Not: "not",
}

# construct -> the message refusing it
REFUSED_NODES: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access (x.name) is not allowed",
    ast.Subscript: "subscripts (x[...]) are not allowed",
    ast.Slice: "slices are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "generator expressions are not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.Set: "sets are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.FormattedValue: "f-strings are not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.Compare: "comparisons are not allowed",
    ast.BoolOp: "'and'/'or' are not allowed",
    ast.IfExp: "conditional expressions (a if c else b) are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
    ast.Starred: "starred expressions (*x) are not allowed",
}

VARIABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def describe_allowed(variables: Iterable[str]) -> str:
    """One line listing what an expression over ``variables`` may use (help and errors)."""
    names = ", ".join(sorted(variables)) or "(none)"
    return (
        f"allowed variables: {names}; constants: {', '.join(sorted(CONSTANTS))}; "
        f"functions: {', '.join(sorted(FUNCTIONS))}; "
        f"operators: {' '.join(BINARY_OPERATORS.values())}"
    )
