"""A fresh ticket-escalation home and its Dagster instance, for the sensor tests."""

import pytest
from dagster import DagsterInstance

from orchestration.home import ENV_VARS, activate, resolve_home
from workflows.ticket_escalation.workflow import WORKFLOW as WF


@pytest.fixture
def home(tmp_path, monkeypatch):
    for var in ENV_VARS:
        monkeypatch.setenv(var, "")
        monkeypatch.delenv(var)
    return activate(resolve_home(tmp_path / "home"), WF)


@pytest.fixture
def instance(home):
    # Not a context manager: entering one sets a process-wide context variable that a later
    # test's Definitions would find pointing at a disposed instance.
    return DagsterInstance.from_config(str(home.dagster_home))
