"""Which installed distributions a model was trained with: the project's own dependencies (the
requirements of the installed `afterlaunch` distribution) and those a stored model needs to
load, each with its installed version. Recorded in the lineage so that a dependency upgrade
shows as a change between two versions."""

from __future__ import annotations

import platform
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
    found = {"python": platform.python_version()}
    for name in sorted(names, key=str.lower):
        try:
            found[name.lower()] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name.lower()] = "not installed"
    return found
