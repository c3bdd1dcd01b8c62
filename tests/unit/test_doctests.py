"""The examples in the docstrings of the schedule core are run as tests."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from types import ModuleType

import pytest

import app.schedule

MODULES = sorted(
    f"{app.schedule.__name__}.{info.name}" for info in pkgutil.iter_modules(app.schedule.__path__)
)


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def _examples(module: ModuleType) -> dict[str, int]:
    tests = doctest.DocTestFinder().find(module)
    return {t.name.removeprefix(module.__name__ + "."): len(t.examples) for t in tests}


def test_every_date_function_states_its_policy_with_an_example() -> None:
    from app.schedule import dates

    examples = _examples(dates)
    for name in ("add_months", "Offset", "study_day", "local_today"):
        assert examples.get(name, 0) > 0, f"dates.{name} has no doctest"
    assert {"app.schedule.dates", "app.schedule.status"} <= set(MODULES)
