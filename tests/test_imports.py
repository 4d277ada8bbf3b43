"""The library's import graph: no circle anywhere, and no upward import among its layers.

Every `import` and `from ... import` in every module counts, at module level or inside a function (a
lazy import is still a dependency). Importing `a.b.c` also runs `a/__init__` and `a/b/__init__`, so
those count too, unless the importer already lives inside that package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rembg_core"

# Lower layers never import higher ones (nor their equals): memory is a leaf, sessions build on it,
# measuring, the service and the Ray engine build on sessions, and the command line sits on top.
LAYERS = {"memory": 0, "session": 1, "measure": 2, "distributed": 2, "server": 2, "cli": 3}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [f"{target}.{alias.name}" for alias in node.names] + [target]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        for candidate in candidates:
            if candidate in known:
                found.add(candidate)
                break
    own = set(ancestors(name)) | {name}
    for target in list(found):
        found |= {a for a in ancestors(target) if a in known and a not in own}
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    known = set(paths)
    return {name: imports_of(path, name, known) for name, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def layer(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph[name])
    return seen


GRAPH = import_graph()


def test_the_graph_is_read():
    assert "rembg_core.cli.remove" in GRAPH and "rembg_core.memory" in GRAPH
    assert "rembg_core.session" in GRAPH["rembg_core.pipeline"]


def test_no_import_circle():
    assert cycles(GRAPH) == []


def test_cycles_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_memory_is_a_leaf():
    assert GRAPH["rembg_core.memory"] == set()


@pytest.mark.parametrize("low", sorted(LAYERS))
def test_no_upward_import(low):
    """Nothing in layer `low` reaches, directly or through other modules, a layer at or above its own."""
    offending = []
    for name in (n for n in GRAPH if layer(n) == low):
        for target in reachable(GRAPH, name):
            high = layer(target)
            if high is not None and high != low and LAYERS[high] >= LAYERS[low]:
                offending.append(f"{name} -> {target}")
    assert offending == []


def test_only_the_dashboard_reaches_its_support_code():
    """rembg_core.dashboard (plotly, the `app` extra) is for pages/ alone: the CLI and the service
    must run without it."""
    offending = [f"{name} -> {target}" for name in GRAPH if not name.startswith("rembg_core.dashboard")
                 for target in reachable(GRAPH, name) if target.startswith("rembg_core.dashboard")]
    assert offending == []


def test_the_readme_maps_every_module():
    """The README's module map is written from the tree: every module appears in it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text[text.index("```\nrembg_core/"):]
    block = block[: block.index("```", 4)]
    missing = [str(p.relative_to(PACKAGE)) for p in sorted(PACKAGE.rglob("*.py"))
               if p.name != "__init__.py" and p.name not in block]
    subpackages = [p.parent.name for p in PACKAGE.glob("*/__init__.py") if f"{p.parent.name}/" not in block]
    assert missing == [] and subpackages == []
