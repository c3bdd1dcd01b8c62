"""`make lock-check`: the lock files still say what pyproject.toml asks for.

A comparison of files, without the network (the lock files are written by `make lock`):

- every requirement in ``[project] dependencies`` is pinned in requirements/runtime.txt,
  and every one of those and of the ``dev`` extra in requirements/dev.txt, at a version
  its specifier allows;
- the packages both files pin have the same version in both (the tests run what the
  service runs);
- every pin carries a hash (``pip install --require-hashes`` refuses the file otherwise).

It does not resolve the dependencies of the dependencies: that takes the index, and it is
what `make lock` does. Exit 0 with one line when they agree; otherwise one line naming
every disagreement, and exit 1.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_LOCK = Path("requirements/runtime.txt")
DEV_LOCK = Path("requirements/dev.txt")
DEV_EXTRA = "dev"
# "name==version" with no extras and no URL: what pip-compile --strip-extras writes.
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)$")


class LockFileError(Exception):
    """A line of a lock file that is not a pin as `make lock` writes them."""


@dataclass(frozen=True)
class Pin:
    name: NormalizedName
    version: Version
    hashes: int
    line: int


@dataclass(frozen=True)
class Lock:
    path: Path  # as shown in messages: relative to the repository
    pins: dict[NormalizedName, Pin]


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """The lines of a requirements file with continuations joined and comments dropped,
    each with the number of the line it starts on."""
    joined: list[tuple[int, str]] = []
    start, parts = 0, []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not parts:
            start = number
        if line.endswith("\\"):
            parts.append(line[:-1])
            continue
        parts.append(line)
        logical = " ".join(part.strip() for part in parts).strip()
        parts = []
        if logical:
            joined.append((start, logical))
    if parts:
        joined.append((start, " ".join(part.strip() for part in parts).strip()))
    return joined


def read_lock(path: Path, *, shown: Path) -> Lock:
    pins: dict[NormalizedName, Pin] = {}
    for number, line in _logical_lines(path.read_text(encoding="utf-8")):
        requirement, *options = line.split()
        where = f"{shown}:{number}"
        match = PIN.match(requirement)
        if match is None:
            raise LockFileError(f"{where}: {requirement!r} is not a name==version pin")
        unknown = [option for option in options if not option.startswith("--hash=")]
        if unknown:
            raise LockFileError(f"{where}: unexpected {' '.join(unknown)!r}")
        try:
            version = Version(match["version"])
        except InvalidVersion:
            raise LockFileError(f"{where}: {match['version']!r} is not a version") from None
        name = canonicalize_name(match["name"])
        if name in pins:
            raise LockFileError(f"{where}: {name} is pinned twice")
        pins[name] = Pin(name=name, version=version, hashes=len(options), line=number)
    return Lock(path=shown, pins=pins)


def project_requirements(pyproject: Path) -> tuple[list[Requirement], list[Requirement]]:
    """The runtime requirements and the dev extra's, those whose markers apply here."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project")
    if not isinstance(project, dict):
        raise LockFileError(f"{pyproject.name} has no [project] table")
    runtime = [Requirement(text) for text in project.get("dependencies", [])]
    extra = project.get("optional-dependencies", {}).get(DEV_EXTRA, [])
    dev = [Requirement(text) for text in extra]
    return [r for r in runtime if _applies(r)], [r for r in dev if _applies(r)]


def _applies(requirement: Requirement) -> bool:
    return requirement.marker is None or requirement.marker.evaluate({"extra": DEV_EXTRA})


def _unmet(requirements: list[Requirement], lock: Lock) -> list[str]:
    problems = []
    for requirement in requirements:
        pin = lock.pins.get(canonicalize_name(requirement.name))
        if pin is None:
            problems.append(f"{lock.path} does not pin {requirement.name}"
                            f" (pyproject.toml wants {requirement})")
        elif not requirement.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{lock.path}:{pin.line} pins {pin.name}=={pin.version},"
                            f" outside pyproject.toml's {requirement}")
    return problems


def problems(root: Path) -> list[str]:
    """Every disagreement between root's pyproject.toml and its two lock files."""
    runtime_requirements, dev_requirements = project_requirements(root / "pyproject.toml")
    runtime = read_lock(root / RUNTIME_LOCK, shown=RUNTIME_LOCK)
    dev = read_lock(root / DEV_LOCK, shown=DEV_LOCK)
    found = _unmet(runtime_requirements, runtime)
    found += _unmet(runtime_requirements + dev_requirements, dev)
    for pin in runtime.pins.values():
        other = dev.pins.get(pin.name)
        if other is None:
            found.append(f"{dev.path} does not pin {pin.name}, which {runtime.path} pins")
        elif other.version != pin.version:
            found.append(f"{dev.path}:{other.line} pins {pin.name}=={other.version},"
                         f" {runtime.path}:{pin.line} {pin.name}=={pin.version}")
    for lock in (runtime, dev):
        found += [f"{lock.path}:{pin.line} pins {pin.name} without a hash"
                  for pin in lock.pins.values() if pin.hashes == 0]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the repository (default: this one)")
    root = parser.parse_args(argv).root
    try:
        found = problems(root)
    except (LockFileError, InvalidRequirement, OSError, tomllib.TOMLDecodeError) as exc:
        print(f"lock-check: {exc}: run make lock", file=sys.stderr)
        return 1
    if found:
        print(f"lock-check: {'; '.join(found)}: run make lock", file=sys.stderr)
        return 1
    print(f"lock-check: {RUNTIME_LOCK} and {DEV_LOCK} match pyproject.toml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
