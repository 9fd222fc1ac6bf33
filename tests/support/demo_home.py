"""One demo run on a fresh home in a test's folder, with the process environment it changes
put back afterwards (module fixtures of several test files share one worker process).

`shared_demo` builds a scenario's home once per test session, whichever worker asks first;
the others wait for it and read the same home. A test that changes a home works on
`copied_home` (a home is self-contained: a copy acts on itself only).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

from orchestration.demo import DemoResult, run_demo
from orchestration.home import ENV_VARS, Home, activate, resolve_home
from orchestration.scenario import Scenario, load_scenario


@contextmanager
def _fresh_env() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        for var in ENV_VARS:  # a home's variables start unset: activate() keeps set ones
            mp.setenv(var, "")
            mp.delenv(var)
        yield mp


@contextmanager
def demo_run(root: Path, wf, scenario_yaml: str) -> Iterator[tuple]:
    """(home, result, timeline document, the MonkeyPatch holding the environment)."""
    (root / "scenario.yaml").write_text(scenario_yaml)
    with _fresh_env() as mp:
        home = resolve_home(root / "home")
        scenario = load_scenario(wf.simulation, root / "scenario.yaml")
        result = run_demo(home, scenario, wf, json_path=root / "timeline.json")
        yield home, result, json.loads((root / "timeline.json").read_text()), mp


@dataclass(frozen=True)
class SharedDemo:
    home: Home
    scenario: Scenario
    document: dict  # the timeline JSON
    mp: pytest.MonkeyPatch  # holds the activated home's environment for this module

    @property
    def result(self) -> DemoResult:
        """What `run_demo` returned, as far as tests read it (the scenario, the timeline)."""
        return DemoResult(self.scenario, None, self.document["summary"].get("wall_seconds", 0))


@contextmanager
def shared_demo(tmp_path_factory, name: str, wf, scenario_yaml: str) -> Iterator[SharedDemo]:
    """The session's one run of `scenario_yaml` (built by the first worker that asks)."""
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base sits in the session's folder: share that one. Without
    # xdist the base is the session's own folder (its parent holds every earlier session's).
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root = shared / f"demo-{name}"
    with FileLock(str(shared / f"demo-{name}.lock")):
        if not (root / "timeline.json").exists():
            if root.exists():  # a build that died half-way
                shutil.rmtree(root)
            root.mkdir()
            with demo_run(root, wf, scenario_yaml):
                pass
    with _fresh_env() as mp:
        home = activate(resolve_home(root / "home"), wf)
        scenario = load_scenario(wf.simulation, root / "scenario.yaml")
        document = json.loads((root / "timeline.json").read_text())
        yield SharedDemo(home, scenario, document, mp)


def copied_home(demo: SharedDemo, target: Path, wf) -> Home:
    """A copy of the shared home to change; activated (the caller's MonkeyPatch restores)."""
    shutil.copytree(demo.home.root, target / "home")
    return activate(resolve_home(target / "home"), wf)
