"""Restricted arithmetic expressions typed by users (``lr_lambda``, custom surfaces).

User text never reaches ``eval``/``exec``/``compile``: it is parsed with
``ast.parse(text, mode="eval")`` and every node is checked against a whitelist,
then turned into a small tree of Python closures that only call the operators and
functions listed here.  Everything is validated up front by :func:`compile_expr`
(syntax, names, calls, size), so a bad expression fails when the spec is read,
not in the middle of a run.

Grammar: number literals (int or float), the declared variables, the constants
``pi`` and ``e``, unary ``+``/``-``, binary ``+ - * / // % **`` and calls of the
functions in :data:`FUNCTIONS` with positional arguments.

Evaluation (``expr(**values)``) follows the kind of the values:

* Python numbers: float arithmetic with the ``math`` module; the result is a
  ``float``.  Integers are converted to float first, so ``**`` never builds giant
  integers: ``9**9**9`` and ``10**10**10`` evaluate to ``inf`` in microseconds.
  Overflow gives ``±inf`` (as in IEEE arithmetic and in numpy/torch; callers treat
  non-finite values as divergence).  Division by zero (``/ // %`` and ``0 ** -1``)
  and domain errors (``log(0)``, ``sqrt(-1)``, ``asin(2)``, ``(-8) ** (1/3)``)
  raise :class:`ExprError` with a message naming the operation.
* numpy arrays / numpy scalars: numpy ufuncs, elementwise, IEEE semantics
  (inf/nan, no warnings); the result is an array broadcast to the inputs' shape.
* torch tensors: torch functions, elementwise, so autograd works; IEEE semantics
  (torch's own); the result is a tensor broadcast to the inputs' shape.

Integer arrays/tensors are converted to floating point first (float64 for numpy,
torch's default dtype for torch).
"""

from __future__ import annotations

import ast
import contextlib
import functools
import keyword
import math
import numbers
import operator
import re
import sys
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BINARY_OPERATORS",
    "CONSTANTS",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_NODES",
    "Expr",
    "ExprError",
    "Function",
    "compile_expr",
    "describe_allowed",
]

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

_REFUSED_OPERATORS: dict[type[ast.AST], str] = {
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
_REFUSED_NODES: dict[type[ast.AST], str] = {
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

_VARIABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def describe_allowed(variables: Iterable[str]) -> str:
    """One line listing what an expression over ``variables`` may use (help and errors)."""
    names = ", ".join(sorted(variables)) or "(none)"
    return (
        f"allowed variables: {names}; constants: {', '.join(sorted(CONSTANTS))}; "
        f"functions: {', '.join(sorted(FUNCTIONS))}; "
        f"operators: {' '.join(BINARY_OPERATORS.values())}"
    )


# --------------------------------------------------------------------------- backends

# A compiled node: (values by variable name, backend) -> value.
_Node = Callable[[dict[str, Any], "_Ops"], Any]


class _Ops:
    """How one kind of value (number, numpy, torch) does arithmetic and calls functions."""

    def binary(self, op: str, a: Any, b: Any) -> Any:
        raise NotImplementedError

    def call(self, fn: Function, args: list[Any]) -> Any:
        raise NotImplementedError

    def errstate(self) -> contextlib.AbstractContextManager[Any]:
        """The context an evaluation runs in (numpy: IEEE results without warnings)."""
        return contextlib.nullcontext()


def _scalar_pow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except OverflowError:
        odd = b.is_integer() and math.fmod(b, 2.0) != 0.0
        return -math.inf if a < 0 and odd else math.inf
    except ValueError:
        if a == 0:
            raise ExprError(f"division by zero: 0 ** {b!r} (0 to a negative power)") from None
        raise ExprError(
            f"({a!r}) ** {b!r} is undefined (a negative number to a non-integer power)"
        ) from None


_SCALAR_BINARY: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": _scalar_pow,
}


class _ScalarOps(_Ops):
    """Python floats with the math module; division by zero and domain errors raise."""

    def binary(self, op: str, a: float, b: float) -> float:
        try:
            return _SCALAR_BINARY[op](a, b)
        except ZeroDivisionError:
            raise ExprError(f"division by zero: {a!r} {op} {b!r}") from None

    def call(self, fn: Function, args: list[float]) -> float:
        try:
            return fn.scalar(*args)
        except (ValueError, OverflowError):
            shown = ", ".join(repr(a) for a in args)
            raise ExprError(f"{fn.name}({shown}) is undefined ({fn.name}: {fn.doc})") from None


_ARRAY_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
}


def _apply(func: Callable[..., Any], args: list[Any]) -> Any:
    """Call a unary function, or fold a binary one (minimum, maximum) over the arguments."""
    if len(args) == 1:
        return func(args[0])
    return functools.reduce(func, args)


