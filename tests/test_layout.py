"""The house rules of the source tree: small modules, short functions, imports point down.

Layers, lowest first: the shared base (errors, progress, results, arrays), io, config,
backends, models, train (the training machinery the oof and train stages share), the stages
in pipeline order (scan, dedupe, embed, oof, noise, report), then evaluate, pipeline, demo
and the CLI. A module may import its own package and lower layers (a stage may import an
earlier stage), never a later one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "labelclean"
CLI = ROOT / "cli"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50
MAX_COMMAND_LINES = 30
#: layer of each top-level part of the library (``cli`` is the typer app)
LAYERS = {name: rank for rank, names in enumerate([
    ("__init__", "errors", "progress", "results", "arrays"),
    ("io",), ("config",), ("backends",), ("models",), ("train",),
    ("scan",), ("dedupe",), ("embed",), ("oof",), ("noise",), ("report",),
    ("evaluate",), ("pipeline",), ("demo",), ("cli", "__main__")]) for name in names}


def sources() -> list[Path]:
    return sorted([*LIBRARY.rglob("*.py"), *CLI.rglob("*.py")])


def module_name(path: Path) -> str:
    if path.is_relative_to(CLI):
        parts = ["labelclean", "cli", *path.relative_to(CLI).with_suffix("").parts]
    else:
        parts = ["labelclean", *path.relative_to(LIBRARY).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every labelclean module ``path`` imports, at the top or inside a function."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    known = {module_name(p) for p in sources()}
    return {m for m in found if m in known and m != name}


def layer(module: str) -> int:
    part = module.split(".")[1] if module.count(".") else "__init__"
    return LAYERS[part]


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_is_small(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{lines} lines"


def is_command(node: ast.FunctionDef) -> bool:
    """Whether a function is registered as a CLI command (``@command(...)``)."""
    return any("command" in ast.unparse(d) for d in node.decorator_list)


def test_functions_are_short_and_commands_shorter():
    long = []
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                limit = MAX_COMMAND_LINES if is_command(node) else MAX_FUNCTION_LINES
                body = node.body[1:] if ast.get_docstring(node) else node.body
                lines = body[-1].end_lineno - body[0].lineno + 1 if body else 0
                if lines > limit:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines})")
    assert long == []


def test_every_part_of_the_library_has_a_layer():
    parts = {p.relative_to(LIBRARY).parts[0].removesuffix(".py") for p in LIBRARY.iterdir()
             if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())}
    assert parts <= set(LAYERS)


def test_imports_point_down():
    upward = [f"{module_name(p)} -> {m}" for p in sources() for m in sorted(imports_of(p))
              if layer(m) > layer(module_name(p))]
    assert upward == []


def test_no_import_cycle():
    graph = {module_name(p): imports_of(p) for p in sources()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(trail[trail.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []
