"""Lessons: ordered scenes read from ``lessons/<name>.json`` (no Streamlit here).

A lesson file is JSON: ``{"title", "summary", "scenes": [...]}``; a scene has a
``title``, a ``caption`` (Markdown with LaTeX), either an inline ``spec`` or a
``preset`` key (``optlab.ui.presets``), the ``controls`` shown (``{"path", "label",
"min", "max", "step"}``, ``path`` a dotted path into the spec such as
``runs.1.optimizer.momentum``), the ``locked`` paths (shown, not editable) and
an optional ``question`` (``{"text"}``; the choices are the runs' labels).
``python -m pytest tests/test_lessons.py`` checks every scene's spec.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optlab.ui import presets

LESSON_DIR = Path(__file__).resolve().parents[2] / "lessons"
_NAME = re.compile(r"^[a-z0-9_]{1,64}$")


@dataclass(frozen=True)
class Control:
    path: str
    label: str
    min: float | None = None
    max: float | None = None
    step: float | None = None


@dataclass(frozen=True)
class Scene:
    title: str
    caption: str
    spec: dict[str, Any]
    controls: tuple[Control, ...] = ()
    locked: frozenset[str] = frozenset()
    question: str | None = None

    @property
    def choices(self) -> list[str]:
        return [str(r.get("label", f"run {i + 1}")) for i, r in enumerate(self.spec["runs"])]


@dataclass(frozen=True)
class Lesson:
    name: str
    title: str
    summary: str
    scenes: tuple[Scene, ...] = field(default_factory=tuple)


def names() -> list[str]:
    return sorted(p.stem for p in LESSON_DIR.glob("*.json") if _NAME.match(p.stem))


def _scene(raw: dict[str, Any], where: str) -> Scene:
    if ("spec" in raw) == ("preset" in raw):
        raise ValueError(f"{where}: give either 'spec' or 'preset'")
    spec = raw["spec"] if "spec" in raw else presets.get(str(raw["preset"])).spec
    controls = tuple(Control(**c) for c in raw.get("controls", []))
    shown = {c.path for c in controls}
    locked = frozenset(raw.get("locked", []))
    if not locked <= shown:
        raise ValueError(f"{where}: locked paths must be shown controls: {sorted(locked - shown)}")
    for c in controls:
        get_path(spec, c.path)  # raises when the path is not in the spec
    question = (raw.get("question") or {}).get("text")
    return Scene(
        title=str(raw["title"]),
        caption=str(raw["caption"]),
        spec=copy.deepcopy(spec),
        controls=controls,
        locked=locked,
        question=question,
    )


def load(name: str) -> Lesson:
    """The lesson ``lessons/<name>.json``; ValueError for an unknown or malformed one."""
    if not _NAME.match(name) or not (LESSON_DIR / f"{name}.json").is_file():
        raise ValueError(f"no lesson {name!r}")
    raw = json.loads((LESSON_DIR / f"{name}.json").read_text(encoding="utf-8"))
    scenes = tuple(_scene(s, f"{name} scene {i + 1}") for i, s in enumerate(raw["scenes"]))
    if not scenes:
        raise ValueError(f"lesson {name!r} has no scenes")
    return Lesson(name, str(raw["title"]), str(raw.get("summary", "")), scenes)


def _key(part: str) -> str | int:
    return int(part) if part.isdigit() else part


def get_path(spec: Any, path: str) -> Any:
    node = spec
    for part in path.split("."):
        node = node[_key(part)]
    return node


def set_path(spec: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``spec`` with ``path`` set to ``value``."""
    out = copy.deepcopy(spec)
    parts = path.split(".")
    node: Any = out
    for part in parts[:-1]:
        node = node[_key(part)]
    node[_key(parts[-1])] = value
    return out


def scene_spec(scene: Scene, values: dict[str, Any]) -> dict[str, Any]:
    """The scene's spec with the shown, unlocked controls set to ``values``."""
    spec = scene.spec
    for c in scene.controls:
        if c.path in values and c.path not in scene.locked:
            spec = set_path(spec, c.path, values[c.path])
    return spec
