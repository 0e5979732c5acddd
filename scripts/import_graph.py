"""The package import graph of the toolkit, derived from the source with `ast`.

    python scripts/import_graph.py              # Mermaid: the packages as floors, and solvers/
    python scripts/import_graph.py --dot        # the same as Graphviz DOT
    python scripts/import_graph.py --check      # exit 1 naming every upward arrow and circle

Every `import x` / `from x import y` (relative ones resolved, those inside functions included:
a lazy import is a dependency all the same) of every .py file of a package is an arrow from its
module to the imported module. Packages sit on floors (FLOORS, bottom first); an arrow may point
to a lower floor only. bench/ and tests/ stand beside (they may import any package; no package
imports them). Inside a package no module may import itself back through others (a circle);
solvers/' subpackages have floors of their own (SOLVERS_FLOORS). Imports of modules outside the
repository (numpy, torch, caffe, ...) are not arrows. Standard library only.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Bottom first. A package may import only packages on lower floors.
FLOORS = ("caffeio", "netspec", "zoo", "torchcaffe", "engine", "layers", "surgery", "solvers")
BESIDE = ("bench", "tests")
# solvers/' subpackages, bottom first; the command aliases at solvers/ top level sit above all.
SOLVERS_FLOORS = (
    "pictures",
    "runs",
    "evaluation",
    "training",
    "inference",
    "export",
    "weights",
    "demos",
)
ALIASES = "(aliases)"

# Import circles known and accepted for now, each with its reason (the check fails on any
# other, and on an entry here that no longer exists).
KNOWN_CIRCLES: dict = {}  # (package, module) circles allowed, each with its reason

WHY = {
    "caffeio": "Caffe's file formats and the per-layer-type facts: standard library + protobuf",
    "netspec": "NetSpec, coordinate maps, shapes: builds and reads nets, runs none",
    "zoo": "one record per model, dataset and backbone; the FCN builders; the weights catalog",
    "torchcaffe": "the PyTorch engine running Caffe nets with Caffe's semantics",
    "engine": "which engine runs the nets (pycaffe or torchcaffe); one adapter per engine",
    "layers": "Python data layers (for either engine) and their synthetic twins",
    "surgery": "classifier -> FCN weight surgery, bilinear interp, staged inits",
    "solvers": "the programs: training, evaluation, inference, export, pictures, demos",
}


def set_root(root: str) -> None:
    """Read another checkout of the repository (the default is the one holding this script)."""
    global ROOT
    ROOT = os.path.abspath(root)


def _python_files(folder: str):
    for base, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__pycache__")))
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.join(base, name)


def module_name(path: str) -> str:
    """'solvers/training/driver.py' -> 'solvers.training.driver'; a package's __init__.py is the
    package itself."""
    rel = os.path.relpath(path, ROOT)[: -len(".py")].split(os.sep)
    if rel[-1] == "__init__":
        rel = rel[:-1]
    return ".".join(rel)


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module a `from ... import` names (relative levels resolved)."""
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(path: str, modules: set[str]) -> set[str]:
    """The repository modules that the file at `path` imports (a `from pkg import name` whose
    name is a submodule counts as that submodule)."""
    module = module_name(path)
    is_package = path.endswith("__init__.py")
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(_known(a.name, modules) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node, module, is_package)
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.add(sub if sub in modules else _known(target, modules))
    out.discard(None)
    out.discard(module)
    return out


