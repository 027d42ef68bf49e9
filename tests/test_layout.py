"""The package's shape: no import cycle between mfcomm's modules (imports inside functions included; those under
``if TYPE_CHECKING:`` are for annotations and never run), no
module over 300 lines and no function over 60, and leaf modules that import no registry."""

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "mfcomm"
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 300, 60
LEAVES = (
    "channels",
    "channels.contract",
    "channels.impairments",
    "channels.field_models",
    "channels.gnuradio",
    "conventions",
    "errors",
)
"""Modules every channel builds on: they import neither the chain registry nor the spec decision."""
REGISTRIES = ("mfcomm.channels.chain", "mfcomm.channels.spec")


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The mfcomm modules ``name`` imports, anywhere in the file (``from mfcomm import x`` counts as ``mfcomm.x``
    where ``x`` is a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    typing_only = {  # ``if TYPE_CHECKING:`` imports: for annotations, never run
        id(n)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for stmt in block.body
        for n in ast.walk(stmt)
    }
    found = set()
    for node in (n for n in ast.walk(tree) if id(n) not in typing_only):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names}
    return {m for m in found if m in known and m != name}


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph``, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    return next((c for n in sorted(graph) if n not in state and (c := visit(n))), None)


def test_no_import_cycle():
    known = modules()
    graph = {name: imports(name, path, set(known)) - {"mfcomm"} for name, path in known.items()}
    assert cycle(graph) is None, " -> ".join(cycle(graph) or [])


def test_cycle_finder_finds_one():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("leaf", LEAVES)
def test_leaf_modules_import_no_registry(leaf):
    known = modules()
    assert not imports(f"mfcomm.{leaf}", known[f"mfcomm.{leaf}"], set(known)) & set(REGISTRIES)


def test_module_and_function_sizes():
    too_long = []
    for name, path in modules().items():
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"module {name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"function {name}.{node.name}: {lines} lines")
    assert not too_long, "; ".join(too_long)


@pytest.mark.parametrize("script", sorted((PACKAGE.parents[1] / "benchmarks").glob("*.py")), ids=lambda p: p.name)
def test_benchmark_imports_resolve(script):
    """Every ``from mfcomm... import name`` of a benchmark names something that exists (the benchmarks run
    outside the default suite, so a moved module would otherwise go unnoticed until ``make bench-*``)."""
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mfcomm"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                found = hasattr(module, alias.name) or importlib.util.find_spec(f"{node.module}.{alias.name}")
                assert found, f"{script.name}: {node.module} has no {alias.name}"