class _NumpyOps(_Ops):
    """numpy ufuncs; Python floats stay weak scalars so they keep the arrays' dtype."""

    def __init__(self, np: Any, dtype: Any) -> None:
        self.np = np
        self.dtype = dtype

    def errstate(self) -> contextlib.AbstractContextManager[Any]:
        return self.np.errstate(all="ignore")

    def _lift(self, v: Any) -> Any:
        if isinstance(v, self.np.ndarray | self.np.generic):
            return v
        return self.np.asarray(v, dtype=self.dtype)

    def binary(self, op: str, a: Any, b: Any) -> Any:
        if not isinstance(a, self.np.ndarray | self.np.generic) and not isinstance(
            b, self.np.ndarray | self.np.generic
        ):
            a = self._lift(a)
        return _ARRAY_BINARY[op](a, b)

    def call(self, fn: Function, args: list[Any]) -> Any:
        return _apply(getattr(self.np, fn.numpy), [self._lift(a) for a in args])


class _TorchOps(_Ops):
    """torch functions, so gradients flow through the expression."""

    def __init__(self, torch: Any, dtype: Any, device: Any) -> None:
        self.torch = torch
        self.dtype = dtype
        self.device = device

    def _lift(self, v: Any) -> Any:
        if isinstance(v, self.torch.Tensor):
            return v
        return self.torch.tensor(float(v), dtype=self.dtype, device=self.device)

    def binary(self, op: str, a: Any, b: Any) -> Any:
        if not isinstance(a, self.torch.Tensor) and not isinstance(b, self.torch.Tensor):
            a = self._lift(a)
        return _ARRAY_BINARY[op](a, b)

    def call(self, fn: Function, args: list[Any]) -> Any:
        return _apply(getattr(self.torch, fn.torch), [self._lift(a) for a in args])


_SCALAR_OPS = _ScalarOps()


# --------------------------------------------------------------------------- compiler


class _Compiler:
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

    def compile(self, node: ast.AST, depth: int = 0) -> _Node:
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
        message = _REFUSED_NODES.get(type(node), f"{type(node).__name__} is not allowed")
        raise self._refuse(node, message)

    def _constant(self, node: ast.Constant) -> _Node:
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

    def _name(self, node: ast.Name) -> _Node:
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

    def _unary(self, node: ast.UnaryOp, depth: int) -> _Node:
        operand = self.compile(node.operand, depth + 1)
        if isinstance(node.op, ast.USub):
            return lambda env, ops: -operand(env, ops)
        if isinstance(node.op, ast.UAdd):
            return lambda env, ops: +operand(env, ops)
        symbol = _REFUSED_OPERATORS.get(type(node.op), type(node.op).__name__)
        raise self._refuse(node, f"operator '{symbol}' is not allowed")

    def _binary(self, node: ast.BinOp, depth: int) -> _Node:
        """Compile a left-leaning chain (``a + b - c ...``) as one level, so long sums fit."""
        chain: list[tuple[str, ast.expr]] = []
        current: ast.expr = node
        while isinstance(current, ast.BinOp):
            if current is not node:
                self._count()
            symbol = BINARY_OPERATORS.get(type(current.op))
            if symbol is None:
                refused = _REFUSED_OPERATORS.get(type(current.op), type(current.op).__name__)
                raise self._refuse(current, f"operator '{refused}' is not allowed")
            chain.append((symbol, current.right))
            current = current.left
        first = self.compile(current, depth + 1)
        rest = [(symbol, self.compile(right, depth + 1)) for symbol, right in reversed(chain)]
        if len(rest) == 1:
            ((symbol, second),) = rest
            return lambda env, ops: ops.binary(symbol, first(env, ops), second(env, ops))

        def evaluate(env: dict[str, Any], ops: _Ops) -> Any:
            value = first(env, ops)
            for symbol, right in rest:
                value = ops.binary(symbol, value, right(env, ops))
            return value

        return evaluate

    def _call(self, node: ast.Call, depth: int) -> _Node:
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
            (arg,) = args
            return lambda env, ops: ops.call(fn, [arg(env, ops)])
        return lambda env, ops: ops.call(fn, [a(env, ops) for a in args])


def _parse(text: str) -> ast.Expression:
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


def _check_variables(variables: Iterable[str]) -> frozenset[str]:
    names = frozenset([variables] if isinstance(variables, str) else variables)
    for name in names:
        if not isinstance(name, str) or not _VARIABLE_NAME.match(name):
            raise ExprError(
                f"invalid variable name {name!r}: use letters, digits and '_', starting "
                "with a letter"
            )
        if keyword.iskeyword(name) or name in CONSTANTS or name in FUNCTIONS:
            raise ExprError(f"invalid variable name {name!r}: it is a reserved word or name")
    return names


# --------------------------------------------------------------------------- Expr


