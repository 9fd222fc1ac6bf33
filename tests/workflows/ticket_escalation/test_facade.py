"""TicketSimulation, the face the engine's demo sees, and what an Incident tells the timeline."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from workflows.ticket_escalation import simulation as package
from workflows.ticket_escalation.simulation import TicketSimulation
from workflows.ticket_escalation.simulation.crm import generate_day
from workflows.ticket_escalation.simulation.incidents import KINDS, Incident, parse_incidents
from workflows.ticket_escalation.simulation.vocabulary import ACTION_COLUMNS, ACTIONS_TABLE

DAY = dt.date(2026, 3, 4)
SIM = TicketSimulation()


# --- Incident: what the engine's timeline reads instead of kind names --------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_only_a_concept_drift_is_label_only(kind):
    assert Incident(kind, DAY).label_only is (kind == "concept_drift")


@pytest.mark.parametrize("kind", KINDS)
def test_expected_trigger_is_performance_for_concept_drift_drift_for_covariate_shift(kind):
    expected = {"concept_drift": "performance", "covariate_shift": "drift"}.get(kind)
    assert Incident(kind, DAY).expected_trigger == expected


def test_a_category_share_shift_expects_a_drift_retraining_too():
    shift = Incident("covariate_shift", DAY, {"category_column": "channel", "category": "social"})
    assert shift.expected_trigger == "drift" and not shift.label_only


# --- validate_action ---------------------------------------------------------------------------


def test_validate_action_accepts_the_default_scenarios_own_actions():
    spec = yaml.safe_load(SIM.default_scenario.read_text())
    own = [a for a in spec["actions"] if a["kind"] in SIM.action_kinds]
    assert own, "the default scenario has a hand-registered model"
    for action in own:
        SIM.validate_action(action)


def test_validate_action_refuses_an_unknown_recipe_with_a_clear_sentence():
    with pytest.raises(
        ValueError, match=r"hand_registered_model needs a recipe, one of leaky_tree"
    ):
        SIM.validate_action({"kind": "hand_registered_model", "recipe": "deep_forest"})
    with pytest.raises(ValueError, match=r"needs a recipe.*got None"):
        SIM.validate_action({"kind": "hand_registered_model"})


def test_validate_action_refuses_a_kind_the_workflow_does_not_run():
    # `flag` is the engine's action, not this workflow's.
    with pytest.raises(ValueError, match=r"'flag' is not one of the ticket_escalation"):
        SIM.validate_action({"kind": "flag", "state": "off"})
    with pytest.raises(ValueError, match="must be a mapping"):
        SIM.validate_action(["hand_registered_model"])
    with pytest.raises(ValueError, match="reason must be a non-empty text"):
        SIM.validate_action({"kind": "hand_registered_model", "recipe": "leaky_tree", "reason": 3})


def test_action_kinds_are_the_workflows_own():
    assert SIM.action_kinds == ("hand_registered_model",)
    assert isinstance(SIM.default_scenario, Path) and SIM.default_scenario.is_file()


# --- the rest of the facade delegates, with the same rows --------------------------------------


def test_parse_incidents_is_the_workflows_parser():
    items = [{"kind": "volume_drop", "day": "2026-03-04", "fraction": 0.4}]
    assert SIM.parse_incidents(items) == parse_incidents(items)
    assert SIM.parse_incidents(items)[0].params == {"fraction": 0.4}
    with pytest.raises(ValueError, match="unknown incident kind"):
        SIM.parse_incidents([{"kind": "meteor", "day": "2026-03-04"}])


def test_write_source_and_feedback_land_the_simulators_rows(tmp_path):
    url = f"sqlite:///{tmp_path / 'source.db'}"
    incidents = [Incident("volume_drop", DAY, {"fraction": 0.5})]
    SIM.write_source(url, 11, DAY - dt.timedelta(days=1), DAY, incidents)
    engine = sa.create_engine(url)
    try:
        batches = pd.read_sql("SELECT batch_date, row_count FROM crm_batches", engine)
        tickets = pd.read_sql(f"SELECT * FROM crm_tickets_{DAY:%Y%m%d}", engine)
        agents = SIM.feedback(url, 11, incidents, launch=DAY)
        assert agents.record(DAY) == len(tickets)  # before any prediction is served
        actions = pd.read_sql(f"SELECT * FROM {ACTIONS_TABLE}", engine)
    finally:
        engine.dispose()
    expected = {
        d.isoformat(): len(generate_day(d, 11, incidents)[0])
        for d in (DAY - dt.timedelta(days=1), DAY)
    }
    assert dict(zip(batches["batch_date"], batches["row_count"], strict=True)) == expected
    assert (
        tickets["ticket_id"].tolist() == generate_day(DAY, 11, incidents)[0]["ticket_id"].tolist()
    )
    assert list(actions.columns) == ACTION_COLUMNS
    assert actions["used"].sum() == 0


# --- the import graph --------------------------------------------------------------------------


def _imports(module: str) -> set[str]:
    tree = ast.parse((Path(package.__file__).parent / f"{module}.py").read_text())
    return {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
    } | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }


def test_the_simulations_modules_import_each_other_one_way():
    own = "workflows.ticket_escalation.simulation"
    allowed = {
        "vocabulary": set(),
        "incidents": {f"{own}.vocabulary"},
        "crm": {own, f"{own}.incidents", f"{own}.vocabulary"},
        "agents": {f"{own}.crm", f"{own}.vocabulary"},
    }
    for module, deps in allowed.items():
        ours = {m for m in _imports(module) if m.split(".")[0] in ("workflows", "orchestration")}
        assert ours <= deps, (module, ours - deps)
    assert not any(m.startswith("resources") for m in _imports("agents"))
