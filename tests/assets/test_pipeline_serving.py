"""Serving a staged pipeline's two arms: the champion keeps serving when the challenger's
generator fails (a real local chat-completions server answering 500, or too slowly), the
failure is recorded per row, and the day's rollout move rolls the challenger back."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from assets import pipeline_stages as stages
from assets.pipeline_release import Served
from checks import rollout as rollout_rules
from checks import stage_gate
from checks.policy import RolloutRules
from tests.resources.test_generators import chat_server  # noqa: F401 - a fixture
from workflows.reply_suggestions.component import COMPONENT
from workflows.reply_suggestions.simulation import ReplySimulation, source
from workflows.reply_suggestions.workflow import WORKFLOW

DAY = dt.date(2026, 3, 2)
TASK = WORKFLOW.task
RULES = RolloutRules(
    shadow_days=1,
    steps=[{"fraction": 0.5, "days": 1}, {"fraction": 1.0, "days": 1}],
    label_free_only=True,
)


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('desk') / 'desk.db'}"
    ReplySimulation(rows_per_day=15).write_source(url, 7, DAY, DAY, [])
    context = COMPONENT.context(url, DAY)
    rows = source.read_tickets(url, DAY)
    launch = COMPONENT.launch_config()
    champion = Served("1", launch, COMPONENT.deploy(launch, context))
    return url, context, rows, champion


def _openai_challenger(context, monkeypatch, server) -> Served:
    monkeypatch.setenv("AFTERLAUNCH_GENERATOR_URL", server.url)
    monkeypatch.setenv("AFTERLAUNCH_GENERATOR_MODEL", "reply-model")
    monkeypatch.delenv("AFTERLAUNCH_GENERATOR_API_KEY", raising=False)
    config = COMPONENT.launch_config()
    config["generator"] = {"name": "openai_compatible", "version": "reply-model"}
    return Served("2", config, COMPONENT.deploy(config, context))


def _record(fraction: float) -> dict:
    record = rollout_rules.start(
        version="2",
        champion_version="1",
        baseline_task_success=0.7,
        rules=RULES,
        today=DAY,
        actor="test",
        reason="gate passed",
        policy_version="test",
    )
    if fraction:
        record = rollout_rules.advance(record, DAY, "test", "shadow done")
    return record


def _metrics(served, rows, context) -> dict:
    out = {"arms": {}, "paired": None}
    for arm in stages.arms(served):
        frame = stages.arm_rows(served, arm)
        _, _, judged = stages.judged_arm(TASK, frame, rows, context, {}, 5)
        out["arms"][arm] = {
            "failing": [stage_gate.describe(j) for j in stage_gate.failing(judged)],
            "error_rate": stages.error_rate(TASK, frame),
        }
    return out


@pytest.mark.parametrize("behaviour", ["500", "slow"])
def test_a_failing_challenger_in_shadow_leaves_every_row_to_the_champion(
    desk,
    chat_server,  # noqa: F811 - the imported fixture
    monkeypatch,
    behaviour,
):
    url, context, rows, champion = desk
    chat_server.behaviour = behaviour
    if behaviour == "slow":  # the generator's timeout, shortened so the test stays quick
        monkeypatch.setenv("AFTERLAUNCH_GENERATOR_TIMEOUT_S", "0.2")
    challenger = _openai_challenger(context, monkeypatch, chat_server)
    served, failure = stages.serve_arms(
        TASK, rows, DAY, url, "ticket_id", champion, challenger, _record(0.0)
    )
    champ = stages.arm_rows(served, stages.CHAMPION)
    chall = stages.arm_rows(served, stages.CHALLENGER)
    assert failure is None  # per-row failures, not a failed arm
    assert len(champ) == len(chall) == len(rows)
    # The champion served every row and the people saw only its replies.
    assert champ["live"].all() and not chall["live"].any()
    assert champ["error"].isna().all() and champ["served"].sum() > 0.8 * len(rows)
    asked = chall["context_ids"].map(len) > 0
    expected = "HTTP 500" if behaviour == "500" else "(timeout)"
    errors = chall.loc[asked, "error"]
    assert errors.str.contains(expected, regex=False).all(), errors.unique()[:3]
    # The day's move: the challenger's error rate fires the rollback.
    move = stages.rollout_move(
        _record(0.0), _metrics(served, rows, context), RULES, DAY + dt.timedelta(days=1)
    )
    assert move.action == "rollback" and "error rate" in move.reason


def test_a_canary_gives_the_challenger_only_its_hashed_share_of_rows(desk):
    url, context, rows, champion = desk
    challenger = Served("2", COMPONENT.launch_config(), champion.deployed)
    record = _record(0.5)
    served, _ = stages.serve_arms(TASK, rows, DAY, url, "ticket_id", champion, challenger, record)
    champ = stages.arm_rows(served, stages.CHAMPION)
    chall = stages.arm_rows(served, stages.CHALLENGER)
    # Each row is live in exactly one arm, the challenger's share near the canary's fraction.
    assert (champ["live"].to_numpy() ^ chall["live"].to_numpy()).all()
    assert 0.3 < chall["live"].mean() < 0.7
    # The same entities fall in the canary whenever the day is served again.
    again, _ = stages.serve_arms(TASK, rows, DAY, url, "ticket_id", champion, challenger, record)
    assert np.array_equal(stages.arm_rows(again, stages.CHALLENGER)["live"], chall["live"])


def test_a_challenger_that_cannot_serve_at_all_is_recorded_and_the_champion_serves_all(desk):
    url, context, rows, champion = desk

    class Broken:
        """A deployment whose serving raises (an index that fails to load)."""

    challenger = Served("2", COMPONENT.launch_config(), Broken())
    served, failure = stages.serve_arms(
        TASK, rows, DAY, url, "ticket_id", champion, challenger, _record(0.5)
    )
    assert failure and failure.startswith("AttributeError")
    champ = stages.arm_rows(served, stages.CHAMPION)
    chall = stages.arm_rows(served, stages.CHALLENGER)
    assert champ["live"].all() and not chall["live"].any()
    assert (chall["error"] == failure).all()
    move = stages.rollout_move(
        _record(0.5), _metrics(served, rows, context), RULES, DAY + dt.timedelta(days=1)
    )
    assert move.action == "rollback"
