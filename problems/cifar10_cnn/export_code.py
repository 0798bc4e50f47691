"""cifar10_cnn's part of an exported script: the reader, normalization, model and batches.

The script reads the same batch files the engine reads (plain ``pickle``: the script
is for data the user trusts), normalizes them once like the engine's CPU path and
copies the model class and :func:`augment` with ``inspect`` so the arithmetic is
identical.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from optlab.problem import ExportCode, source

from . import data as cifar
from .tensors import augment


class Cifar10CnnParams(Protocol):
    """The problem's fields the export reads (the package's params; no import back)."""

    @property
    def activation(self) -> str: ...  # read-only: the params' field is a Literal of str

    augment: bool
    data_dir: str | None
    download: bool
    train_limit: int | None
    val_limit: int | None


def data_root(p: Cifar10CnnParams) -> Path:
    """The folder the engine reads (data_dir, else OPTLAB_DATA_DIR, else the bundled sample)."""
    return cifar.folder(p.data_dir, download=p.download)


def export_code(p: Cifar10CnnParams, model: type) -> ExportCode:
    """The script's data pipeline, ``model`` class and loss for the settings ``p``."""
    root = data_root(p)
    augmented = bool(p.augment)
    batch = "x = augment(x, aug)\n    " if augmented else ""
    code = f'''
DATA_DIR = Path({str(root / cifar.BATCH_DIR)!r})
TRAIN_FILES = {cifar.TRAIN_FILES!r}
TEST_FILE = {cifar.TEST_FILE!r}
TRAIN_LIMIT = {p.train_limit!r}  # use only the first N training images (None: all)
VAL_LIMIT = {p.val_limit!r}  # use only the first N test images (None: all)
MEAN = {cifar.MEAN!r}
STD = {cifar.STD!r}
ACTIVATION = {p.activation!r}


def read_batch(path):
    """One official CIFAR-10 python batch: uint8 images (N, 3, 32, 32) and int64 labels.
    (pickle runs code from the file: read only trusted data files.)"""
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    batch = {{k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}}
    data = batch["data"]
    if isinstance(data, (bytes, bytearray)):
        data = np.frombuffer(data, dtype=np.uint8)
    x = np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32)
    return x, np.asarray(batch["labels"], dtype=np.int64)


def read_split(names, limit):
    """Batch files in order, reading no more files than ``limit`` images need."""
    xs, ys, n = [], [], 0
    for name in names:
        if limit is not None and n >= limit:
            break
        x, y = read_batch(DATA_DIR / name)
        xs.append(x)
        ys.append(y)
        n += len(y)
    x, y = np.concatenate(xs), np.concatenate(ys)
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return torch.tensor(np.ascontiguousarray(x)), torch.tensor(np.ascontiguousarray(y))


def normalize(x_uint8):
    """float32 images with CIFAR-10's per-channel mean and std: x * scale - shift."""
    mean = torch.tensor(MEAN, dtype=torch.float64)
    std = torch.tensor(STD, dtype=torch.float64)
    scale = (1.0 / (255.0 * std)).to(torch.float32).view(1, 3, 1, 1)
    shift = (mean / std).to(torch.float32).view(1, 3, 1, 1)
    return x_uint8.to(torch.float32).mul_(scale).sub_(shift)


def load_data():
    """Train images and the test batch (as validation), normalized, channels_last."""
    train_x, train_y = read_split(TRAIN_FILES, TRAIN_LIMIT)
    val_x, val_y = read_split([TEST_FILE], VAL_LIMIT)
    train_x = normalize(train_x).contiguous(memory_format=torch.channels_last)
    val_x = normalize(val_x).contiguous(memory_format=torch.channels_last)
    return train_x.to(DEVICE), train_y.to(DEVICE), val_x.to(DEVICE), val_y.to(DEVICE)
{"" if not augmented else chr(10) + chr(10) + source(augment)}


{source(model)}


def build_model():
    return CifarCNN(ACTIVATION)


def prepare(model):
    return model.to(DEVICE, memory_format=torch.channels_last)


def train_batch(train_x, train_y, index, aug):
    x, y = train_x[index], train_y[index]
    {batch}return x.contiguous(memory_format=torch.channels_last), y


def val_batch(val_x, val_y, index):
    x, y = val_x[index], val_y[index]
    return x.contiguous(memory_format=torch.channels_last), y


def loss_fn(output, target):
    return nn.functional.cross_entropy(output, target)
'''
    return ExportCode(
        code=code,
        imports=(
            "import numpy as np",
            "from torch import nn",
            *(["import torch.nn.functional as F"] if augmented else []),
        ),
        std_imports=("import pickle", "from pathlib import Path"),
    )
