"""Docstrings and the README cite only documents and sections that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "docs" / "architecture.md"
CITE = re.compile(r"docs/architecture\.md §(\d+)")


def _sources() -> list[Path]:
    files = [ROOT / "app.py", ROOT / "README.md"]
    for folder in ("optlab", "problems", "tests", "benchmarks", "scripts"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return files


def test_architecture_sections_cited_in_the_code_exist() -> None:
    sections = set(re.findall(r"^## §(\d+) ", ARCHITECTURE.read_text("utf-8"), re.MULTILINE))
    cited = {}
    for path in _sources():
        for number in CITE.findall(path.read_text("utf-8")):
            cited.setdefault(number, path.relative_to(ROOT).as_posix())
    assert cited, "no citations found: has the citation style changed?"
    missing = {n: where for n, where in cited.items() if n not in sections}
    assert not missing, f"cited sections missing from docs/architecture.md: {missing}"


def test_no_citations_of_documents_outside_the_repository() -> None:
    stale = [
        path.relative_to(ROOT).as_posix()
        for path in _sources()
        if path != Path(__file__).resolve() and "DESIGN.md" in path.read_text("utf-8")
    ]
    assert not stale
