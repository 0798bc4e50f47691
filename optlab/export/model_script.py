"""Export a model experiment (mse_regression, cifar10_cnn) as a standalone PyTorch script.

The script is the textbook training loop, one run after another, and reproduces the
engine's numbers (``optlab/engine/model_runner.py``): the same initial weights (torch seeded,
then the model built), the same per-epoch permutation (a generator seeded with
``seed * 1_000_003 + epoch``, batches as index slices, the last partial batch kept),
the same augmentation draws (``seed * 7_919 + epoch``), the same parameter groups
(first matching glob wins, default group last), the same scheduler stepping and the
same validation (eval mode, batches of 1024, float32 sums).  Model classes and helper
functions are copied from the problem modules with ``inspect.getsource`` so the
arithmetic is identical.
"""

from __future__ import annotations

import inspect
import math
import textwrap
from pathlib import Path

import problems.cifar10_cnn as cifar_problem
import problems.mse_regression as mse_problem
from optlab.export.script import _header, _run_function, _value
from optlab.problem import ModelProblem
from optlab.spec import ExperimentSpec, RunSpec
from problems.cifar10_cnn import data as cifar

EVAL_BATCH = 1024  # the engine's validation batch (model_runner.EVAL_BATCH)

GROUPS_HELPER = '''
SPEC_ONLY = ("params", "frozen", "unfreeze_at_step")  # group keys that are not optimizer settings


def param_groups(model, groups):
    """Optimizer groups the engine's way: every parameter joins the first group whose glob
    matches its name, the rest form the default group (last).  Frozen groups stay out
    (requires_grad off); those with an unfreeze step come back as {step: [group, ...]}."""
    members = [[] for _ in groups]
    default = []
    for name, param in model.named_parameters():
        for i, group in enumerate(groups):
            if any(fnmatchcase(name, pattern) for pattern in group["params"]):
                members[i].append(param)
                break
        else:
            default.append(param)
    active, later = [], []
    for group, params in zip(groups, members):
        settings = {k: v for k, v in group.items() if k not in SPEC_ONLY}
        if not group.get("frozen"):
            active.append({"params": params, **settings})
            continue
        for param in params:
            param.requires_grad_(False)
        if group.get("unfreeze_at_step") is not None:
            later.append((group["unfreeze_at_step"], {"params": params, **settings}))
    if default:
        active.append({"params": default})
    joining = {}
    for step, group in sorted(later, key=lambda item: item[0]):
        joining.setdefault(step, []).append(group)
    return active, joining


def unfreeze(group, optimizer):
    """Let a frozen group learn again: it joins the optimizer before this update."""
    for param in group["params"]:
        param.requires_grad_(True)
        param.grad = None
    optimizer.add_param_group(group)
'''

