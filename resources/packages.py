"""Which installed distributions a model was trained with: the project's own dependencies (the
requirements of the installed `afterlaunch` distribution) and those a stored model needs to
load, each with its installed version. Recorded in the lineage so that a dependency upgrade
shows as a change between two versions."""

from __future__ import annotations

import platform
from collections.abc import Iterable
from importlib import metadata

from packaging.requirements import Requirement

PROJECT_DISTRIBUTION = "afterlaunch"
# What a logged model needs at load time, whatever the project's own list says.
MODEL_RUNTIME = ("mlflow", "scikit-learn", "skops", "numpy", "scipy", "pandas")


class PackagesUnknown(LookupError):
    """The project's distribution is not installed, so its requirements cannot be read."""


def installed_packages(distribution: str = PROJECT_DISTRIBUTION) -> dict[str, str]:
    """name -> installed version of `distribution`'s requirements (extras left out) and of
    MODEL_RUNTIME, plus `python`. A requirement not installed is recorded as "not installed"."""
    try:
        requirements = metadata.requires(distribution) or []
    except metadata.PackageNotFoundError as err:
        raise PackagesUnknown(
            f"distribution {distribution!r} is not installed (pip install -e .): "
            "its dependencies cannot be recorded"
        ) from err
    names = set(MODEL_RUNTIME)
    for text in requirements:
        requirement = Requirement(text)
        # Only what the deployment installs: a requirement of an extra (dev tools) is not.
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            names.add(requirement.name)
    versions = installed_versions(sorted(names, key=str.lower))
    found = {"python": platform.python_version()}
    found.update({n.lower(): v or "not installed" for n, v in versions.items()})
    return found


def installed_versions(names: Iterable[str]) -> dict[str, str | None]:
    """The installed version of each distribution (None: not installed)."""
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found
