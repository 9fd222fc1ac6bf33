"""ReplySimulation as the engine's demo calls it: its scenario, actions, the source it writes
(with the world table) and the agents' verdicts on the live rows of the engine's frame."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from orchestration.scenario import load_scenario
from workflows.reply_suggestions import evaluation
from workflows.reply_suggestions.component import COMPONENT
from workflows.reply_suggestions.simulation import PROMPTS, ReplySimulation, source
from workflows.reply_suggestions.simulation.incidents import Incident
from workflows.reply_suggestions.simulation.world_table import WORLD_TABLE, read_world
from workflows.reply_suggestions.world import REFINED_PROMPT

SEED = 7
DAY = dt.date(2026, 3, 2)
INCIDENTS = [
    Incident("ranking_regression", DAY, {"share": 0.5, "days": 2}),
    Incident("kb_article_changed", DAY + dt.timedelta(days=1), {"article_id": "KB-001"}),
]
SIM = ReplySimulation(rows_per_day=30)


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'desk.db'}"


def test_the_default_scenario_loads_with_its_incidents_and_actions():
    scenario = load_scenario(ReplySimulation())
    assert (scenario.start, scenario.days, scenario.seed) == (DAY, 37, 7)
    assert scenario.reference_days == 7
    by_kind = {i.kind: i for i in scenario.incidents}
    assert by_kind["ranking_regression"].day == scenario.day(10)
    assert by_kind["ranking_regression"].params == {"share": 0.5, "days": 2}
    assert by_kind["provider_update"].day == scenario.day(14)
    assert by_kind["kb_article_changed"].day == scenario.day(28)
    # The refined prompt is an incident: a challenger someone registers on its day.
    assert by_kind["prompt_regression_edge"].day == scenario.day(17)
    assert SIM.proposal(by_kind["prompt_regression_edge"]) == PROMPTS["refined"]
    actions = [(a["kind"], a["day"], a.get("prompt")) for a in scenario.actions]
    assert actions == [
        ("propose_prompt", 19, "clarified"),
        ("rollback", 24, None),
        ("redeploy", 30, None),
    ]


def test_validate_action_names_what_is_missing():
    SIM.validate_action({"kind": "propose_prompt", "prompt": "refined", "summary": "x"})
    SIM.validate_action({"kind": "rollback", "reason": "replies read worse"})
    with pytest.raises(ValueError, match="one of refined, clarified"):
        SIM.validate_action({"kind": "propose_prompt", "prompt": "bolder", "summary": "x"})
    with pytest.raises(ValueError, match="summary"):
        SIM.validate_action({"kind": "propose_prompt", "prompt": "clarified"})
    with pytest.raises(ValueError, match="reason"):
        SIM.validate_action({"kind": "rollback", "reason": "  "})
    with pytest.raises(ValueError, match="summary"):
        SIM.validate_action({"kind": "redeploy"})
    with pytest.raises(ValueError, match="not one of"):
        SIM.validate_action({"kind": "hand_registered_model"})


def test_the_prompts_keep_the_placeholders_and_the_refined_one_is_the_world_s():
    assert PROMPTS["refined"][0] == REFINED_PROMPT.template
    launch = COMPONENT.launch_config()
    for template, summary in PROMPTS.values():
        assert COMPONENT.with_prompt(launch, template, "2")["prompt"]["template"] == template
        assert summary.strip()
    assert PROMPTS["clarified"][0] != launch["prompt"]["template"]


def test_write_source_lands_the_days_and_the_world_table(url):
    written = SIM.write_source(url, SEED, DAY, DAY + dt.timedelta(days=1), INCIDENTS)
    assert list(written) == [DAY, DAY + dt.timedelta(days=1)]
    assert len(source.read_tickets(url, DAY)) == written[DAY]
    world = read_world(url)
    assert world.seed == SEED and world.incidents == tuple(INCIDENTS)
    assert [i.params for i in world.incidents] == [i.params for i in INCIDENTS]
    # Writing again replaces the world (one row), it does not add one.
    SIM.write_source(url, 11, DAY, DAY, INCIDENTS[:1])
    again = read_world(url)
    assert again.seed == 11 and again.incidents == tuple(INCIDENTS[:1])


def test_a_source_without_the_world_table_is_a_real_one(url):
    source.write_days(url, SEED, DAY, DAY, rows_per_day=5)
    assert read_world(url) is None
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE {WORLD_TABLE} (world_id INTEGER, seed INTEGER, incidents TEXT, "
            "written_at TEXT)"
        )
    engine.dispose()
    with pytest.raises(ValueError, match="holds 0 rows"):
        read_world(url)


def engine_frame(url: str, day: dt.date) -> pd.DataFrame:
    """The engine's served frame: both arms for every ticket, at most one of them live. The
    challenger shows nothing (its generator failed), so the live arm changes the verdicts;
    the first ticket has no live row (shown neither arm's output)."""
    context = COMPONENT.context(url, day)
    deployed = COMPONENT.deploy(COMPONENT.launch_config(), context)
    rows = source.read_tickets(url, day)
    served = COMPONENT.serve(deployed, rows, day, url)
    live_challenger = (pd.Series(range(len(served))) % 3 == 0).to_numpy()
    champion = served.assign(arm="champion", version="1", live=~live_challenger)
    failed = served.assign(reply=None, error="HTTP 500", refused=False, passed=pd.NA)
    failed["served"] = False
    challenger = failed.assign(arm="challenger", version="2", live=live_challenger)
    champion.loc[0, "live"] = challenger.loc[0, "live"] = False
    return pd.concat([champion, challenger], ignore_index=True)


def expected_verdicts(url: str, day: dt.date, frame: pd.DataFrame) -> pd.DataFrame:
    rows = source.read_tickets(url, day)
    kb_now = COMPONENT.context(url, day)
    arrays = evaluation.stage_metrics(frame, rows, kb_now)
    out = evaluation.agent_verdicts(frame, rows, arrays, SEED, day)
    return out.set_index("ticket_id")["verdict"].sort_index()


def test_feedback_writes_verdicts_for_the_live_rows_only(url):
    SIM.write_source(url, SEED, DAY, DAY, INCIDENTS)
    frame = engine_frame(url, DAY)
    agents = SIM.feedback(url, SEED, INCIDENTS, launch=DAY)
    assert agents.record(DAY, None) == 0
    assert source.read_verdicts(url).empty
    written = agents.record(DAY, frame)
    verdicts = source.read_verdicts(url).set_index("ticket_id")["verdict"].sort_index()
    live = frame.loc[frame["live"]].reset_index(drop=True)
    assert written == len(verdicts) == len(live) == frame["ticket_id"].nunique() - 1
    assert set(live["arm"]) == {"champion", "challenger"}
    # Each ticket's verdict is on what its live arm showed, not on the champion's row.
    pd.testing.assert_series_equal(verdicts, expected_verdicts(url, DAY, live))
    champion = frame.loc[frame["arm"] == "champion"].iloc[1:].reset_index(drop=True)
    assert not verdicts.equals(expected_verdicts(url, DAY, champion))
    # Recording the day again replaces its verdicts; a day before launch writes nothing.
    assert agents.record(DAY, frame) == written and len(source.read_verdicts(url)) == written
    early = SIM.feedback(url, SEED, INCIDENTS, launch=DAY + dt.timedelta(days=1))
    assert early.record(DAY, frame) == 0
    with pytest.raises(ValueError, match="live"):
        agents.record(DAY, frame.drop(columns="live"))


def test_labels_are_the_verdicts_decided_by_the_end_of_the_day(url):
    SIM.write_source(url, SEED, DAY, DAY, INCIDENTS)
    SIM.feedback(url, SEED, INCIDENTS, launch=DAY).record(DAY, engine_frame(url, DAY))
    everything = source.read_verdicts(url)
    for known_by in (DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2)):
        labels = COMPONENT.labels(url, known_by)
        assert list(labels.columns) == ["ticket_id", "verdict", "decided_at"]
        end = pd.Timestamp(known_by) + pd.Timedelta(days=1)
        assert len(labels) == (everything["decided_at"] < end).sum()
        assert (labels["decided_at"] < end).all()
    assert 0 < len(COMPONENT.labels(url, DAY + dt.timedelta(days=2))) < len(everything)


def test_act_is_the_engine_s_job():
    with pytest.raises(NotImplementedError, match="engine runs"):
        SIM.act({"kind": "rollback", "reason": "x"}, None, None, dt.datetime(2026, 3, 2))