LOOP = '''
@torch.no_grad()
def evaluate(model, val_x, val_y):
    """Mean validation loss, in eval mode, in batches of EVAL_BATCH."""
    model.eval()
    n = val_x.shape[0]
    total = torch.zeros((), device=DEVICE)
    for start in range(0, n, EVAL_BATCH):
        index = torch.arange(start, min(n, start + EVAL_BATCH), device=DEVICE)
        x, y = val_batch(val_x, val_y, index)
        total += loss_fn(model(x), y) * y.shape[0]
    model.train()
    return float(total) / n


def train(label, data, make_optimizer, make_scheduler, groups=(), interval="step",
          monitor="loss", clip_grad_norm=None, needs_closure=False):
    train_x, train_y, val_x, val_y = data
    n_train = train_x.shape[0]
    steps_per_epoch = math.ceil(n_train / BATCH_SIZE)
    torch.manual_seed(SEED)  # every run starts from the same initial weights
    model = prepare(build_model())
    model.train()
    params, joining = param_groups(model, groups)
    optimizer = make_optimizer(params)
    scheduler = make_scheduler(optimizer)
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    val_loss = None
    for epoch in range(EPOCHS):
        # the same shuffle (and augmentation draws) for every run
        order = torch.Generator(device=DEVICE).manual_seed(SEED * 1_000_003 + epoch)
        perm = torch.randperm(n_train, generator=order, device=DEVICE)
        aug = torch.Generator(device=DEVICE).manual_seed(SEED * 7_919 + epoch)
        loss_sum = 0.0
        for b in range(steps_per_epoch):
            for group in joining.get(epoch * steps_per_epoch + b, []):
                unfreeze(group, optimizer)
            index = perm[b * BATCH_SIZE : (b + 1) * BATCH_SIZE]
            x, y = train_batch(train_x, train_y, index, aug)

            def closure():
                optimizer.zero_grad()
                loss = loss_fn(model(x), y)
                loss.backward()
                return loss

            loss = closure()
            if clip_grad_norm is not None:
                trained = [p for g in optimizer.param_groups for p in g["params"]]
                torch.nn.utils.clip_grad_norm_([p for p in trained if p.grad is not None],
                                               clip_grad_norm)
            if needs_closure:
                optimizer.step(closure)
            else:
                optimizer.step()
            loss_sum = loss_sum + loss.detach() * y.shape[0]
            if scheduler is not None and interval == "step":
                if plateau:
                    scheduler.step(loss.item())
                else:
                    scheduler.step()
        train_loss = float(loss_sum) / n_train
        if not math.isfinite(train_loss):
            print(f"{label}: diverged in epoch {epoch + 1}")
            return
        val_loss = evaluate(model, val_x, val_y)
        if scheduler is not None and interval == "epoch":
            if plateau:
                scheduler.step({"loss": train_loss, "val_loss": val_loss}[monitor])
            else:
                scheduler.step()
    print(f"{label}: final loss = {val_loss:.10g}")
'''


def _source(obj: object) -> str:
    return textwrap.dedent(inspect.getsource(obj)).strip()  # type: ignore[arg-type]


def _device_code(device: str) -> str:
    if device == "auto":
        return (
            'DEVICE = torch.device("cuda" if torch.cuda.is_available() else '
            '"mps" if torch.backends.mps.is_available() else "cpu")'
        )
    return f"DEVICE = torch.device({device!r})"


# --------------------------------------------------------------------------- problems


