"""Export an experiment as a standalone PyTorch script a student can read and run.

The script is the textbook loop (docs/architecture.md §5), one run after another, importing
only torch, numpy/the standard library and the optimizer's own library.  It
reproduces the engine's numbers: the same float64 surface expression (written by
the problem's ``code()`` with exact float literals), the same noise generator, the
same optimizer and scheduler arguments (resolved by the scheduler builder's own
rules), and for models the same initial weights, batch order and data pipeline.
It ends by printing ``<label>: final loss = <value>`` for every run.
"""

from __future__ import annotations

from optlab.export.common import optimizer_code, scheduler_code
from optlab.export.model_script import model_script
from optlab.export.surface_script import surface_script
from optlab.problem import ModelProblem, Surface
from optlab.spec import ExperimentSpec


def export_script(spec: ExperimentSpec, *, read_data: bool = True) -> str:
    """The standalone script for ``spec``; NotImplementedError where export is not possible.

    ``read_data=False`` never opens a dataset (see :func:`model_script`)."""
    problem = spec.problem.build()
    if isinstance(problem, Surface):
        return surface_script(spec, problem)
    if isinstance(problem, ModelProblem):
        return model_script(spec, problem, read_data)
    raise NotImplementedError(f"{problem.name} is neither a surface nor a model problem")


__all__ = ["export_script", "optimizer_code", "scheduler_code"]
