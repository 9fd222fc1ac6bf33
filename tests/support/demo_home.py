"""One demo run on a fresh home in a test's folder, with the process environment it changes
put back afterwards (module fixtures of several test files share one worker process)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from orchestration.demo import run_demo
from orchestration.home import ENV_VARS, resolve_home
from orchestration.scenario import load_scenario


@contextmanager
def demo_run(root: Path, wf, scenario_yaml: str) -> Iterator[tuple]:
    """(home, result, timeline document, the MonkeyPatch holding the environment)."""
    (root / "scenario.yaml").write_text(scenario_yaml)
    with pytest.MonkeyPatch.context() as mp:
        for var in ENV_VARS:  # a home's variables start unset: activate() keeps set ones
            mp.setenv(var, "")
            mp.delenv(var)
        home = resolve_home(root / "home")
        scenario = load_scenario(wf.simulation, root / "scenario.yaml")
        result = run_demo(home, scenario, wf, json_path=root / "timeline.json")
        yield home, result, json.loads((root / "timeline.json").read_text()), mp
