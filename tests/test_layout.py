"""The shape of the code, held: imports run one way, no circles, no module over 300 lines,
and serving loads nothing of the benchmark, of training or of their libraries."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._support.stack import ROOT

PACKAGES = ("service", "bench", "training")
MAX_LINES = 300

# Lower layers never import higher ones. The base (schema, errors, settings) is shared by all;
# storage and the model know nothing of decisions; nothing below the wiring knows HTTP.
LAYERS = {
    "service.schema": 0, "service.errors": 0, "service.settings": 0,
    "service.storage": 1, "service.model": 1,
    "service.decision": 2,
    "service.metrics": 3,
    "service.http": 4,
    "service.services": 5, "service.app": 6, "service.cli": 6, "service.__main__": 7,
}  # fmt: skip

# What `import service.app` must not load: the benchmark, training and their libraries.
HEAVY = ("bench", "training", "torch", "httpx", "matplotlib", "sklearn", "psutil")


def modules(package: str) -> Iterator[tuple[str, Path]]:
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def imported(path: Path, module: str) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function, made absolute."""
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}".rstrip(".")
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def layer_of(module: str) -> str | None:
    for name in sorted(LAYERS, key=len, reverse=True):
        if module == name or module.startswith(f"{name}."):
            return name
    return None


def above(target: str, source: str) -> bool:
    """Whether ``source`` may not import ``target``: a higher layer, or a sibling (storage and
    the model know nothing of each other); the base modules may use one another."""
    return LAYERS[target] > LAYERS[source] or LAYERS[target] == LAYERS[source] > 0


def test_imports_in_service_run_one_way() -> None:
    wrong = []
    for module, path in modules("service"):
        if module == "service":
            continue
        source = layer_of(module)
        assert source is not None, f"{module} belongs to no layer: add its package to LAYERS"
        for name in imported(path, module):
            target = layer_of(name)
            outside = name.partition(".")[0] in ("bench", "training")
            upward = target is not None and target != source and above(target, source)
            if outside or upward:
                wrong.append(f"{module} imports {name}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def graph(package: str) -> dict[str, set[str]]:
    known = dict(modules(package))
    edges: dict[str, set[str]] = {}
    for module, path in known.items():
        targets = set()
        for name in imported(path, module):
            # ``from a.b import c`` names a module when c is one, else a name in a.b.
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module and not module.startswith(f"{name}."):
                targets.add(name)
        edges[module] = targets
    return edges


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle in ``edges``, or None; a depth-first search with colours."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_circle(package: str) -> None:
    edges = graph(package)
    assert len(edges) > 5, f"found too few modules in {package}/"
    found = cycle(edges)
    assert found is None, " -> ".join(found or [])


def test_the_circle_finder_finds_one() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_over_300_lines(package: str) -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for _, path in modules(package)
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long


def test_serving_loads_nothing_of_the_benchmark_or_training() -> None:
    probe = (
        "import sys, service.app, service.cli.main\n"
        "service.app.create_app(service.app.Settings.from_env({}))\n"
        f"heavy = {HEAVY!r}\n"
        "print(sorted(m for m in sys.modules if m.partition('.')[0] in heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_command_line_parses_without_loading_torch() -> None:
    """Every `witryna` call builds the whole parser, the training commands' too: importing
    torch there cost each call, `--version` as much as `serve`, 3.5 s of CPU."""
    probe = (
        "import sys\n"
        "from service.cli.main import build_parser\n"
        "build_parser()\n"
        "heavy = ('torch', 'sklearn', 'matplotlib', 'onnx')\n"
        "print(sorted(m for m in sys.modules if m.partition('.')[0] in heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_imports_inside_functions_count(tmp_path: Path) -> None:
    source = tmp_path / "late.py"
    source.write_text("def f():\n    from training.model import train\n    import torch\n")
    assert {"training.model", "training.model.train", "torch"} <= imported(source, "late")
