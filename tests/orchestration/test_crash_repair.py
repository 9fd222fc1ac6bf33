"""Fault injection: a promote and a rollback killed with SIGKILL at every step, each followed by
one `repair`, after which what serves and everything that records it agree.

A child process pauses at a step of the change (assets.promotion._pause), says so through a
file, and is killed there. The promote runs the promotion module directly; the rollback runs the
`change_champion` job through Dagster (so its run is left STARTED, as an operator's would be).
After one repair: the aliases and the MLflow history agree (no problem found by the checker),
no intent is open, the champion is the old one if the kill came before `@champion` moved and
the new one after, Dagster's latest `champion` materialization and its snapshot name that
champion, and the killed run is FAILED with the reason.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import DagsterInstance, DagsterRunStatus, build_sensor_context

from assets import promotion
from assets.champion_repair import CHANGE_ID
from assets.models import FEATURE_SET_TAG
from assets.names import CHAMPION, EVALUATION
from assets.promotion import (
    STEPS,
    consistency_problems,
    last_completed,
    open_intent,
    promote,
)
from orchestration.catalog import definitions
from orchestration.home import activate, registry_for, resolve_home
from orchestration.repair import repair_workflow
from orchestration.runner import run_job
from resources.storage import HomeStorage
from tests.assets.ticket_home import WF, ticket_home
from tests.support import reliability


def _model():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    return LogisticRegression().fit(x, (x["a"] > 0).astype(int)), x


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash-home")
    with ticket_home(root) as home:
        model, x = _model()
        for number in (1, 2, 3):
            home.registry.log_and_register(
                model=model,
                input_example=x.head(3),
                params={},
                metrics={},
                run_tags={},
                version_tags={FEATURE_SET_TAG: WF.feature_sets.versions[0]},
                artifacts={},
                run_name=f"v{number}",
            )
            # What baseline_metrics copies when a version becomes champion.
            home.store.write(
                EVALUATION,
                None,
                {
                    "challenger_version": str(number),
                    "metrics": {"roc_auc": {"estimate": 0.8, "low": 0.7, "high": 0.9}},
                    "test_set": {"version": "1", "sha256": "0" * 64, "rows": 1},
                },
            )
        lock = home.root / "workflows" / WF.name / "registry.lock"
        promote(home.registry, "1", actor="setup", reason="launch", lock_path=lock)
        repair_workflow(home.home, WF, home.instance)  # records the launch in Dagster
        yield home, lock


# ------------------------------------------------------------------ children (forkserver)


def _pause_then_wait(flag: str, step: str):
    def pause(point: str) -> None:
        if point == step:
            Path(flag).write_text(point)
            time.sleep(600)  # killed here

    return pause


# Built once in the forkserver (it imports this module), inherited by every child it forks.
DEFS = definitions(WF)


def _child_promote(root: str, version: str, flag: str, step: str) -> None:
    home = activate(resolve_home(root), WF)
    promotion._pause = _pause_then_wait(flag, step)
    lock = home.root / "workflows" / WF.name / "registry.lock"
    promote(registry_for(home, WF), version, actor="child", reason="crash", lock_path=lock)


def _child_rollback(root: str, version: str, flag: str, step: str) -> None:
    home = activate(resolve_home(root), WF)
    promotion._pause = _pause_then_wait(flag, step)
    config = {
        "ops": {
            WF.op(CHAMPION): {
                "config": {"action": "rollback", "to_version": version, "reason": "crash"}
            }
        }
    }
    instance = DagsterInstance.from_config(str(home.dagster_home))
    run_job(DEFS, instance, "change_champion", None, run_config=config)


@pytest.fixture(scope="module")
def forkserver():
    ctx = multiprocessing.get_context("forkserver")
    # Children fork from a process that imported these once: a kill costs a fork, not imports.
    ctx.set_forkserver_preload(["tests.orchestration.test_crash_repair"])
    return ctx


def _crash(ctx, target, root: Path, version: str, step: str, tmp: Path) -> None:
    flag = tmp / f"{target.__name__}-{step}.flag"
    child = ctx.Process(target=target, args=(str(root), version, str(flag), step))
    child.start()
    deadline = time.monotonic() + 120
    while not flag.exists():
        assert child.is_alive(), f"{target.__name__} ended before reaching step {step}"
        assert time.monotonic() < deadline, f"{target.__name__} never reached step {step}"
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.join(timeout=30)
    assert child.exitcode == -signal.SIGKILL


def _started_runs(instance) -> list:
    return [
        r
        for r in instance.get_runs()
        if r.job_name == "change_champion" and r.status == DagsterRunStatus.STARTED
    ]


def _assert_consistent(home, lock: Path) -> str:
    registry = home.registry
    assert consistency_problems(registry) == []
    assert open_intent(lock) is None
    champion = registry.version_for_alias("champion")
    event = home.instance.get_latest_materialization_event(WF.key(CHAMPION))
    metadata = event.asset_materialization.metadata
    assert metadata["version"].value == champion
    assert metadata[CHANGE_ID].value == last_completed(lock).id
    assert home.store.read(CHAMPION, None)["version"] == champion
    return champion


@pytest.mark.parametrize("step", STEPS)
def test_a_change_killed_at_any_step_is_made_consistent_by_one_repair(
    world, forkserver, tmp_path, step
):
    home, lock = world
    moved = STEPS.index(step) >= STEPS.index("moved")  # @champion had moved when killed
    for target in (_child_promote, _child_rollback):
        before = home.registry.version_for_alias("champion")
        version = next(v for v in ("1", "2", "3") if v != before)
        runs_before = {r.run_id for r in _started_runs(home.instance)}
        _crash(forkserver, target, home.root, version, step, tmp_path)
        orphans = [r for r in _started_runs(home.instance) if r.run_id not in runs_before]
        assert len(orphans) == (1 if target is _child_rollback else 0)

        trial = f"{target.__name__.removeprefix('_child_')} killed at {step}"
        try:
            said = repair_workflow(home.home, WF, home.instance)

            champion = _assert_consistent(home, lock)
            assert champion == (version if moved else before), said
            for run in orphans:
                failed = home.instance.get_run_by_id(run.run_id)
                assert failed.status == DagsterRunStatus.FAILURE
                assert any("marked failed" in line for line in said)
            if step not in ("read",):
                outcome = "completed" if moved else "reverted"
                assert any(outcome in line or "recorded in Dagster" in line for line in said), said
            again = repair_workflow(home.home, WF, home.instance)
            assert again == [
                f"{WF.name}: nothing to repair (aliases, history and Dagster's record agree)"
            ]
        except AssertionError:
            reliability.record("fault", trial, ok=False)
            raise
        reliability.record("fault", trial, ok=True)


def test_the_next_change_repairs_an_interrupted_one_first(world, forkserver, tmp_path):
    """No repair command: a crash after @champion moved, then a rollback through Dagster. The
    rollback completes the crashed promote (recording it), then rolls it back."""
    home, lock = world
    before = home.registry.version_for_alias("champion")
    version = next(v for v in ("1", "2", "3") if v != before)
    _crash(forkserver, _child_promote, home.root, version, "moved", tmp_path)
    assert open_intent(lock) is not None
    config = {"ops": {WF.op(CHAMPION): {"config": {"action": "rollback", "reason": "bad"}}}}
    outcome = run_job(home.defs, home.instance, "change_champion", None, run_config=config)
    assert outcome.success, outcome.step_errors
    assert home.registry.version_for_alias("champion") == before
    assert home.registry.version_for_alias("previous") == version
    history = home.registry.model_tags()["champion_history"]
    assert f'"version":"{version}"' in history  # the crashed promote is on record
    _assert_consistent(home, lock)


def test_the_repair_sensor_asks_for_a_repair_run_only_after_a_crash(world, forkserver, tmp_path):
    home, lock = world
    repository = home.defs.get_repository_def()
    sensor = next(s for s in repository.sensor_defs if s.name == "champion_repair_sensor")

    def tick():
        storage = HomeStorage(home=str(home.root), workflow=WF.name)
        with build_sensor_context(
            instance=home.instance,
            repository_def=repository,
            resources={"storage": storage},
            sensor_name=sensor.name,
        ) as context:
            return sensor.evaluate_tick(context)

    assert tick().run_requests == []  # all agree: nothing asked
    before = home.registry.version_for_alias("champion")
    version = next(v for v in ("1", "2", "3") if v != before)
    _crash(forkserver, _child_promote, home.root, version, "tagged", tmp_path)
    with promotion._exclusive(lock, 5, holder="a change in progress"):
        assert tick().run_requests == []  # the lock is held: an open intent is not a crash
    (request,) = tick().run_requests
    assert sensor.job_name == "change_champion"
    assert request.run_config["ops"][WF.op(CHAMPION)]["config"] == {"action": "repair"}
    outcome = run_job(
        home.defs, home.instance, "change_champion", None, run_config=request.run_config
    )
    assert outcome.success, outcome.step_errors
    assert _assert_consistent(home, lock) == version  # @champion had moved: completed
    assert tick().run_requests == []
