"""Imports point one way: records <- store <- features <- server/cli (DESIGN.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "llmloop"

# A module under the key may not import anything under the listed packages.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "records": (
        "llmloop.store",
        "llmloop.server",
        "llmloop.cli",
        "llmloop.sdk",
        "llmloop.providers",
    ),
    "errors": ("llmloop.",),
    "store": ("llmloop.server", "llmloop.cli", "llmloop.sdk", "llmloop.providers", "llmloop.demo"),
    "providers": ("llmloop.server", "llmloop.cli", "llmloop.sdk", "llmloop.store", "llmloop.demo"),
    "embedded": (
        "llmloop.providers",
        "llmloop.server",
        "llmloop.cli",
        "llmloop.sdk",
        "llmloop.demo",
    ),
    "server": ("llmloop.cli", "llmloop.sdk", "llmloop.demo"),
    "sdk": ("llmloop.cli", "llmloop.demo"),
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"relative import in {path}"
            names.append(node.module)
    return names


def _modules(area: str) -> list[Path]:
    target = SRC / area
    return sorted(target.rglob("*.py")) if target.is_dir() else [SRC / f"{area}.py"]


@pytest.mark.parametrize("area", sorted(FORBIDDEN))
def test_imports_point_one_way(area: str) -> None:
    offenders = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in _modules(area)
        for name in _imports(path)
        if any(
            name == bad.rstrip(".")
            or name.startswith(bad.rstrip(".") + ".")
            or (bad.endswith(".") and name.startswith(bad))
            for bad in FORBIDDEN[area]
        )
    ]
    assert offenders == []


def test_modules_stay_under_the_size_budget() -> None:
    too_long = [
        f"{p.relative_to(SRC)}: {n} lines"
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 800
    ]
    assert too_long == []
