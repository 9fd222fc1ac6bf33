"""No way around the gate, on a small real ticket home (SQLite Dagster instance, SQLite MLflow
registry): `@champion` moved with MlflowClient directly is an ERROR of `aliases_match_audit`
(asked for by the alias watch sensor, in a real run), an immediate alert for the model owner,
and serving keeps the audited champion; `afterlaunch promote` lets the move in only through
the gate (here it refuses), `afterlaunch revert-aliases` puts the audited state back, and the
check passes again.
Plus the links both ways: Dagster URL tags on the MLflow version, MLflow URLs in metadata."""

from datetime import date, timedelta

import pytest
import yaml
from dagster import AssetCheckKey, build_sensor_context
from mlflow import MlflowClient

from assets.alias_guard import ALIAS_CHECK, audited_champion, reverts
from assets.check_history import evaluations
from assets.models import champion as served_champion
from assets.names import CHALLENGER, CHAMPION, EVAL_SET, EVALUATION, PREDICTIONS, TRAINING_SET
from assets.promotion import champion_history
from assets.ui_links import ASSET_URL_TAG, RUN_URL_TAG
from orchestration.cli import main as cli
from orchestration.runner import run_job
from resources.alerts import AlertOutbox, AlertWebhook
from resources.clock import ClockResource
from resources.links import UiLinks
from resources.policy import PolicyResource
from resources.storage import HomeStorage
from tests.assets.ticket_home import WF, key, ticket_home
from workflows.ticket_escalation.simulation.crm import CrmSimulator

START = date(2026, 1, 5)
DAYS = 14
END = START + timedelta(days=DAYS - 1)
POLICY = {
    "training": {"window_days": 10, "min_rows": 1000},
    "evaluation": {"eval_set_size": 600, "eval_set_min_size": 500, "bootstrap_resamples": 200},
    "gate": {
        "floors": {"roc_auc": 0.55, "task_success": 0.5, "log_loss": 0.7, "ece": 0.1},
        "min_slice_size": 20,
    },
}
CHECK = AssetCheckKey(WF.key(CHAMPION), ALIAS_CHECK)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Version 1 promoted as the first model; version 2 trained and evaluated (rollouts on, so
    the gate's yes admits it to a rollout rather than promoting it); version 3 registered by
    hand and never evaluated."""
    with ticket_home(tmp_path_factory.mktemp("alias-bypass")) as home:
        home.write_policy(yaml.safe_dump(POLICY))
        CrmSimulator(home.source_url, seed=5).write_days(START, END)
        for i in range(DAYS):
            assert home.run("raw_ingestion", (START + timedelta(days=i)).isoformat()).success
        draw = {EVAL_SET: {"version": "1", "end_date": END.isoformat()}}
        assert home.run("draw_test_set", ops=draw).success
        launch = home.run(
            "train_challenger",
            ops={
                TRAINING_SET: {"end_date": (END - timedelta(days=2)).isoformat()},
                CHALLENGER: {"change_summary": "launch", "actor": "tests"},
            },
        )
        assert launch.success, launch.step_errors
        assert home.registry.version_for_alias("champion") == "1"
        second = home.run(
            "train_challenger",
            ops={
                TRAINING_SET: {"end_date": END.isoformat()},
                CHALLENGER: {"change_summary": "more days", "actor": "tests"},
            },
        )
        assert second.success, second.step_errors
        assert home.registry.version_for_alias("champion") == "1"  # admitted to a rollout
        client = MlflowClient(tracking_uri=home.home.mlflow_uri)
        first = client.get_model_version(WF.model_name, "1")
        logged = client.get_logged_model(first.source.removeprefix("models:/"))
        by_hand = client.create_model_version(
            WF.model_name,
            source=logged.artifact_location,
            run_id=first.run_id,
            model_id=logged.model_id,
            tags=dict(first.tags),
        )
        assert str(by_hand.version) == "3"
        yield home, client


def _flags(home) -> list[str]:
    return ["--home", str(home.root), "--workflow", WF.name]


def _storage(home) -> HomeStorage:
    return HomeStorage(home=str(home.root), workflow=WF.name)


def _resources(home) -> dict:
    return {
        "registry": home.registry,
        "storage": _storage(home),
        "policy": PolicyResource(
            workflow=WF.name,
            home=str(home.root),
            workflow_file=str(WF.policy_file),
            defaults=WF.task.default_policy,
            label_lag_days=WF.label.max_lag_days,
        ),
        "clock": ClockResource(),
        "webhook": AlertWebhook(url=""),
        "links": UiLinks(dagster_url="http://127.0.0.1:3000", mlflow_url="http://127.0.0.1:5000"),
    }


def _tick(home, name: str, cursor: str | None):
    repo = home.defs.get_repository_def()
    sensor = repo.get_sensor_def(name)
    with build_sensor_context(
        instance=home.instance,
        cursor=cursor,
        repository_def=repo,
        resources=_resources(home),
        sensor_name=name,
    ) as context:
        return sensor.evaluate_tick(context)


class Watch:
    """The alias watch sensor's cursor across ticks, and the runs it asks for (run here)."""

    def __init__(self, home):
        self.home, self.cursor, self.alerts_cursor = home, None, None

    def tick(self) -> list:
        result = _tick(self.home, "alias_watch_sensor", self.cursor)
        self.cursor = result.cursor
        for request in result.run_requests:
            outcome = run_job(
                self.home.defs,
                self.home.instance,
                request.job_name or "audit_aliases",
                tags={**request.tags, "dagster/run_key": request.run_key},
            )
            assert outcome.success, outcome.step_errors
        return result.run_requests

    def alert_tick(self) -> None:
        self.alerts_cursor = _tick(self.home, "alert_sensor", self.alerts_cursor).cursor

    def latest(self):
        return evaluations(self.home.instance, [CHECK])[-1]


@pytest.fixture(scope="module")
def watch(world):
    home, _ = world
    found = Watch(home)
    assert found.tick() == []  # a healthy registry costs no runs
    found.alert_tick()
    return found


def test_registration_and_promotion_link_both_ways(world):
    home, _ = world
    tags = home.registry.version_tags("1")
    assert tags[RUN_URL_TAG].startswith("http://127.0.0.1:3000/runs/")
    assert tags[ASSET_URL_TAG] == f"http://127.0.0.1:3000/assets/{WF.name}/{CHALLENGER}"
    assert tags["champion." + RUN_URL_TAG].startswith("http://127.0.0.1:3000/runs/")
    page = f"http://127.0.0.1:5000/#/models/{WF.model_name}/versions/"
    for asset, version in ((CHAMPION, "1"), (CHALLENGER, "2"), (EVALUATION, "2")):
        event = home.instance.get_latest_materialization_event(key(asset))
        assert event.asset_materialization.metadata["mlflow_version"].value == page + version


def test_a_champion_moved_outside_is_an_error_an_alert_and_not_served(world, watch):
    home, client = world
    lock = _storage(home).lock_path
    client.set_registered_model_alias(WF.model_name, "champion", "2")  # bypassing the gate

    assert len(watch.tick()) == 1
    latest = watch.latest()
    assert (latest.passed, latest.severity) == (False, "ERROR")
    assert "@champion names version 2 but the audit trail says 1" in latest.description
    assert watch.tick() == []  # the same mismatch is judged once, not on every tick

    watch.alert_tick()
    [alert] = [
        a for a in AlertOutbox(_storage(home).outbox).all() if a.payload["check"] == ALIAS_CHECK
    ]
    assert (alert.owner, alert.delivery) == (WF.owners.model_owner, "immediate")
    assert alert.delivered_at is not None  # no webhook: the log delivered it at once

    assert audited_champion(home.registry, lock) == "1"
    assert served_champion(WF, home.registry, lock).version == "1"
    day = END.isoformat()
    scored = home.defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=home.instance, partition_key=day, asset_selection=[key(PREDICTIONS)]
    )
    assert scored.success
    assert set(home.store.read(PREDICTIONS, day)["model_version"]) == {"1"}
    assert home.registry.version_for_alias("champion") == "2"  # nothing moved it back


