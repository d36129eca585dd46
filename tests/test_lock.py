"""The versions we test are the versions users get: requirements.lock (what `make setup` and CI install) satisfies
pyproject.toml's ranges, and this environment holds exactly what it pins."""
from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def locked() -> dict[str, Version]:
    pins = {}
    for number, line in enumerate((ROOT / "requirements.lock").read_text().splitlines(), start=1):
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and re.fullmatch(r"[\w.+!-]+", version), f"requirements.lock:{number}: not a pin: {line!r}"
            pins[canonicalize_name(name)] = Version(version)
    return pins


def required(extra: str = "test") -> list[Requirement]:
    """pyproject.toml's dependencies with `extra`, and the extras it names in turn (nerloop[onnx], ...)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo, seen, out = [extra], set(), list(map(Requirement, project["dependencies"]))
    while todo:
        if (name := todo.pop()) in seen:
            continue
        seen.add(name)
        for req in map(Requirement, project["optional-dependencies"][name]):
            if canonicalize_name(req.name) == "nerloop":
                todo.extend(req.extras)
            else:
                out.append(req)
    return [req for req in out if req.marker is None or req.marker.evaluate()]


def makefile_torch() -> Version:
    pin = re.search(r"^TORCH := torch==(\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert pin, "the Makefile pins torch in TORCH"
    return Version(pin.group(1))


def test_the_lock_satisfies_pyproject():
    pins = locked()
    assert len(pins) > 50 and "torch" not in pins  # torch is the Makefile's own step
    problems = []
    for req in required():
        name = canonicalize_name(req.name)
        version = makefile_torch() if name == "torch" else pins.get(name)
        if version is None:
            problems.append(f"{req} is not in requirements.lock")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"requirements.lock pins {name}=={version}, outside {req}")
    assert not problems, "\n".join(problems)


def test_upper_bounds_below_the_next_major_version():
    bounds = {canonicalize_name(r.name): r.specifier for r in required()}
    for name in ("streamlit", "transformers"):
        major = locked()[name].major
        assert not bounds[name].contains(f"{major + 1}.0"), f"{name} needs an upper bound below {major + 1}.0"


def test_this_environment_is_the_lock():
    pins = locked()
    wrong = {name: (str(version), metadata.version(name)) for name, version in pins.items()
             if Version(metadata.version(name)) != version}
    assert not wrong, f"installed versions differ from requirements.lock (run make setup): {wrong}"
    assert Version(metadata.version("torch")).base_version == str(makefile_torch())
