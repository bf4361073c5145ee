"""List import cycles between modules of src/genai_cost (strongly connected components of the import graph).

Every ``import`` / ``from ... import`` counts, at module level, under ``if TYPE_CHECKING:`` and
inside functions alike (a deferred import still ties two modules together); ``--module-level``
leaves out imports inside functions and classes (``if TYPE_CHECKING:`` blocks still count: the
type names tie the modules too). A package's own ``__init__`` imported on the way to a child is
not an edge. Exit status 1 when a cycle is found, so CI can run it:

    python scripts/import_cycles.py [--under genai_cost.gateway] [--module-level]
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "src"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, modules: set[str], module_level: bool) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = list(ast.walk(tree))
    if module_level:  # statements under a module-level if/try count, function bodies do not
        deferred = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        nodes = [node for top in tree.body if not isinstance(top, deferred) for node in ast.walk(top)]
    found = set()
    for node in nodes:
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--under", default="genai_cost", help="only modules in this package")
    parser.add_argument("--module-level", action="store_true", help="only imports run at import time")
    args = parser.parse_args()
    paths = {module_name(p): p for p in (ROOT / "genai_cost").rglob("*.py")}
    modules = set(paths)
    graph = {
        name: {t for t in imports_of(path, modules, args.module_level) if t.startswith(args.under)}
        for name, path in paths.items()
        if name.startswith(args.under)
    }
    # A package's __init__ imported for its children is not an edge worth a cycle report.
    for name, targets in graph.items():
        targets -= {t for t in targets if name.startswith(t + ".")}
    found = cycles(graph)
    for component in found:
        print(" <-> ".join(component))
        for node in component:
            inner = sorted(graph[node] & set(component))
            print(f"    {node} -> {', '.join(inner)}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
