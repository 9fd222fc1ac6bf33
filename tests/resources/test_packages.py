"""The installed packages a lineage records: the project's runtime dependencies, not its dev
tools, each at the version installed here."""

from importlib import metadata

import pytest
from packaging.requirements import Requirement

from resources.packages import MODEL_RUNTIME, PackagesUnknown, installed_packages


def test_every_runtime_dependency_is_recorded_at_its_installed_version():
    found = installed_packages()
    runtime = {
        Requirement(r).name.lower()
        for r in metadata.requires("afterlaunch")
        if Requirement(r).marker is None
    }
    assert runtime | {m.lower() for m in MODEL_RUNTIME} <= set(found)
    assert found["scikit-learn"] == metadata.version("scikit-learn")
    assert found["dagster"] == metadata.version("dagster")
    assert found["python"].count(".") == 2
    # The dev extra (test runner, linter) is not what the deployment runs.
    assert "pytest" not in found and "ruff" not in found


@pytest.mark.bad_input
def test_an_uninstalled_project_distribution_is_refused_by_name():
    with pytest.raises(PackagesUnknown, match="'no-such-distribution' is not installed"):
        installed_packages("no-such-distribution")
