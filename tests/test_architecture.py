"""The layers hold: imports point one way and no module imports itself in a circle.

The graph is built from the source with ``ast`` (imports inside functions and
``TYPE_CHECKING`` blocks count too), so an import hidden in a function cannot
smuggle a circle or an upward arrow past this test.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The layer order, written once: a module may import modules of a lower rank, and
# modules of its own package.  Same-rank packages may not import each other.
RANKS = {
    "optlab.paths": 0,
    "optlab.settings": 0,
    "optlab.catalog": 0,
    "optlab.problem": 0,
    "optlab.sweep_spec": 1,
    "problems": 1,  # plugins: the problem interface, torch and numpy only
    "optlab.spec_guard": 1,  # the raw-input gate in front of the spec: settings only
    "optlab.spec": 2,  # with its parts and its error messages beside it
    "optlab.engine": 3,
    "optlab.export": 4,
    "optlab.store": 5,
    "optlab.jobs": 6,
    "optlab.cli": 7,
    "optlab.ui": 7,
    "optlab.__main__": 8,
}
# modules that belong to another module's layer (one layer, several files)
SAME_LAYER = {
    "optlab.spec_parts": "optlab.spec",
    "optlab.spec_errors": "optlab.spec",
    "optlab.problem_data": "optlab.problem",
}
# what a plugin may import from optlab
PLUGIN_MAY_IMPORT = {"optlab.problem", "optlab.paths"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in [*ROOT.glob("optlab/**/*.py"), *ROOT.glob("problems/**/*.py")]:
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every project module ``name`` imports, anywhere in the file."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                prefix = package[: len(package) - node.level + 1]
                base = ".".join([*prefix, *([node.module] if node.module else [])])
            # ``from pkg import sub`` names the submodule; ``from pkg import name`` the package
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            # the longest project module that the target names (``a.b.c`` -> ``a.b``)
            parts = target.split(".")
            for n in range(len(parts), 0, -1):
                candidate = ".".join(parts[:n])
                if candidate in MODULES:
                    if candidate != name:
                        out.add(candidate)
                    break
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _rank(module: str) -> tuple[str, int]:
    module = SAME_LAYER.get(module, module)
    best = max((p for p in RANKS if module == p or module.startswith(p + ".")), key=len)
    return best, RANKS[best]


def test_every_module_has_a_layer() -> None:
    missing = [
        m
        for m in MODULES
        if m not in ("optlab", "problems")
        and not any(SAME_LAYER.get(m, m) == p or m.startswith(p + ".") for p in RANKS)
    ]
    assert not missing, f"modules outside every layer (add them to RANKS): {missing}"


def test_imports_point_down() -> None:
    bad = []
    for module, targets in GRAPH.items():
        if module in ("optlab", "problems"):
            continue
        layer, rank = _rank(module)
        for target in targets:
            if target in ("optlab", "problems"):
                continue
            t_layer, t_rank = _rank(target)
            if t_layer == layer:
                continue
            if layer == "problems" and t_layer.startswith("optlab"):
                if t_layer not in PLUGIN_MAY_IMPORT:
                    bad.append(f"{module} -> {target} (plugins use the problem interface only)")
                continue
            if t_rank >= rank:
                bad.append(f"{module} ({layer}) -> {target} ({t_layer})")
    assert not bad, "imports against the layer order:\n" + "\n".join(sorted(bad))


def test_no_module_in_optlab_names_a_plugin() -> None:
    bad = [
        f"{m} -> {t}"
        for m, targets in GRAPH.items()
        if m.startswith("optlab")
        for t in targets
        if t == "problems" or t.startswith("problems.")
    ]
    assert not bad, "optlab must reach problems only through the registry:\n" + "\n".join(bad)


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            visit(v)
    return found


def test_no_import_circles() -> None:
    assert _cycles() == []


def test_the_checker_sees_hidden_imports() -> None:
    """The graph includes imports made inside functions (the circles used to hide there)."""
    source = ROOT / "optlab" / "cli" / "engine_commands.py"
    assert "optlab.engine.experiment" in _imports("optlab.cli.engine_commands", source)


def test_no_file_is_over_400_lines() -> None:
    """Small files with one job each: a file past 400 lines is split along a real seam."""
    long = {
        str(path.relative_to(ROOT)): n
        for path in MODULES.values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not long, f"files over 400 lines: {long}"


def test_readme_layout_matches_the_tree() -> None:
    """Every path the README's layout lists exists, and every package of optlab/ is listed."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Layout", 1)[1].split("```", 2)[1]
    listed = {
        word
        for line in block.splitlines()
        for word in line.split()[:2]
        if "/" in word or word.endswith(".py")
    }
    missing = sorted(p for p in listed if not (ROOT / p.rstrip("/")).exists())
    assert not missing, f"README layout lists paths that do not exist: {missing}"
    packages = {
        f"{p.relative_to(ROOT)}/"
        for p in [*(ROOT / "optlab").iterdir(), *(ROOT / "optlab" / "ui").iterdir()]
        if p.is_dir() and (p / "__init__.py").exists()
    }
    assert packages <= listed, f"packages missing from the README layout: {packages - listed}"
