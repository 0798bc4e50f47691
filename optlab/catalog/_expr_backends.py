"""How a compiled safe expression computes: one backend per kind of value.

:func:`prepare` looks at the values an expression is called with and picks the
backend: Python numbers (``math``, errors raise :class:`ExprError`), numpy arrays
(ufuncs, IEEE results without warnings) or torch tensors (torch functions, so
autograd works).  The compiled tree (see ``_expr_compiler``) calls only
:meth:`Ops.binary` and :meth:`Ops.call` with names from the whitelist.
"""

from __future__ import annotations

import contextlib
import functools
import math
import numbers
import operator
import sys
from collections.abc import Callable
from typing import Any

from optlab.catalog._expr_whitelist import ExprError, Function

# A compiled node: (values by variable name, backend) -> value.
Node = Callable[[dict[str, Any], "Ops"], Any]


class Ops:
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


class _ScalarOps(Ops):
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


class _NumpyOps(Ops):
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


class _TorchOps(Ops):
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


def prepare(values: dict[str, Any]) -> tuple[Ops, dict[str, Any], Callable[[Any], Any]]:
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
) -> tuple[Ops, dict[str, Any], Callable[[Any], Any]]:
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
) -> tuple[Ops, dict[str, Any], Callable[[Any], Any]]:
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
