"""The layout docs/architecture.md promises, checked on the source: who may import whom,
no import cycle, and no long module without its reason.

Imports are read with `ast` from every module of the product's packages, those inside
functions included (a lazy import is still a dependency).
"""

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("accounts", "budgets", "codecosts", "providers", "proxy", "usage")
APPS = ("accounts", "budgets", "proxy", "usage")
LONG_MODULE_LINES = 300
# What a module longer than that says in its docstring, followed by why.
LONG_MODULE_REASON = "One module on purpose"


def _modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The product module an imported name lives in, or None outside the product."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        owners = {_owner(imported) for imported in _imports(path)}
        graph[name] = {owner for owner in owners if owner and owner != name}
    return graph


GRAPH = _graph()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
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
                        found.append(sorted(component))
    return found


def _edges(source_package: str, target_package: str) -> dict[str, set[str]]:
    edges = defaultdict(set)
    for name, targets in GRAPH.items():
        if name.split(".")[0] != source_package:
            continue
        for target in targets:
            if target.split(".")[0] == target_package:
                edges[name].add(target)
    return dict(edges)


def test_the_reader_finds_the_known_edges():
    # The check below would pass on an empty graph: make sure it reads real imports.
    assert "providers.registry" in GRAPH["proxy.urls"]
    assert "usage.pipeline" in GRAPH["proxy.exchange"]
    assert "proxy.models" in GRAPH["usage.views"]


def test_no_module_imports_itself_back_through_others():
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_usage_imports_nothing_of_proxy_but_its_models():
    edges = _edges("usage", "proxy")
    assert {
        module: targets - {"proxy.models"}
        for module, targets in edges.items()
        if targets - {"proxy.models"}
    } == {}


def test_proxy_imports_of_usage_only_the_hand_over():
    # `usage` itself: `from usage import pipeline` runs the package's __init__ too.
    allowed = {"usage", "usage.records", "usage.pipeline"}
    # The local server's command also starts the usage writer process beside itself.
    also = {"proxy.management.commands.serve": {"usage.writer"}}
    edges = _edges("proxy", "usage")
    assert edges, "proxy hands records over through usage.pipeline"
    assert {
        module: targets - allowed - also.get(module, set())
        for module, targets in edges.items()
        if targets - allowed - also.get(module, set())
    } == {}


@pytest.mark.parametrize("app", APPS + ("codecosts",))
def test_providers_is_a_library_that_imports_no_app(app):
    assert _edges("providers", app) == {}


def test_accounts_imports_neither_proxy_nor_usage():
    assert _edges("accounts", "proxy") == {}
    assert _edges("accounts", "usage") == {}
    assert _edges("accounts", "budgets") == {}


def test_proxy_reads_of_budgets_only_their_published_state():
    # The hot path learns blocks from budgets.state; it never reads budgets' tables.
    edges = _edges("proxy", "budgets")
    assert edges, "proxy.budget_gate follows budgets.state"
    assert {module: targets - {"budgets", "budgets.state"} for module, targets in edges.items()} == {
        module: set() for module in edges
    }


def test_usage_knows_nothing_of_budgets():
    # Budgets follow usage through usage.signals.usage_logs_written.
    assert _edges("usage", "budgets") == {}


def _long_modules() -> list[Path]:
    paths = list(MODULES.values()) + sorted((ROOT / "benchmarks").glob("*.py"))
    return [path for path in paths if len(path.read_text().splitlines()) > LONG_MODULE_LINES]


@pytest.mark.parametrize("path", _long_modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_a_long_module_says_why_it_is_one(path):
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert LONG_MODULE_REASON in docstring
