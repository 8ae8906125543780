"""The import directions docs/architecture.md states hold, and no module imports itself back.

Every import in workbench/ is read from the source (those inside functions too), so a
lazy import cannot hide a cycle or a wrong direction.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "workbench"
GUIDE = REPO / "docs" / "architecture.md"


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _exists(module: str) -> bool:
    path = REPO.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


@cache
def imports() -> dict[str, set[str]]:
    """Module -> the workbench modules it imports (``from pkg import sub`` counts as sub)."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = _module(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = found.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.startswith("workbench"))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.split(".")[0] != "workbench":
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    targets.add(sub if _exists(sub) else target)
    return found


def part(module: str) -> str:
    """The part of the package a module belongs to (``workbench.deid.run`` -> ``deid``)."""
    return module.split(".")[1] if "." in module else ""


def allowed() -> dict[str, set[str]]:
    """The guide's table: part -> the parts it may import."""
    rows = re.findall(r"^\| (\w+) \|([^|\n]*)\|$", GUIDE.read_text(), re.M)
    table = {name: {p.strip() for p in cells.split(",") if p.strip()} for name, cells in rows
             if name != "part"}
    assert len(table) > 10, "the import table of docs/architecture.md was not found"
    return table


def test_every_part_of_the_package_is_in_the_guide():
    parts = {part(m) for m in imports()} - {""}
    assert parts == set(allowed()), "add the new part to docs/architecture.md's table"


def test_every_import_goes_a_direction_the_guide_allows():
    table = allowed()
    wrong = sorted(f"{module} imports {target}"
                   for module, targets in imports().items() if part(module)
                   for target in targets
                   if part(target) and part(target) != part(module)
                   and part(target) not in table[part(module)])
    assert not wrong, "\n".join(wrong)


def test_the_verifier_shares_nothing_with_the_engine():
    reads = imports()["workbench.verify"]
    assert not {t for t in reads if part(t) in {"deid", "dicomio", "catalog", "header_limits"}}


def test_no_module_imports_itself_back():
    graph = imports()
    cycles, state = [], {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join(trail[trail.index(target):] + [target]))
            elif target not in state:
                visit(target, trail + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def test_test_folders_share_only_through_conftest_and_support():
    """A test folder imports nothing from another one: what they share is in
    tests/conftest.py (fixtures) and tests/support.py (helpers)."""
    folders = {p.name for p in (REPO / "tests").iterdir() if (p / "__init__.py").is_file()}
    crossing = []
    for path in (REPO / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module.split(".")[0] in folders | {"tests", "conftest"}:
                    crossing.append(f"{path.relative_to(REPO)} imports {node.module}")
            elif isinstance(node, ast.ImportFrom) and node.level > 1:
                crossing.append(f"{path.relative_to(REPO)} imports from {'.' * node.level}")
    assert not crossing, "\n".join(crossing)
