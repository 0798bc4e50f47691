"""Restricted arithmetic expressions typed by users: a scheduler's ``lr_lambda``.

``LambdaLR`` and ``MultiplicativeLR`` take ``lr_lambda`` as an expression of ``epoch``
(``"0.95 ** epoch"``); :mod:`optlab.catalog.schedulers` compiles it here when the spec
is validated and calls it as the scheduler's lambda.

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

The parts live in private siblings: ``_expr_whitelist`` (limits, constants,
functions, operators, :class:`ExprError`), ``_expr_compiler`` (parsing and the
whitelist check) and ``_expr_backends`` (evaluation for each kind of value).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from optlab.catalog._expr_backends import Node, prepare
from optlab.catalog._expr_compiler import Compiler, check_variables, parse
from optlab.catalog._expr_whitelist import (
    BINARY_OPERATORS,
    CONSTANTS,
    FUNCTIONS,
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_NODES,
    ExprError,
    Function,
    describe_allowed,
)

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
    _root: Node = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise ExprError(f"expression must be a string, not {type(self.text).__name__}")
        variables = check_variables(self.variables)
        if len(self.text) > MAX_LENGTH:
            raise ExprError(
                f"expression is too long ({len(self.text)} characters; at most {MAX_LENGTH})"
            )
        tree = parse(self.text)
        compiler = Compiler(self.text.strip(), variables)
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
        ops, env, finish = prepare(values)
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
