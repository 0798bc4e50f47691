"""The small CIFAR-10 CNN of the classic PyTorch tutorial, trained with cross-entropy.

Conv(3→32, 5) – MaxPool(2) – Conv(32→32, 5) – MaxPool(2) – Conv(32→64, 5) – MaxPool(2)
– Flatten – Linear(1024→64) – Linear(64→10).  Every convolution uses padding=2 so it
keeps the image size (32 → 16 → 8 → 4 after the pools), which is what makes the
flattened size 64·4·4 = 1024.  The tutorial has no nonlinearity at all
(``activation="none"`` reproduces it exactly); the default puts a ReLU after each
convolution and after fc1.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from optlab.problem import (
    DataSource,
    ExportCode,
    Field,
    ModelData,
    ModelParams,
    ModelProblem,
    check_data_dir,
    field_validator,
)

from . import data as cifar


class Cifar10CnnParams(ModelParams):
    activation: Literal["relu", "none"] = Field(
        "relu", description="nonlinearity after each conv and fc1 ('none' = the tutorial's model)"
    )
    augment: bool = Field(False, description="random flips and crops of training batches")
    data_dir: str | None = Field(
        None,
        description="folder holding cifar-10-batches-py (default: OPTLAB_DATA_DIR, "
        "else the bundled sample)",
    )
    download: bool = Field(False, description="download CIFAR-10 into data_dir when missing")
    train_limit: int | None = Field(None, ge=1, description="use only the first N training images")
    val_limit: int | None = Field(None, ge=1, description="use only the first N test images")

    @field_validator("data_dir")
    @classmethod
    def _usable_path(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("a folder path cannot contain a NUL character")
        return value


class CifarCNN(nn.Module):
    """The tutorial's CNN with named layers conv1…conv3, fc1, fc2."""

    def __init__(self, activation: str = "relu") -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 32, 5, padding=2)
        self.conv3 = nn.Conv2d(32, 64, 5, padding=2)
        self.pool = nn.MaxPool2d(2)
        self.act = nn.ReLU() if activation == "relu" else nn.Identity()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(64 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.act(self.conv1(x)))
        x = self.pool(self.act(self.conv2(x)))
        x = self.pool(self.act(self.conv3(x)))
        return self.fc2(self.act(self.fc1(self.flatten(x))))


class Cifar10Source(DataSource):
    """CIFAR-10 for the Training page: the bundled sample, the official download, a folder."""

    title = "CIFAR-10"
    sample_text = "5,085 + 1,017 real images"
    download_size = "170 MB"
    folder_content = f"{cifar.BATCH_DIR}/"

    def sample_dir(self) -> Path:
        return cifar.sample_dir()

    def env_dir(self) -> Path | None:
        return cifar.data_dir()

    def download_dir(self) -> Path:
        return cifar.default_download_root()

    def present(self, root: Path) -> bool:
        batches = root / cifar.BATCH_DIR
        names = [*cifar.TRAIN_FILES, cifar.TEST_FILE, "batches.meta"]
        return all((batches / n).is_file() for n in names)

    def download(
        self,
        dest: Path,
        progress_callback: Callable[[int, int], None] | None = None,
        url: str | None = None,
    ) -> Path:
        kwargs = {"url": url} if url else {}
        return cifar.download_cifar10(
            check_data_dir(dest, download=True),
            progress=False,
            progress_callback=progress_callback,
            **kwargs,
        )


class Cifar10Cnn(ModelProblem):
    name = "cifar10_cnn"
    title = "CIFAR-10 CNN"
    description = "The classic small CIFAR-10 CNN (conv1–conv3, fc1, fc2) with cross-entropy."
    Params = Cifar10CnnParams
    params: Cifar10CnnParams
    task = "classification"
    default_epochs = 3
    default_batch_size = 128

    def build_model(self) -> nn.Module:
        return CifarCNN(self.params.activation)

    @classmethod
    def data_source(cls) -> DataSource:
        return Cifar10Source()

    def _root(self) -> Path:
        """The folder this spec reads, checked against the server's data folders: a
        download goes only under $OPTLAB_HOME/data or OPTLAB_DATA_ROOTS, and with
        OPTLAB_DATA_ROOTS set reading stays inside those (or the bundled sample)."""
        p = self.params
        root = cifar.folder(p.data_dir, download=p.download)
        env = cifar.data_dir()
        extra = (cifar.sample_dir(), *([env] if env is not None else []))
        download = p.download and not cifar.is_complete(root)
        return check_data_dir(root, download=download, extra=extra)

    def known_train_size(self, seed: int) -> int | None:
        """The bundled sample's or the official download's size, known without reading."""
        p = self.params
        root = cifar.folder(p.data_dir, download=p.download)
        n = cifar.known_train_size(root)
        if n is None:
            return None
        return min(n, p.train_limit) if p.train_limit is not None else n

    def _load(self) -> cifar.Cifar10:
        p = self.params
        return cifar.load_cifar10(
            self._root(),
            download=p.download,
            progress=False,
            limit_train=p.train_limit,
            limit_test=p.val_limit,
        )

    def train_size(self, seed: int) -> int:
        return len(self._load().train_y)

    def export_code(self) -> ExportCode:
        from .export_code import export_code

        return export_code(self.params, CifarCNN)

    def load_data(self, device: torch.device, seed: int) -> ModelData:
        """Train set and test batch (as validation set) on ``device``; ``seed`` is unused.

        On CPU the whole set is normalized once into channels_last float32 (slicing is
        then all a batch costs); on an accelerator the images stay uint8 on the device
        (a quarter of the memory) and each batch is normalized there.
        """
        ds = self._load()
        device = torch.device(device)
        train_x, train_y, val_x, val_y = ds.tensors(device)
        if device.type == "cpu":
            train_x, val_x = _normalized(train_x), _normalized(val_x)
        return ModelData(train_x=train_x, train_y=train_y, val_x=val_x, val_y=val_y)

    def batch(
        self,
        data: ModelData,
        index: torch.Tensor,
        train: bool,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = super().batch(data, index, train, generator)
        if x.dtype == torch.uint8:
            x = cifar.normalize(x)
        if train and self.params.augment:
            x = cifar.augment(x, generator)
        return x.contiguous(memory_format=torch.channels_last), y

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(output, target)

    def prepare_model(self, model: nn.Module, device: torch.device) -> nn.Module:
        # torch's Module.to overloads omit memory_format, which it accepts at runtime
        return model.to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]


def _normalized(x: torch.Tensor) -> torch.Tensor:
    return cifar.normalize(x).contiguous(memory_format=torch.channels_last)
