"""The package's layout: no import cycles, no reaches into another module's private names, one table of names.

The import graph is read from the source with ``ast`` (module-level and function-level imports,
``import paperlib.x``, ``from . import x``, ``from .x import y``, ``from .. import x``), so an
import hidden inside a function counts as much as one at the top of a file.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "paperlib"


def _modules() -> dict[str, Path]:
    """Dotted name -> file of every module of the package (a package's ``__init__`` under its own name)."""
    out = {}
    for f in sorted(PKG.rglob("*.py")):
        parts = ("paperlib",) + f.relative_to(PKG).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def add(target: str) -> None:
        while target and target not in modules:  # an attribute of a module: the module itself
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "paperlib" or alias.name.startswith("paperlib."):
                    add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                base = f"{base}.{node.module}" if node.module else base
            elif node.module and (node.module == "paperlib" or node.module.startswith("paperlib.")):
                base = node.module
            else:
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                add(sub if sub in modules else base)
    return found


def import_graph() -> dict[str, set[str]]:
    """``{module: {modules it imports}}`` within paperlib."""
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan), as a closed path."""
    index, low, stack, on_stack, comps = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    out = []
    for comp in comps:  # a path through the component back to its start
        members, start = set(comp), min(comp)
        path, seen = [start], {start}
        while True:
            nxt = sorted(w for w in graph[path[-1]] if w in members)
            back = [w for w in nxt if w == start]
            if back and len(path) > 1:
                out.append(path + [start])
                break
            fresh = [w for w in nxt if w not in seen]
            if not fresh:
                out.append(path + [nxt[0]])
                break
            path.append(fresh[0])
            seen.add(fresh[0])
    return out


def test_the_graph_sees_every_kind_of_import():
    graph = import_graph()
    assert "paperlib.data.split" in graph["paperlib.data.cifar"]  # from .split import ...
    assert "paperlib.breeds" in graph["paperlib.data.imagenet"]  # from .. import breeds
    assert "paperlib.names" in graph["paperlib.data"]  # from ..names import DATASETS (a package's __init__)
    assert "paperlib.config" in graph["paperlib.data.dataset"]  # from .. import config
    assert "paperlib.report" in graph["paperlib.cli"]  # from . import report, inside a function
    assert "paperlib.scoring" in graph["paperlib.experiment"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_no_import_cycles():
    cycles = _cycles(import_graph())
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_pipeline_flows_one_way():
    graph = import_graph()
    assert graph["paperlib.names"] == set()  # the table of names imports nothing
    assert graph["paperlib.locking"] == set()  # nor do the file locks
    assert not any(m.startswith("paperlib.data") for m in graph["paperlib.config"])
    for low in ("paperlib.hierarchy", "paperlib.cache", "paperlib.config"):
        assert not graph[low] - {"paperlib.names", "paperlib.locking"}, (low, graph[low])


def test_no_reaches_into_private_names_of_other_modules():
    """``module._name`` across modules: a private helper another module needs should be public."""
    modules = _modules()
    bad = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        aliases = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                base = f"{base}.{node.module}" if node.module else base
                aliases.update(a.asname or a.name for a in node.names if f"{base}.{a.name}" in modules)
                bad += [
                    f"{path.relative_to(PKG.parent)}:{node.lineno}: from {base} import {a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__") and f"{base}.{a.name}" not in modules
                ]
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                bad.append(f"{path.relative_to(PKG.parent)}:{node.lineno}: {node.value.id}.{node.attr}")
    assert not bad, "\n".join(bad)


def test_cli_imports_without_torch():
    code = "import sys, paperlib.cli; assert 'torch' not in sys.modules, sorted(sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def test_names_table_matches_what_it_names():
    from paperlib import cache, config, extract, losses, models, names

    assert names.LOSSES == tuple(losses.LOSSES)
    assert models.ARCHITECTURES == names.ARCHITECTURES and extract.POOLS == names.POOLS
    assert cache.KINDS == names.ARTIFACT_KINDS
    for p in names.PROFILES:
        prof = config.get_profile(p)
        assert prof.dataset in names.DATASETS and prof.augment in names.AUGMENTATIONS
        assert set(prof.archs) <= set(names.FAMILIES) and set(prof.archs.values()) <= set(names.ARCHITECTURES)
    for a in names.ARCHITECTURES:
        models.default_image_size(a)
    for kind, valid in names.VALID.items():
        assert names.check(kind, valid[0]) == valid[0]
        with pytest.raises(ValueError, match=rf"unknown {kind} 'nope'; valid: \[.*{valid[-1]}"):
            names.check(kind, "nope")


def test_data_package_exports_resolve():
    from paperlib import data

    assert all(hasattr(data, n) for n in data.__all__)
    assert data.Split.__module__ == "paperlib.data.split"
    assert data.SYN_SIZES is data.synthetic.SYN_SIZES  # one object: a change through either is seen