def test_promote_refuses_an_unevaluated_move_and_leaves_the_audited_aliases(world, watch):
    home, client = world
    client.set_registered_model_alias(WF.model_name, "champion", "3")
    watch.tick()
    assert not watch.latest().passed
    code = cli(["promote", "3", *_flags(home), "--actor", "alice"])
    assert code == 1  # version 3 has no gate decision
    assert home.registry.version_for_alias("champion") == "1"
    assert reverts(_storage(home).lock_path)[-1]["actor"] == "alice"
    assert len(watch.tick()) == 1 and watch.latest().passed


def test_promote_of_a_move_goes_through_the_gate_which_refuses_it(world, watch, caplog):
    """Version 2 was evaluated against 1 and rejected (this home's seed): moving @champion to
    it by hand and then `afterlaunch promote 2` puts the audited aliases back and lets the
    gate decide, which refuses with its reason; nothing is built on the move."""
    home, client = world
    verdict = home.store.read(EVALUATION, None)
    assert (verdict["challenger_version"], verdict["verdict"]) == ("2", "reject")
    client.set_registered_model_alias(WF.model_name, "champion", "2")
    watch.tick()
    assert not watch.latest().passed
    assert cli(["promote", "2", *_flags(home), "--actor", "bob"]) == 1
    assert "version 2 not promoted: gate verdict reject" in caplog.text
    assert [e["version"] for e in champion_history(home.registry)] == ["1"]
    assert home.registry.version_for_alias("champion") == "1"
    record = reverts(_storage(home).lock_path)[-1]
    assert (record["actor"], record["moves"]) == (
        "bob",
        [{"alias": "champion", "from": "2", "to": "1"}],
    )
    assert len(watch.tick()) == 1 and watch.latest().passed


def test_revert_aliases_puts_the_audited_state_back(world, watch):
    home, client = world
    client.set_registered_model_alias(WF.model_name, "champion", "3")
    client.set_registered_model_alias(WF.model_name, "previous", "2")
    watch.tick()
    assert not watch.latest().passed
    assert cli(["revert-aliases", *_flags(home), "--actor", "carol"]) == 0
    registry = home.registry
    assert (registry.version_for_alias("champion"), registry.version_for_alias("previous")) == (
        "1",
        None,
    )
    record = reverts(_storage(home).lock_path)[-1]
    assert record["actor"] == "carol" and len(record["moves"]) == 2
    assert len(watch.tick()) == 1 and watch.latest().passed
    assert cli(["revert-aliases", *_flags(home)]) == 0  # nothing left to revert
    assert watch.tick() == []
