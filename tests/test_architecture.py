"""The package's import graph, read with ``ast``: no circles, dependencies pointing down.

Every ``import`` of a package module counts, at module level or inside a function
(``if TYPE_CHECKING:`` blocks excepted: they never run). A function-level import of
the package's own modules hides the graph from a reader, so each one must be on the
allowlist below with the reason it has to wait.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "jupyter_invoker"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

# (importer, imported) -> why the import waits for the first call.
DEFERRED = {
    # `import jupyter_invoker` and `%load_ext` stay free of torch/transformers/openai/plotly
    # and of IPython: the magics, and what a magic runs, load when first used.
    ("jupyter_invoker", "jupyter_invoker.magics"): "IPython loads only for %load_ext",
    ("jupyter_invoker.magics", "jupyter_invoker.magics._run"): "%load_ext stays light",
    ("jupyter_invoker.magics", "jupyter_invoker.magics._invoker_command"): "%load_ext stays light",
    ("jupyter_invoker.magics", "jupyter_invoker.magics._patch"): "%load_ext stays light",
    # torch (~1 s) loads only when a run needs the local model, not for API-only use.
    ("jupyter_invoker.magics._names", "jupyter_invoker.tracing"): "torch on first local run",
    ("jupyter_invoker.invokers._local", "jupyter_invoker.tracing"): "torch on first local run",
    # plotly (~0.5 s) loads with the first figure: `widgets.worth_showing` stays light.
    ("jupyter_invoker.widgets", "jupyter_invoker.widgets._browser"): "plotly on first view",
    (
        "jupyter_invoker.patching._result",
        "jupyter_invoker.widgets._figures",
    ): "plotly on first view",
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        if "labextension" in path.parts:
            continue
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, in_function: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), in_function)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, in_function
        nested = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        yield from _imports(node, nested)


def _targets(name: str, node: ast.AST, modules: dict[str, Path]) -> Iterator[str]:
    """The package modules one import statement loads."""
    is_package = modules[name].name == "__init__.py"
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.startswith(PACKAGE):
                yield alias.name
        return
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = name.split(".") if is_package else name.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    if not source.startswith(PACKAGE):
        return
    for alias in node.names:
        child = f"{source}.{alias.name}"
        yield child if child in modules else source


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, str, int]]]:
    modules = _modules()
    edges: dict[str, set[str]] = {name: set() for name in modules}
    deferred: list[tuple[str, str, int]] = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node, in_function in _imports(tree):
            for target in _targets(name, node, modules):
                if target == name or target not in modules:
                    continue
                edges[name].add(target)
                if in_function:
                    deferred.append((name, target, getattr(node, "lineno", 0)))
    return edges, deferred


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
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
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles() -> None:
    edges, _ = _graph()
    assert len(edges) > 40, "the package's modules were not found"
    cycles = _cycles(edges)
    assert not cycles, "import circles among package modules:\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


def test_function_level_imports_are_on_the_allowlist() -> None:
    _, deferred = _graph()
    unexpected = sorted(
        f"{importer}:{line} imports {target}"
        for importer, target, line in deferred
        if (importer, target) not in DEFERRED
    )
    assert not unexpected, (
        "function-level imports of the package's own modules (move them to the top, or "
        "add them to DEFERRED with the reason they must wait):\n" + "\n".join(unexpected)
    )


def test_allowlist_has_no_stale_entries() -> None:
    _, deferred = _graph()
    used = {(importer, target) for importer, target, _ in deferred}
    assert not set(DEFERRED) - used, sorted(set(DEFERRED) - used)


def test_the_graph_reader_sees_a_circle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(edges) == [["a", "b", "c"]]
