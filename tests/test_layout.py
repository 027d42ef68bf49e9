"""The package's shape: every import goes down the layers of ``scripts/architecture.py`` (imports inside functions
and under ``if TYPE_CHECKING:`` included: a reader must know what they name), no import cycle, no module over
300 lines and no function over 60, leaf modules that import no registry, and docs/architecture.md drawn from the
code as it is."""

import ast
import importlib
import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "mfcomm"
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

_spec = importlib.util.spec_from_file_location("architecture", ROOT / "scripts" / "architecture.py")
assert _spec and _spec.loader
architecture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(architecture)


def graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the mfcomm modules it imports (anywhere in the file), the package's own top left out."""
    known = architecture.modules(package)
    return {n: {m for m, _ in architecture.imports(n, p, set(known))} - {"mfcomm"} for n, p in known.items()}


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``edges``, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    return next((c for n in sorted(edges) if n not in state and (c := visit(n))), None)


def test_every_import_goes_down_the_layers():
    assert architecture.violations() == []


def test_no_import_cycle():
    assert cycle(graph()) is None, " -> ".join(cycle(graph()) or [])


@pytest.fixture
def planted(tmp_path):
    """A copy of the package to plant defects in."""
    copy = tmp_path / "mfcomm"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_a_planted_upward_import_is_caught_wherever_it_stands(planted):
    fields = planted / "config" / "fields.py"
    text = fields.read_text()
    fields.write_text(
        text
        + "\nif TYPE_CHECKING:\n    from mfcomm.experiment.run import Run\n"
        + "\n\ndef _late():\n    from mfcomm.cli import train\n"
    )
    found = architecture.violations(planted)
    assert any("mfcomm.config.fields -> mfcomm.experiment.run (config -> experiment)" in v for v in found), found
    assert any("mfcomm.config.fields -> mfcomm.cli.train (config -> cli)" in v for v in found), found
    assert architecture.violations(PACKAGE) == []


def test_a_planted_sideways_import_and_an_unlisted_folder_are_caught(planted):
    (planted / "nodes" / "node.py").write_text(
        (planted / "nodes" / "node.py").read_text() + "\nimport mfcomm.tune.spec\n"
    )
    (planted / "extras").mkdir()
    (planted / "extras" / "__init__.py").write_text('"""A folder in no layer."""\n')
    found = architecture.violations(planted)
    assert any("(nodes -> tune)" in v for v in found), found
    assert any("folder 'extras' is in no layer" in v for v in found), found


def test_a_planted_cycle_under_type_checking_is_caught(planted):
    run = planted / "experiment" / "run.py"
    run.write_text(run.read_text() + "\nif TYPE_CHECKING:\n    from mfcomm.experiment.runs import train\n")
    found = cycle(graph(planted))
    assert found and found[0] == found[-1] and {"mfcomm.experiment.run", "mfcomm.experiment.runs"} <= set(found)


def test_cycle_finder_finds_one():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_the_architecture_page_is_drawn_from_the_code():
    page = (ROOT / "docs" / "architecture.md").read_text()
    assert architecture.page_with(page, architecture.generated()) == page, (
        "docs/architecture.md is stale: run scripts/architecture.py --write"
    )


@pytest.mark.parametrize("leaf", LEAVES)
def test_leaf_modules_import_no_registry(leaf):
    assert not graph()[f"mfcomm.{leaf}"] & set(REGISTRIES)


def test_module_and_function_sizes():
    too_long = []
    for name, path in architecture.modules().items():
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"module {name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"function {name}.{node.name}: {lines} lines")
    assert not too_long, "; ".join(too_long)


@pytest.mark.parametrize("script", sorted((ROOT / "benchmarks").glob("*.py")), ids=lambda p: p.name)
def test_benchmark_imports_resolve(script):
    """Every ``from mfcomm... import name`` of a benchmark names something that exists (the benchmarks run
    outside the default suite, so a moved module would otherwise go unnoticed until ``make bench-*``)."""
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mfcomm"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                found = hasattr(module, alias.name) or importlib.util.find_spec(f"{node.module}.{alias.name}")
                assert found, f"{script.name}: {node.module} has no {alias.name}"
