"""Files the dashboard hands out: spec JSON, results JSON, results CSV (zipped), script."""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any


def spec_bytes(spec: dict[str, Any]) -> bytes:
    return (json.dumps(spec, indent=2) + "\n").encode()


def results_json_bytes(store: Any, exp_id: str) -> bytes:
    """The result JSON (docs/architecture.md §5; what ``optlab show ID --out`` writes)."""
    return (json.dumps(store.result_json(exp_id), indent=1) + "\n").encode()


def results_csv_zip(store: Any, exp_id: str) -> bytes:
    """Every CSV of ``optlab show ID --csv DIR`` in one zip file."""
    with tempfile.TemporaryDirectory(prefix="optlab-csv-") as tmp:
        files = store.export_csv(exp_id, tmp)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in files:
                zf.write(path, arcname=f"{exp_id}/{Path(path).name}")
        return buffer.getvalue()


def file_stem(name: str, fallback: str) -> str:
    """A safe file name from an experiment's name."""
    keep = "".join(c if c.isalnum() or c in "-_" else "_" for c in name.strip())[:60].strip("_")
    return keep or fallback
