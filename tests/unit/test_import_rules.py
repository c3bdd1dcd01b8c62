"""The import rules `make lint` checks beyond import-linter: they hold, and they can fail."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_checker() -> ModuleType:
    path = ROOT / "scripts" / "check_imports.py"
    spec = importlib.util.spec_from_file_location("check_imports", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


checker = _load_checker()


@pytest.fixture
def circular_package(tmp_path: Path) -> Iterator[Path]:
    """A package ``circ`` where a -> b -> c -> a, d stands alone, and e hides imports."""
    package = tmp_path / "circ"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from circ import b\n")
    (package / "b.py").write_text("from circ import c\n")
    (package / "c.py").write_text("import circ.a\n")
    (package / "d.py").write_text("from circ import a\n")
    (package / "e.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from app.errors import NotFound\n"
        "def f() -> None:\n    from app import errors\n"
    )
    sys.path.insert(0, str(tmp_path))
    yield package
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m == "circ" or m.startswith("circ.")]:
        del sys.modules[name]


def test_the_app_has_no_import_circles() -> None:
    assert checker.import_circles("app") == []


def test_the_app_hides_no_imports_outside_the_cli() -> None:
    assert checker.hidden_imports(ROOT / "app") == []


def test_a_circle_of_three_modules_is_found(circular_package: Path) -> None:
    assert checker.import_circles("circ") == [["circ.a", "circ.b", "circ.c"]]


def test_local_and_type_checking_imports_are_found(circular_package: Path) -> None:
    assert checker.hidden_imports(circular_package) == [
        "circ/e.py:3: a TYPE_CHECKING import of an app module",
        "circ/e.py:5: a local import of an app module",
    ]