@dataclass(frozen=True)
class Expr:
    """A validated expression over ``variables``; call it with one value per variable.

    ``expr(epoch=3)`` gives a float; numpy arrays or torch tensors give an
    elementwise result of the same kind (torch keeps autograd).  Constructing an
    ``Expr`` validates it (same as :func:`compile_expr`); it pickles as its text.
    """

    text: str
    variables: frozenset[str]
    #: the variables the expression actually uses
    used: frozenset[str] = field(init=False, compare=False)
    _root: _Node = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise ExprError(f"expression must be a string, not {type(self.text).__name__}")
        variables = _check_variables(self.variables)
        if len(self.text) > MAX_LENGTH:
            raise ExprError(
                f"expression is too long ({len(self.text)} characters; at most {MAX_LENGTH})"
            )
        tree = _parse(self.text)
        compiler = _Compiler(self.text.strip(), variables)
        root = compiler.compile(tree.body)
        object.__setattr__(self, "variables", variables)
        object.__setattr__(self, "used", frozenset(compiler.used))
        object.__setattr__(self, "_root", root)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Expr, (self.text, self.variables))

    def __call__(self, /, **values: Any) -> Any:
        unknown = sorted(set(values) - self.variables)
        if unknown:
            raise ExprError(
                f"unknown variable {unknown[0]!r}; allowed variables: "
                f"{', '.join(sorted(self.variables)) or '(none)'}"
            )
        missing = sorted(self.used - set(values))
        if missing:
            raise ExprError(f"no value given for variable {missing[0]!r} in {self.text!r}")
        ops, env, finish = _prepare(values)
        try:
            with ops.errstate():
                return finish(self._root(env, ops))
        except ExprError as exc:
            raise ExprError(f"cannot evaluate {self.text!r}: {exc}") from None
        except (ArithmeticError, ValueError, RuntimeError) as exc:
            raise ExprError(f"cannot evaluate {self.text!r}: {exc}") from None


def compile_expr(text: str, variables: Iterable[str]) -> Expr:
    """Validate ``text`` as an expression over ``variables`` (a name or names).

    Raises :class:`ExprError` saying what is wrong and what is allowed.
    """
    return Expr(text, frozenset([variables] if isinstance(variables, str) else variables))


def _prepare(values: dict[str, Any]) -> tuple[_Ops, dict[str, Any], Callable[[Any], Any]]:
    """Pick the backend for these values, convert them, and say how to finish the result."""
    np = sys.modules.get("numpy")
    torch = sys.modules.get("torch")
    env: dict[str, Any] = {}
    tensors: dict[str, Any] = {}
    arrays: dict[str, Any] = {}
    for name, value in values.items():
        if torch is not None and isinstance(value, torch.Tensor):
            tensors[name] = value
        elif np is not None and isinstance(value, np.ndarray | np.generic):
            arrays[name] = value
        elif isinstance(value, numbers.Real):
            try:
                env[name] = float(value)
            except OverflowError:
                raise ExprError(f"value of {name!r} is too large") from None
        else:
            raise ExprError(
                f"value of {name!r} must be a number, a numpy array or a torch tensor, "
                f"not {type(value).__name__}"
            )
    if tensors and arrays:
        raise ExprError("cannot mix torch tensors and numpy arrays in one evaluation")
    if tensors:
        return _prepare_torch(torch, env, tensors)
    if arrays:
        return _prepare_numpy(np, env, arrays)
    return _SCALAR_OPS, env, float


def _prepare_torch(
    torch: Any, env: dict[str, Any], tensors: dict[str, Any]
) -> tuple[_Ops, dict[str, Any], Callable[[Any], Any]]:
    for name, t in tensors.items():
        if t.is_complex():
            raise ExprError(f"value of {name!r} is complex; only real values are supported")
        env[name] = t if t.is_floating_point() else t.to(torch.get_default_dtype())
    first = env[next(iter(tensors))]
    dtype = functools.reduce(torch.promote_types, (env[n].dtype for n in tensors))
    try:
        shape = torch.broadcast_shapes(*(env[n].shape for n in tensors))
    except RuntimeError as exc:
        raise ExprError(f"values have incompatible shapes: {exc}") from None
    ops = _TorchOps(torch, dtype, first.device)

    def finish(result: Any) -> Any:
        result = ops._lift(result)
        return result if result.shape == shape else result.expand(shape).clone()

    return ops, env, finish


def _prepare_numpy(
    np: Any, env: dict[str, Any], arrays: dict[str, Any]
) -> tuple[_Ops, dict[str, Any], Callable[[Any], Any]]:
    for name, a in arrays.items():
        kind = np.asarray(a).dtype.kind
        if kind == "c":
            raise ExprError(f"value of {name!r} is complex; only real values are supported")
        if kind != "f":
            try:
                a = np.asarray(a, dtype=np.float64)
            except (TypeError, ValueError):
                raise ExprError(f"value of {name!r} is not numeric") from None
        env[name] = a
    dtype = np.result_type(*(env[n] for n in arrays))
    try:
        shape = np.broadcast_shapes(*(np.shape(env[n]) for n in arrays))
    except ValueError as exc:
        raise ExprError(f"values have incompatible shapes: {exc}") from None
    ops = _NumpyOps(np, dtype)
    is_array = any(isinstance(a, np.ndarray) for a in arrays.values())

    def finish(result: Any) -> Any:
        result = ops._lift(result)
        if np.shape(result) != shape:
            result = np.broadcast_to(result, shape).copy()
        if is_array:
            return np.asarray(result)
        return result[()] if isinstance(result, np.ndarray) else result

    return ops, env, finish
