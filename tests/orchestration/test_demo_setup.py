from datetime import date

import pytest

from orchestration.demo import DEMO_MARKER, prepare_home
from orchestration.home import resolve_home
from orchestration.scenario import load_scenario
from workflows.ticket_escalation.workflow import WORKFLOW

SIMULATION = WORKFLOW.simulation


def test_demo_never_deletes_a_home_it_did_not_create(tmp_path):
    home = resolve_home(tmp_path / "prod")
    home.root.mkdir()
    (home.root / "workflows" / "ticket_escalation" / "snapshots").mkdir(parents=True)
    with pytest.raises(SystemExit, match="did not create"):
        prepare_home(home)
    assert (home.root / "workflows" / "ticket_escalation" / "snapshots").exists()


def test_demo_replaces_its_own_previous_home(tmp_path):
    home = resolve_home(tmp_path / "demo")
    prepare_home(home)
    (home.root / "leftover").write_text("x")
    prepare_home(home)
    assert (home.root / DEMO_MARKER).exists() and not (home.root / "leftover").exists()


def test_default_scenario_days_become_dates_and_stay_in_range():
    scenario = load_scenario(SIMULATION)
    assert scenario.start == date(2026, 1, 1) and scenario.days == 92
    first = {}
    for incident in scenario.incidents:
        first.setdefault(incident.kind, incident.day)
    assert first["volume_drop"] == scenario.day(38)
    shift = next(i for i in scenario.incidents if i.kind == "covariate_shift")
    assert shift.last_day == scenario.day(48)  # `days: 4` keeps the shift for four days
    assert all(
        scenario.day(scenario.reference_days) < i.day <= scenario.end for i in scenario.incidents
    )
    shorter = load_scenario(SIMULATION, days=70)
    assert all(i.day <= shorter.end for i in shorter.incidents)
    # What people do: the hand-registered models before the concept drift (the gate stops the
    # first, the canary the second), the flag after it.
    assert [(a["kind"], a["day"]) for a in scenario.actions] == [
        ("hand_registered_model", 55),
        ("hand_registered_model", 60),
        ("flag", 69),
        ("flag", 70),
        ("schema_map", 79),  # upstream's rename of day 77 mapped back to the contract
    ]
    assert [a["kind"] for a in load_scenario(SIMULATION, days=60).actions] == [
        "hand_registered_model",
        "hand_registered_model",
    ]


def test_reference_window_must_leave_days_to_monitor(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("days: 30\nreference_days: 30\n")
    with pytest.raises(ValueError, match="reference_days"):
        load_scenario(SIMULATION, path)


def test_a_scenario_policy_the_workflow_refuses_stops_the_demo_before_anything_runs(
    tmp_path, monkeypatch
):
    from orchestration.demo import run_demo

    monkeypatch.setenv("AFTERLAUNCH_ALERT_WEBHOOK", "")
    for name in (
        "DAGSTER_HOME",
        "AFTERLAUNCH_HOME",
        "AFTERLAUNCH_SOURCE_URL",
        "AFTERLAUNCH_MLFLOW_URI",
        "AFTERLAUNCH_MLFLOW_ARTIFACTS",
    ):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "short.yaml"
    path.write_text(
        "start: '2026-01-01'\ndays: 10\nreference_days: 5\n"
        "policy: {rollout: {steps: [{fraction: 1.0, days: 2}]}}\n"
    )
    home = resolve_home(tmp_path / "home")
    with pytest.raises(SystemExit, match="label.max_lag_days is 5"):
        run_demo(home, load_scenario(SIMULATION, path), WORKFLOW)
    assert not (home.root / "source.db").exists()  # nothing was simulated


def test_a_scenario_scales_the_simulated_volume_and_refuses_a_bad_scale(tmp_path):
    from workflows.rainfall.workflow import WORKFLOW as RAINFALL

    path = tmp_path / "big.yaml"
    path.write_text('start: "2026-01-01"\ndays: 20\nreference_days: 10\nscale: 100\n')
    assert load_scenario(SIMULATION, path).scale == 100
    assert load_scenario(SIMULATION).scale == 1  # the default scenario: the desk as it is
    path.write_text('start: "2026-01-01"\ndays: 20\nreference_days: 10\nscale: 0\n')
    with pytest.raises(ValueError, match="scale must be a number above 0"):
        load_scenario(SIMULATION, path)
    # A real record cannot be scaled: its simulation says so.
    url = f"sqlite:///{tmp_path / 'rain.db'}"
    with pytest.raises(ValueError, match="replays a real record"):
        RAINFALL.simulation.write_source(url, 7, date(1949, 1, 1), date(1949, 1, 31), [], scale=2)
