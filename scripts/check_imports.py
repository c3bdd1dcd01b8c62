"""Import rules that import-linter's contracts do not state (run by `make lint`).

1. No import circle between modules of ``app`` (packages count as their modules).
2. No function-local or ``TYPE_CHECKING`` import of an ``app`` module, except in
   ``app/cli/``, whose commands import what they run on first use so that
   ``followup --help`` starts fast.

Prints one line per problem and exits 1 when there is any.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
LAZY_ALLOWED = ROOT / "app" / "cli"


def import_circles(package: str = "app") -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    graph = grimp.build_graph(package, cache_dir=None)
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(start: str) -> None:
        # Iterative, so a deep import chain cannot hit the recursion limit.
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            advanced = False
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(edges[target])))
                    advanced = True
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    circles.append(sorted(group))

    for module in modules:
        if module not in index:
            visit(module)
    return circles


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _app_imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for child in ast.walk(node):
        if isinstance(child, ast.ImportFrom) and (child.module or "").split(".")[0] == "app":
            yield child
        elif isinstance(child, ast.Import) and any(
            alias.name.split(".")[0] == "app" for alias in child.names
        ):
            yield child


def hidden_imports(root: Path = ROOT / "app") -> list[str]:
    """``file:line`` of each app import inside a function or a TYPE_CHECKING block."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        if LAZY_ALLOWED in path.parents:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in tree.body:
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                kind = "a TYPE_CHECKING import"
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            else:
                kind = "a local import"
            for found in _app_imports(node):
                where = path.relative_to(root.parent)
                problems.append(f"{where}:{found.lineno}: {kind} of an app module")
    return problems


def main() -> int:
    sys.path.insert(0, str(ROOT))
    problems = [f"import circle: {' <-> '.join(group)}" for group in import_circles()]
    problems += hidden_imports()
    for line in problems:
        print(line)
    if not problems:
        print("imports: no circles, no local or TYPE_CHECKING imports of app modules")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