def _mse(problem: ModelProblem) -> tuple[list[str], list[str], int]:
    """(imports, code, n_train) for mse_regression."""
    p = problem.params
    n = int(p.n_samples)  # type: ignore[attr-defined]
    n_val = min(max(1, round(n * p.val_fraction)), n - 1)  # type: ignore[attr-defined]
    code = f'''
N_SAMPLES = {n!r}
N_FEATURES = {p.n_features!r}
HIDDEN = {p.hidden!r}
NOISE = {p.noise!r}
N_VAL = {n_val!r}  # round(N_SAMPLES * {p.val_fraction!r}), held out for validation
_TEACHER_SEED = {mse_problem._TEACHER_SEED!r}


{_source(mse_problem.MLP)}


{_source(mse_problem.teacher)}


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
    return ["from torch import nn"], [code], n - n_val


def _cifar_root(problem: ModelProblem) -> Path:
    """The folder the engine reads (data_dir, else OPTLAB_DATA_DIR, else the bundled sample)."""
    p = problem.params
    root = p.data_dir or cifar.data_dir()  # type: ignore[attr-defined]
    if root is None:
        root = cifar.default_download_root() if p.download else cifar.sample_dir()  # type: ignore[attr-defined]
    return Path(root).expanduser().resolve()


def _cifar(problem: ModelProblem, need_n_train: bool) -> tuple[list[str], list[str], int]:
    """(imports, code, n_train) for cifar10_cnn."""
    p = problem.params
    root = _cifar_root(problem)
    n_train = 0
    if need_n_train:  # a schedule's length depends on it: read what the engine would read
        ds = cifar.load_cifar10(
            root,
            download=p.download,
            progress=False,  # type: ignore[attr-defined]
            limit_train=p.train_limit,
            limit_test=p.val_limit,
        )  # type: ignore[attr-defined]
        n_train = len(ds.train_y)
    augment = bool(p.augment)  # type: ignore[attr-defined]
    batch = "x = augment(x, aug)\n    " if augment else ""
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
{"" if not augment else chr(10) + chr(10) + _source(cifar.augment)}


{_source(cifar_problem.CifarCNN)}


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
    imports = ["from torch import nn"] + (["import torch.nn.functional as F"] if augment else [])
    return imports, [code], n_train


# --------------------------------------------------------------------------- runs


def _check_run(run: RunSpec) -> None:
    if run.scheduler is not None and any(g.unfreeze_at_step is not None for g in run.param_groups):
        raise NotImplementedError("export of unfreeze_at_step is not supported yet")
    if (
        run.scheduler is not None
        and run.scheduler.interval == "step"
        and run.scheduler.monitor == "val_loss"
    ):
        raise NotImplementedError(
            "export of a per-step schedule monitoring val_loss is not supported"
        )


def _groups_literal(run: RunSpec) -> str:
    rows = []
    for g in run.param_groups:
        items = [f'"params": {g.patterns!r}']
        if g.frozen:
            items.append('"frozen": True')
        if g.unfreeze_at_step is not None:
            items.append(f'"unfreeze_at_step": {g.unfreeze_at_step!r}')
        items += [f"{k!r}: {_value(v)}" for k, v in g.overrides.items()]
        rows.append("    {" + ", ".join(items) + "},")
    return "[\n" + "\n".join(rows) + "\n]" if rows else "[]"


def _call(i: int, run: RunSpec) -> str:
    from optlab.catalog import optimizers

    sched = run.scheduler
    args = [repr(run.label), "data", f"make_optimizer_{i}", f"make_scheduler_{i}", f"GROUPS_{i}"]
    if sched is not None:
        args += [f"interval={sched.interval!r}", f"monitor={(sched.monitor or 'loss')!r}"]
    if run.clip_grad_norm is not None:
        args.append(f"clip_grad_norm={run.clip_grad_norm!r}")
    if optimizers.get_info(run.optimizer.name).needs_closure:
        args.append("needs_closure=True")
    return f"    train({', '.join(args)})"


def model_script(spec: ExperimentSpec, problem: ModelProblem) -> str:
    """The standalone training script for a model experiment (see the module docstring)."""
    for run in spec.runs:
        _check_run(run)
    epochs, batch_size = (
        int(spec.epochs or problem.default_epochs),
        int(spec.batch_size or problem.default_batch_size),
    )
    if problem.name == "mse_regression":
        imports, code, n_train = _mse(problem)
        std_imports = ["import math"]
    elif problem.name == "cifar10_cnn":
        imports, code, n_train = _cifar(problem, need_n_train=any(r.scheduler for r in spec.runs))
        std_imports = ["import math", "import pickle", "from pathlib import Path"]
        imports = ["import numpy as np", *imports]
    else:
        raise NotImplementedError(
            f"export of the model problem {problem.name!r} is not supported yet"
        )
    std_imports.append("from fnmatch import fnmatchcase")
    steps = epochs * math.ceil(n_train / batch_size) if n_train else 0

    lines = _header(spec)
    at = lines.index("import math")
    lines[at : at + 1] = std_imports
    at = lines.index("import torch")
    lines[at + 1 : at + 1] = imports
    lines += [
        f"SEED = {spec.seed!r}",
        f"EPOCHS = {epochs!r}",
        f"BATCH_SIZE = {batch_size!r}",
        f"EVAL_BATCH = {EVAL_BATCH!r}",
        _device_code(spec.device),
        *code,
        GROUPS_HELPER,
        LOOP,
    ]
    for i, run in enumerate(spec.runs):
        interval = run.scheduler.interval if run.scheduler else "step"
        budget = max(1, epochs if interval == "epoch" else steps)
        lines += [
            "",
            f"GROUPS_{i} = {_groups_literal(run)}",
            "",
            "",
            _run_function(spec, i, run, budget),
        ]
    lines += ["", 'if __name__ == "__main__":', "    data = load_data()"]
    lines += [_call(i, run) for i, run in enumerate(spec.runs)]
    return "\n".join(lines) + "\n"


__all__ = ["model_script"]
