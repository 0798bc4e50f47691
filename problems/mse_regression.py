"""A small MLP fitted with MSE to a seeded synthetic nonlinear regression task.

The layers are called ``layer1`` and ``layer2`` so that per-layer settings read as
in the classic example (``{"params": "layer1.*", "lr": 1e-3}``).
"""

from __future__ import annotations

import torch
from torch import nn

from optlab.problem import ExportCode, Field, ModelData, ModelParams, ModelProblem, source

#: seed of the teacher function: the task stays the same whatever the run's seed,
#: which only draws the samples, the noise and the train/validation split
_TEACHER_SEED = 1234


class MseRegressionParams(ModelParams):
    n_samples: int = Field(1000, ge=10, le=1_000_000, description="examples in all (train + val)")
    n_features: int = Field(10, ge=1, le=100, description="input dimension")
    hidden: int = Field(32, ge=1, le=4096, description="hidden units of the MLP")
    noise: float = Field(
        0.1, ge=0.0, le=10.0, allow_inf_nan=False, description="std of Gaussian target noise"
    )
    val_fraction: float = Field(
        0.2, ge=0.05, le=0.5, allow_inf_nan=False, description="share of examples held out"
    )


class MLP(nn.Module):
    """Linear – ReLU – Linear, with the layer names the per-layer examples use."""

    def __init__(self, in_features: int, hidden: int) -> None:
        super().__init__()
        self.layer1 = nn.Linear(in_features, hidden)
        self.relu = nn.ReLU()
        self.layer2 = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer2(self.relu(self.layer1(x)))


def teacher(x: torch.Tensor) -> torch.Tensor:
    """The fixed target function sin(x·w1) + 0.5·(x·w2), shape (N, 1).

    w1, w2 are seeded random unit vectors, so for standard-normal inputs both
    projections have unit variance whatever ``n_features`` is.
    """
    gen = torch.Generator().manual_seed(_TEACHER_SEED)
    w = torch.randn(x.shape[1], 2, generator=gen, dtype=torch.float64)
    proj = x @ (w / w.norm(dim=0)).to(x)
    return torch.sin(proj[:, :1]) + 0.5 * proj[:, 1:]


class MseRegression(ModelProblem):
    name = "mse_regression"
    title = "MLP regression (MSE)"
    description = "A two-layer MLP (layer1, layer2) fitting a noisy nonlinear function with MSE."
    Params = MseRegressionParams
    params: MseRegressionParams
    task = "regression"
    default_epochs = 20
    default_batch_size = 32

    def build_model(self) -> nn.Module:
        return MLP(self.params.n_features, self.params.hidden)

    def _n_val(self) -> int:
        """Examples held out for validation: the share ``val_fraction``, at least one each."""
        n = self.params.n_samples
        return min(max(1, round(n * self.params.val_fraction)), n - 1)

    def load_data(self, device: torch.device, seed: int) -> ModelData:
        p = self.params
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(p.n_samples, p.n_features, generator=gen, dtype=torch.float64)
        y = teacher(x) + p.noise * torch.randn(p.n_samples, 1, generator=gen, dtype=torch.float64)
        order = torch.randperm(p.n_samples, generator=gen)
        n_val = self._n_val()
        val, train = order[:n_val], order[n_val:]
        x, y = x.float(), y.float()
        return ModelData(
            train_x=x[train].to(device),
            train_y=y[train].to(device),
            val_x=x[val].to(device),
            val_y=y[val].to(device),
        )

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(output, target)

    def train_size(self, seed: int) -> int:
        return self.params.n_samples - self._n_val()

    def known_train_size(self, seed: int) -> int | None:
        return self.train_size(seed)

    def export_code(self) -> ExportCode:
        """The same samples, split, model and loss as script code (see ExportCode)."""
        p = self.params
        n, n_val = int(p.n_samples), self._n_val()
        code = f'''
N_SAMPLES = {n!r}
N_FEATURES = {p.n_features!r}
HIDDEN = {p.hidden!r}
NOISE = {p.noise!r}
N_VAL = {n_val!r}  # round(N_SAMPLES * {p.val_fraction!r}), held out for validation
_TEACHER_SEED = {_TEACHER_SEED!r}


{source(MLP)}


{source(teacher)}


def load_data():
    """Seeded samples of the teacher plus Gaussian noise, split into train and validation."""
    gen = torch.Generator().manual_seed(SEED)
    x = torch.randn(N_SAMPLES, N_FEATURES, generator=gen, dtype=torch.float64)
    y = teacher(x) + NOISE * torch.randn(N_SAMPLES, 1, generator=gen, dtype=torch.float64)
    order = torch.randperm(N_SAMPLES, generator=gen)
    val, train = order[:N_VAL], order[N_VAL:]
    x, y = x.float(), y.float()
    return x[train].to(DEVICE), y[train].to(DEVICE), x[val].to(DEVICE), y[val].to(DEVICE)


def build_model():
    return MLP(N_FEATURES, HIDDEN)


def prepare(model):
    return model.to(DEVICE)


def train_batch(train_x, train_y, index, aug):
    return train_x[index], train_y[index]


def val_batch(val_x, val_y, index):
    return val_x[index], val_y[index]


def loss_fn(output, target):
    return nn.functional.mse_loss(output, target)
'''
        return ExportCode(code=code, imports=("from torch import nn",))
