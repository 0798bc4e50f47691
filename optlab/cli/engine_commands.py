"""The engine's commands: ``run``, ``schedule``, ``export`` and ``list``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from optlab.cli.errors import UsageError, read_spec, write_output


def cmd_run(args: argparse.Namespace) -> int:
    import contextlib

    import torch
    from tqdm import tqdm

    from optlab.engine.experiment import run_experiment

    spec = read_spec(args.spec)
    if spec.sweep is not None:
        raise UsageError("this spec has a sweep: use `python -m optlab sweep` to run its trials")
    from optlab.cli.instrument_commands import print_warnings

    print_warnings(spec)
    # 2-element surface updates gain nothing from threads; models use torch's default
    torch.set_num_threads(args.threads or (1 if spec.is_surface else torch.get_num_threads()))
    bar = tqdm(
        total=1000,
        desc=spec.name or "optlab run",
        unit="‰",
        file=sys.stderr,
        disable=args.quiet or None,
        mininterval=0.5,
        leave=False,
    )
    recorder: Any = None
    with contextlib.ExitStack() as stack:
        if not args.no_store:  # streamed into the store, so the dashboard can watch it live
            from optlab.cli.store_commands import Recorder

            recorder = stack.enter_context(Recorder(spec))

        def on_batch(batch: Any, exp: Any) -> None:
            bar.update(int(batch.progress * 1000) - bar.n)
            if recorder is not None:
                recorder(batch, exp)

        try:
            result = run_experiment(spec, on_batch=on_batch)
        finally:
            bar.close()
    if recorder is not None:
        result["id"] = recorder.id
    write_output(json.dumps(result, indent=None if args.out is None else 1) + "\n", args.out)
    for run in result["runs"]:
        if run["status"] != "finished":
            msg = f"{run['label']}: {run['status']} {run.get('message', '')}".rstrip()
            print(msg, file=sys.stderr)
    if all(run["status"] == "failed" and not run.get("loss") for run in result["runs"]):
        print("no run of the experiment could start", file=sys.stderr)
        return 2
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    from optlab.engine.experiment import preview_schedule

    result = preview_schedule(read_spec(args.spec))
    write_output(json.dumps(result) + "\n", args.out)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from optlab.export.script import export_script

    try:
        text = export_script(read_spec(args.spec))
    except NotImplementedError as exc:
        raise UsageError(f"cannot export this spec: {exc}") from None
    write_output(text, args.out)
    return 0


def catalogue_json() -> dict[str, Any]:
    """Problems, optimizers and schedulers with their hyperparameters (``list --json``)."""
    from dataclasses import asdict

    from optlab import problem as problems
    from optlab.catalog import optimizers, schedulers

    def params(info: Any) -> dict[str, Any]:
        return {
            name: {k: v for k, v in asdict(hp).items() if k != "name"}
            for name, hp in info.params.items()
        }

    return {
        "problems": [
            {
                "name": p.name,
                "kind": p.kind,
                "title": p.title,
                "description": p.description,
                "fields": p.Params.model_json_schema().get("properties", {}),
            }
            for p in problems.list_problems()
        ],
        "optimizers": [
            {
                "name": i.name,
                "source": i.source,
                "description": i.description,
                "elementwise": i.elementwise,
                "params": params(i),
            }
            for i in optimizers.catalogue().values()
        ],
        "schedulers": [
            {
                "name": i.name,
                "composite": i.composite,
                "description": i.description,
                "params": params(i),
            }
            for i in schedulers.catalogue().values()
        ],
    }


def cmd_list(args: argparse.Namespace) -> int:
    data = catalogue_json()
    if args.json:
        print(json.dumps(data, indent=1, default=str))
        return 0
    for section in ("problems", "optimizers", "schedulers"):
        print(f"{section}:")
        for item in data[section]:
            print(f"  {item['name']:<24} {item['description']}")
    return 0


def add_engine_commands(subparsers: Any) -> None:
    """Register ``run``, ``schedule``, ``export`` and ``list`` on the CLI's subparsers."""
    run = subparsers.add_parser("run", help="run an experiment spec and print the result JSON")
    run.add_argument("spec", help="spec JSON file ('-' for stdin)")
    run.add_argument("--out", help="write the result JSON here instead of stdout")
    run.add_argument("--no-store", action="store_true", help="do not keep it in the run store")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--threads", type=int, help="torch threads (default: 1 for surfaces)")
    run.set_defaults(func=cmd_run)
    sched = subparsers.add_parser(
        "schedule", help="preview the lr per group per step, without training"
    )
    sched.add_argument("spec")
    sched.add_argument("--out")
    sched.set_defaults(func=cmd_schedule)
    export = subparsers.add_parser(
        "export", help="write a standalone PyTorch script of the experiment"
    )
    export.add_argument("spec")
    export.add_argument("--out")
    export.set_defaults(func=cmd_export)
    lst = subparsers.add_parser("list", help="problems, optimizers and schedulers")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_list)