def _known(name: str, modules: set[str]) -> str | None:
    """The longest prefix of dotted `name` that is a repository module (None: outside)."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in modules:
            return ".".join(parts)
        parts.pop()
    return None


def module_graph(packages=FLOORS + BESIDE) -> dict[str, set[str]]:
    """{module: repository modules it imports} for every module of `packages`."""
    files = {}
    for pkg in packages:
        folder = os.path.join(ROOT, pkg)
        if os.path.isdir(folder):
            for path in _python_files(folder):
                files[module_name(path)] = path
    modules = set(files)
    return {m: imports_of(p, modules) for m, p in sorted(files.items())}


def top(module: str) -> str:
    return module.split(".")[0]


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """{package: packages it imports} (arrows between different top-level packages)."""
    out: dict[str, set[str]] = defaultdict(set)
    for m, targets in graph.items():
        out[top(m)]
        for t in targets:
            if top(t) != top(m):
                out[top(m)].add(top(t))
    return dict(out)


def solvers_part(module: str) -> str | None:
    """The solvers subpackage a module belongs to ('training', ...), ALIASES for the command
    aliases at solvers/ top level, None outside solvers."""
    parts = module.split(".")
    if parts[0] != "solvers":
        return None
    if len(parts) == 1:
        return ALIASES
    return parts[1] if parts[1] in SOLVERS_FLOORS else ALIASES


def solvers_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """{solvers subpackage: solvers subpackages it imports}."""
    out: dict[str, set[str]] = defaultdict(set)
    for m, targets in graph.items():
        part = solvers_part(m)
        if part is None:
            continue
        out[part]
        for t in targets:
            other = solvers_part(t)
            if other is not None and other != part:
                out[part].add(other)
    return dict(out)


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan): each is an import
    circle, its members sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found = []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def problems(graph: dict[str, set[str]] | None = None) -> list[str]:
    """Every upward arrow (between packages, between solvers' subpackages), every import of
    bench/ or tests/ by a package, and every import circle between packages or between the
    modules of one package: one line each, naming the modules."""
    graph = module_graph() if graph is None else graph
    floor = {p: i for i, p in enumerate(FLOORS)}
    sfloor = {p: i for i, p in enumerate(SOLVERS_FLOORS)}
    sfloor[ALIASES] = len(SOLVERS_FLOORS)
    out = []
    for m, targets in sorted(graph.items()):
        for t in sorted(targets):
            a, b = top(m), top(t)
            if a in floor and b in BESIDE:
                out.append(f"{m} imports {t}: {b}/ stands beside the packages, none imports it")
            elif a in floor and b in floor and floor[b] > floor[a]:
                out.append(f"{m} imports {t}: {b} is above {a} (arrows point down)")
            pa, pb = solvers_part(m), solvers_part(t)
            if pa and pb and pa != pb and sfloor[pb] > sfloor[pa]:
                out.append(f"{m} imports {t}: solvers.{pb} is above solvers.{pa}")
    for comp in circles(package_graph(graph)):
        out.append(f"import circle between packages: {' <-> '.join(comp)}")
    for comp in circles(solvers_graph(graph)):
        out.append(f"import circle between solvers' subpackages: {' <-> '.join(comp)}")
    seen = set()
    for pkg in FLOORS + BESIDE:
        inner = {m: {t for t in ts if top(t) == pkg} for m, ts in graph.items() if top(m) == pkg}
        for comp in circles(inner):
            seen.add(tuple(comp))
            if tuple(comp) not in KNOWN_CIRCLES:
                out.append(f"import circle in {pkg}/: {' <-> '.join(comp)}")
    for comp in sorted(set(KNOWN_CIRCLES) - seen):
        out.append(f"known circle {' <-> '.join(comp)} is gone: remove it from KNOWN_CIRCLES")
    return out


def _node(name: str) -> str:
    return name.replace("(", "").replace(")", "").replace(" ", "_")


def mermaid(graph: dict[str, set[str]]) -> str:
    """The package graph (floors top to bottom, solvers at the top; bench/ and tests/, which may
    import any package, left out) and solvers' subpackages, as two Mermaid flowcharts; each
    arrow points from the importer to what it imports."""
    pg = package_graph(graph)
    lines = ["```mermaid", "flowchart TB"]
    for p in reversed(FLOORS):
        lines.append(f'    {p}["{p}/"]')
    for p in reversed(FLOORS):
        for q in sorted(pg.get(p, ()), key=FLOORS.index, reverse=True):
            lines.append(f"    {p} --> {q}")
    lines += ["```", "", "```mermaid", "flowchart TB"]
    sg = solvers_graph(graph)
    order = [ALIASES, *reversed(SOLVERS_FLOORS)]
    for p in order:
        if p in sg:
            label = "solvers/*.py command aliases" if p == ALIASES else f"solvers/{p}/"
            lines.append(f'    {_node(p)}["{label}"]')
    for p in order:
        for q in sorted(sg.get(p, ()), key=order.index):
            lines.append(f"    {_node(p)} --> {_node(q)}")
    lines.append("```")
    return "\n".join(lines)


def dot(graph: dict[str, set[str]]) -> str:
    """The package graph as Graphviz DOT (rank = floor)."""
    pg = package_graph(graph)
    lines = ["digraph packages {", "  rankdir=BT;", "  node [shape=box];"]
    for p in FLOORS + BESIDE:
        for q in sorted(pg.get(p, ())):
            lines.append(f'  "{p}" -> "{q}";')
    lines.append("}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dot", action="store_true", help="Graphviz DOT instead of Mermaid")
    p.add_argument("--check", action="store_true", help="exit 1 on upward arrows and circles")
    p.add_argument("--root", help="the repository to read (default: this script's)")
    args = p.parse_args(argv)
    if args.root:
        set_root(args.root)
    graph = module_graph()
    if args.check:
        bad = problems(graph)
        for line in bad:
            print(line)
        return 1 if bad else 0
    print(dot(graph) if args.dot else mermaid(graph))
    return 0


if __name__ == "__main__":
    sys.exit(main())
