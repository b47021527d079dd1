"""The simulator keeps its shape: small modules, and flavours that do not lean on each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SIMULATOR = Path(__file__).resolve().parent.parent / "bbmirror" / "simulator"
MODULES = sorted(SIMULATOR.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_simulator_is_in_flavour_folders() -> None:
    assert {p.parent.name for p in MODULES} == {"simulator", "common", "cloud", "server"}
    assert [p.name for p in MODULES if p.parent == SIMULATOR] == ["__init__.py"]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SIMULATOR)))
def test_every_module_is_under_400_lines(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 400


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("common", ("bbmirror.simulator.cloud", "bbmirror.simulator.server")),
        ("server", ("bbmirror.simulator.cloud",)),
        ("cloud", ("bbmirror.simulator.server",)),
    ],
)
def test_flavours_share_only_common(folder: str, forbidden: tuple[str, ...]) -> None:
    leaks = {
        f"{path.name}: {module}"
        for path in (SIMULATOR / folder).glob("*.py")
        for module in _imports(path)
        if module.startswith(forbidden)
    }
    assert leaks == set()
