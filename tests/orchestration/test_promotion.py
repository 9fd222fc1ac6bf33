"""Promotion and rollback on an embedded MLflow store (SQLite file + artifact folder).

Ten versions are registered once per module into a template store; every test copies the
SQLite file (milliseconds) and shares the template's artifacts (read only). The races run
promotions in threads and in 'spawn' processes against one store and one lock file, and show
with the lock taken away that the same checker catches what then goes wrong.
"""

from __future__ import annotations

import multiprocessing
import shutil
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from assets import promotion
from assets.promotion import (
    HISTORY_KEEP,
    ChampionChange,
    PromotionError,
    chain_problems,
    champion_history,
    consistency_problems,
    promote,
    rollback,
)
from resources.registry import ModelRegistry, RegistryError

VERSIONS = 10
C_VALUES = [1.0, 0.02, 0.3]  # versions 1-3: fitted models that predict differently
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MODEL = "ticket-escalation"  # one registered model per workflow
RACERS = 8  # threads
PROCESS_RACERS = 6  # spawned processes (each imports mlflow + dagster: seconds of CPU)


def ticket_frame(rows: int = 60, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "channel": rng.choice(["email", "phone", "chat"], size=rows),
            "account_age_days": rng.integers(1, 900, size=rows).astype(float),
        }
    )
    labels = ((frame["channel"] == "phone") | (frame["account_age_days"] < 120)).to_numpy(int)
    return frame, labels


def train(c: float):
    # Imported here so that spawned race workers, which only promote, start faster.
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame, labels = ticket_frame()
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["channel"]),
            (StandardScaler(), ["account_age_days"]),
        ),
        LogisticRegression(C=c),
    )
    return model.fit(frame, labels)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> dict:
    """A store holding versions 1..10 (no alias) and the fitted models of 1..3.

    Versions 1-3 are logged and registered in full (distinct models, for the serving checks).
    Versions 4-10 only race: they are registered straight from version 3's logged model (a
    real READY version in milliseconds instead of a second each)."""
    root = tmp_path_factory.mktemp("promotion-template")
    registry = ModelRegistry(
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        artifact_root=str(root / "artifacts"),
        model_name=MODEL,
    )
    frame, _ = ticket_frame()
    models = {}
    for number, c in enumerate(C_VALUES, start=1):
        model = train(c)
        registered = registry.log_and_register(
            model=model,
            input_example=frame.head(3),
            params={"hp.C": c},
            metrics={"val_auc": 0.9},
            run_tags={},
            version_tags=lineage_tags(number),
            artifacts={},
            run_name=f"candidate {number}",
        )
        assert registered.version == str(number)
        models[registered.version] = model
    client = MlflowClient(tracking_uri=registry.tracking_uri)
    third = client.get_model_version(registry.model_name, "3")
    logged = client.get_logged_model(third.source.removeprefix("models:/"))  # models:/m-<id>
    for number in range(len(C_VALUES) + 1, VERSIONS + 1):
        created = client.create_model_version(
            registry.model_name,
            source=logged.artifact_location,
            run_id=third.run_id,
            model_id=logged.model_id,
            tags=lineage_tags(number),
        )
        assert (str(created.version), created.status) == (str(number), "READY")
    return {"db": root / "mlflow.db", "artifacts": root / "artifacts", "models": models}


def lineage_tags(number: int) -> dict[str, str]:
    return {
        "lineage.feature_set_version": f"fs-{number}",
        "lineage.preprocessing": f"onehot+scaler#{number}",
    }


def store_copy(template: dict, folder: Path) -> ModelRegistry:
    db = folder / "mlflow.db"
    shutil.copy(template["db"], db)
    return ModelRegistry(
        tracking_uri=f"sqlite:///{db}", artifact_root=str(template["artifacts"]), model_name=MODEL
    )


@pytest.fixture
def registry(template, tmp_path) -> ModelRegistry:
    return store_copy(template, tmp_path)


@pytest.fixture
def lock(tmp_path) -> Path:
    return tmp_path / "promotion.lock"


def aliases(registry: ModelRegistry) -> tuple[str | None, str | None]:
    return registry.version_for_alias("champion"), registry.version_for_alias("previous")


def alias_rows(registry: ModelRegistry) -> list[tuple[str, int]]:
    """The MLflow store's alias table itself, not the client's view of it."""
    db = registry.tracking_uri.removeprefix("sqlite:///")
    with sqlite3.connect(db, timeout=20) as conn:
        return sorted(
            conn.execute(
                "SELECT alias, version FROM registered_model_aliases WHERE name = ?",
                (registry.model_name,),
            ).fetchall()
        )


def audit(registry: ModelRegistry, changes: list[ChampionChange], before: int) -> list[str]:
    """Everything wrong after a race, found by the module's own checker (chain_problems):

    * on the MLflow mirror: the history is a chain and the aliases agree with its last entry;
    * on what the callers were told (what Dagster's event log records): the changes that
      returned, in the order they were stamped inside the lock, continue the recorded history
      as a chain ending at the current aliases;
    * each returned change is mirrored exactly once, and the alias table holds one champion."""
    champion, previous = aliases(registry)
    history = champion_history(registry)
    returned = sorted((change.as_dict() for change in changes), key=lambda c: c["at"])
    problems = chain_problems(history, champion=champion, previous=previous)
    problems += chain_problems(history[:before] + returned, champion=champion, previous=previous)
    for entry in returned:
        if history[before:].count(entry) != 1:
            problems.append(
                f"{entry['action']} to {entry['version']} returned but is recorded "
                f"{history[before:].count(entry)} times"
            )
    rows = alias_rows(registry)
    if [alias for alias, _ in rows].count("champion") != 1:
        problems.append(f"the alias table does not hold exactly one champion: {rows}")
    return problems


# ---------------------------------------------------------------------- semantics


def test_promote_rollback_and_the_exact_previous_model_serves_again(registry, lock, template):
    assert champion_history(registry) == [] and consistency_problems(registry) == []

    first = promote(
        registry, "1", actor="alice", reason="launch", lock_path=lock, at=T0,
        gate={"decision": "promote", "auc_delta_ci": [0.01, 0.04]}, approved_by="carol",
    )  # fmt: skip
    assert first == ChampionChange(
        action="promote",
        version="1",
        previous_version=None,
        reason="launch",
        actor="alice",
        approved_by="carol",
        gate={"decision": "promote", "auc_delta_ci": [0.01, 0.04]},
        at="2026-03-02T09:00:00+00:00",
        id=first.id,  # the intent that planned it: random, one per change
    )
    assert len(first.id) == 32
    assert aliases(registry) == ("1", None)

    second = promote(registry, "2", actor="scheduler", reason="retrained", lock_path=lock)
    assert (second.version, second.previous_version) == ("2", "1")
    assert aliases(registry) == ("2", "1")
    assert second.at.endswith("+00:00")

    back = rollback(registry, actor="oncall", reason="escalations missed", lock_path=lock)
    assert (back.action, back.version, back.previous_version) == ("rollback", "1", "2")
    assert (back.gate, back.approved_by) == (None, None)
    assert aliases(registry) == ("1", "2")
    # The exact model validated as version 1 serves again, with its recorded preprocessing.
    rows, _ = ticket_frame(rows=50, seed=11)
    served = registry.load_model("@champion").predict_proba(rows)
    np.testing.assert_array_equal(served, registry.load_model("1").predict_proba(rows))
    np.testing.assert_allclose(served, template["models"]["1"].predict_proba(rows), rtol=1e-12)
    assert not np.allclose(served, template["models"]["2"].predict_proba(rows))
    tags = registry.version_tags("1")
    assert tags["lineage.feature_set_version"] == "fs-1"
    assert tags["lineage.preprocessing"] == "onehot+scaler#1"
    assert tags["champion.action"] == "rollback" and tags["champion.promoted_by"] == "oncall"
    assert tags["champion.approved_by"] == "" and tags["champion.reason"] == "escalations missed"
    assert registry.version_tags("2")["champion.demoted_at"] == back.at

    # Rolling back twice toggles; rollback(to=...) picks any other version.
    again = rollback(registry, actor="oncall", reason="false alarm", lock_path=lock)
    assert (again.version, again.previous_version) == ("2", "1")
    chosen = rollback(registry, actor="oncall", reason="known good", lock_path=lock, to="3")
    assert (chosen.version, chosen.previous_version) == ("3", "2")
    assert aliases(registry) == ("3", "2")
    chosen = rollback(registry, actor="oncall", reason="undo", lock_path=lock, to="2")
    assert aliases(registry) == ("2", "3")

    history = champion_history(registry)
    assert history[:4] == [c.as_dict() for c in (first, second, back, again)]
    assert [(h["action"], h["version"], h["previous_version"]) for h in history] == [
        ("promote", "1", None),
        ("promote", "2", "1"),
        ("rollback", "1", "2"),
        ("rollback", "2", "1"),
        ("rollback", "3", "2"),
        ("rollback", "2", "3"),
    ]
    assert consistency_problems(registry) == []


def test_refusals_name_the_reason_and_move_nothing(registry, lock):
    with pytest.raises(PromotionError, match="no @champion to roll back from"):
        rollback(registry, actor="oncall", reason="panic", lock_path=lock)
    promote(registry, "1", actor="alice", reason="launch", lock_path=lock)
    with pytest.raises(PromotionError, match="no @previous version to return to"):
        rollback(registry, actor="oncall", reason="panic", lock_path=lock)
    promote(registry, "2", actor="alice", reason="retrained", lock_path=lock)
    state, history = aliases(registry), champion_history(registry)

    with pytest.raises(PromotionError, match="version 2 is already champion"):
        promote(registry, "2", actor="alice", reason="again", lock_path=lock)
    with pytest.raises(PromotionError, match="version 2 is already champion"):
        rollback(registry, actor="alice", reason="again", lock_path=lock, to="2")
    with pytest.raises(PromotionError, match=r"version 99 refused.*version 99"):
        promote(registry, "99", actor="alice", reason="typo", lock_path=lock)
    with pytest.raises(PromotionError, match=r"version 42 refused"):
        rollback(registry, actor="alice", reason="typo", lock_path=lock, to="42")
    with pytest.raises(PromotionError, match="positive integer"):
        promote(registry, "latest", actor="alice", reason="typo", lock_path=lock)
    with pytest.raises(PromotionError, match="non-empty actor and reason"):
        promote(registry, "3", actor=" ", reason="who?", lock_path=lock)
    with pytest.raises(PromotionError, match="timezone-aware"):
        promote(registry, "3", actor="a", reason="r", lock_path=lock, at=datetime(2026, 3, 2))
    with pytest.raises(PromotionError, match="cannot be recorded as JSON"):
        promote(registry, "3", actor="a", reason="r", lock_path=lock, gate={"x": object()})
    with pytest.raises(PromotionError, match="expected @champion=1 but it is 2"):
        promote(registry, "3", actor="a", reason="r", lock_path=lock, expected_champion="1")

    assert aliases(registry) == state == ("2", "1")
    assert champion_history(registry) == history
    assert alias_rows(registry) == [("champion", 2), ("previous", 1)]
    change = promote(registry, "3", actor="a", reason="r", lock_path=lock, expected_champion="2")
    assert change.previous_version == "2"


def test_a_failed_champion_move_restores_previous(registry, lock, monkeypatch):
    promote(registry, "1", actor="alice", reason="launch", lock_path=lock)
    real = ModelRegistry.move_alias

    def champion_move_fails(self, alias, version, **kwargs):
        if alias == "champion" and version == "2":
            raise RegistryError("simulated: database went away")
        return real(self, alias, version, **kwargs)

    monkeypatch.setattr(ModelRegistry, "move_alias", champion_move_fails)
    # @previous was free: it is moved to 1 first, then freed again.
    with pytest.raises(PromotionError, match="aliases unchanged.*database went away"):
        promote(registry, "2", actor="alice", reason="retrained", lock_path=lock)
    assert aliases(registry) == ("1", None)
    monkeypatch.undo()

    promote(registry, "3", actor="alice", reason="retrained", lock_path=lock)
    monkeypatch.setattr(ModelRegistry, "move_alias", champion_move_fails)
    with pytest.raises(PromotionError, match="aliases unchanged"):
        rollback(registry, actor="oncall", reason="bad", lock_path=lock, to="2")
    assert aliases(registry) == ("3", "1")
    monkeypatch.undo()
    assert consistency_problems(registry) == []


def test_a_failed_audit_write_restores_both_aliases(registry, lock, monkeypatch):
    promote(registry, "1", actor="alice", reason="launch", lock_path=lock)
    promote(registry, "2", actor="alice", reason="retrained", lock_path=lock)
    history = champion_history(registry)

    def history_write_fails(self, key, value):
        raise RegistryError("simulated: tag write failed")

    monkeypatch.setattr(ModelRegistry, "set_model_tag", history_write_fails)
    with pytest.raises(PromotionError, match=r"recording the change failed.*restored"):
        promote(registry, "3", actor="alice", reason="next", lock_path=lock)
    assert aliases(registry) == ("2", "1")
    assert champion_history(registry) == history
    monkeypatch.undo()
    assert consistency_problems(registry) == []


def test_aliases_moved_outside_promotion_are_refused_not_built_upon(registry, lock):
    promote(registry, "1", actor="alice", reason="launch", lock_path=lock)
    registry.move_alias("champion", "4", actor="someone", reason="clicked in the MLflow UI")
    problems = consistency_problems(registry)
    assert problems == [
        "the registry has @champion=4, @previous=None but the last recorded change (promote at "
        f"{champion_history(registry)[0]['at']}) left @champion=1, @previous=None"
    ]
    with pytest.raises(PromotionError, match="@champion=4.*set the aliases back"):
        promote(registry, "2", actor="alice", reason="retrained", lock_path=lock)
    registry.move_alias("champion", "1", actor="someone", reason="put back")
    promote(registry, "2", actor="alice", reason="retrained", lock_path=lock)
    assert consistency_problems(registry) == []


def test_a_held_lock_times_out_naming_the_file(registry, lock):
    import fcntl

    with open(lock, "w") as held:
        held.write("pid 4242, promote by nightly, since 2026-03-02T09:00:00+00:00\n")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX)
        started = time.monotonic()
        with pytest.raises(PromotionError, match=rf"could not lock {lock}.*pid 4242"):
            promote(registry, "1", actor="alice", reason="r", lock_path=lock, lock_timeout_s=0.3)
        assert 0.3 <= time.monotonic() - started < 5
    assert aliases(registry) == (None, None)
    promote(registry, "1", actor="alice", reason="r", lock_path=lock, lock_timeout_s=0.3)


def test_history_keeps_the_last_entries_and_the_checker_finds_breaks():
    def change(number: int, previous: int | None) -> ChampionChange:
        return ChampionChange(
            "promote", str(number), None if previous is None else str(previous),
            "r", "a", None, None, f"2026-03-02T09:00:{number % 60:02d}+00:00",
        )  # fmt: skip

    history: list[dict] = []
    for number in range(1, 61):
        text = promotion._history_text(history, change(number, number - 1 or None))
        history = promotion.json.loads(text)
    assert len(history) == HISTORY_KEEP
    assert [h["version"] for h in history] == [str(n) for n in range(11, 61)]
    assert chain_problems(history, champion="60", previous="59") == []
    assert chain_problems(history, champion="60", previous="58") != []
    broken = history[:-1] + [change(60, 57).as_dict()]
    [problem] = chain_problems(broken, champion="60", previous="57")
    assert "replaced version 57, but the change before it made version 59 champion" in problem
    with pytest.raises(PromotionError, match="over MLflow's tag limit"):
        promotion._history_text([], ChampionChange("promote", "1", None, "r", "a", None,
                                                   {"blob": "x" * 100_001}, "t"))  # fmt: skip


# ---------------------------------------------------------------------- races


def run_op(registry: ModelRegistry, op: tuple, lock_path: Path) -> ChampionChange:
    kind, version, actor = op
    if kind == "promote":
        return promote(registry, version, actor=actor, reason="race", lock_path=lock_path)
    return rollback(registry, actor=actor, reason="race", lock_path=lock_path)


def race_ops(count: int, *, with_rollback: bool) -> list[tuple]:
    """Promotions of versions 3, 4, ... (each once, so none can be 'already champion'),
    and one rollback (always possible: the store starts with champion 2, previous 1)."""
    ops = [("promote", str(3 + i), f"racer-{i}") for i in range(count)]
    if with_rollback:
        ops[count // 2] = ("rollback", None, "racer-rollback")
    return ops


def prepare_race(registry: ModelRegistry, lock: Path, *, unlocked: bool = False) -> int:
    promote(registry, "1", actor="setup", reason="launch", lock_path=lock)
    promote(registry, "2", actor="setup", reason="retrained", lock_path=lock)
    if unlocked:
        # Toggle twice so version 2 already carries champion.demoted_at: unlocked racers then
        # all overwrite that row instead of racing to insert it (a unique-key error, not the
        # inconsistency this variant is about).
        rollback(registry, actor="setup", reason="toggle", lock_path=lock)
        rollback(registry, actor="setup", reason="toggle", lock_path=lock)
    assert aliases(registry) == ("2", "1")
    return len(champion_history(registry))


class ChampionWatcher(threading.Thread):
    """Reads @champion outside any lock while the race runs: it must never be missing."""

    def __init__(self, registry: ModelRegistry):
        super().__init__(daemon=True)
        self.registry, self.seen, self.busy, self.done = registry, [], 0, threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                self.seen.append(self.registry.version_for_alias("champion"))
            except RegistryError as exc:  # SQLite under concurrent writers
                if "locked" not in str(exc):
                    raise
                self.busy += 1
            time.sleep(0.05)  # frequent enough; SQLite readers delay writers


def widen_the_window(point: str) -> None:
    """Locked races: a delay between the two alias moves (the window a lock must cover)."""
    if point == "between":
        time.sleep(0.02)


def line_up(barrier):
    """Unlocked races: every racer reads the state before anyone moves an alias."""

    def pause(point: str) -> None:
        if point == "read":
            barrier.wait()
        else:
            time.sleep(0.02)

    return pause


def race_in_threads(registry, ops, lock_paths, pause) -> list:
    start = threading.Barrier(len(ops), timeout=30)
    results: list = [None] * len(ops)

    def racer(i):
        start.wait()
        try:
            results[i] = run_op(registry, ops[i], lock_paths[i])
        except Exception as exc:  # reported, not swallowed: the test asserts on it
            results[i] = exc

    promotion._pause = pause
    try:
        threads = [threading.Thread(target=racer, args=(i,)) for i in range(len(ops))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        promotion._pause = None
    return results


def test_racing_threads_leave_one_champion_and_a_consistent_chain(registry, lock):
    before = prepare_race(registry, lock)
    watcher = ChampionWatcher(registry)
    watcher.start()
    ops = race_ops(RACERS, with_rollback=True)
    results = race_in_threads(registry, ops, [lock] * RACERS, widen_the_window)
    watcher.done.set()
    watcher.join()

    assert [type(r) for r in results] == [ChampionChange] * RACERS, results
    assert audit(registry, results, before) == []
    history = champion_history(registry)
    champion, previous = aliases(registry)
    assert alias_rows(registry) == [("champion", int(champion)), ("previous", int(previous))]
    assert (champion, previous) == (history[-1]["version"], history[-1]["previous_version"])
    assert watcher.seen and None not in watcher.seen  # never without a champion


def test_without_the_lock_racing_threads_corrupt_the_chain_and_the_checker_sees_it(
    registry, tmp_path
):
    before = prepare_race(registry, tmp_path / "setup.lock", unlocked=True)
    count = 4
    ops = race_ops(count, with_rollback=False)
    # A lock file each is no lock at all. Deterministic interleaving: every racer has read the
    # state before any alias moves, then each waits between its two moves.
    locks = [tmp_path / f"own-{i}.lock" for i in range(count)]
    results = race_in_threads(registry, ops, locks, line_up(threading.Barrier(count, timeout=30)))

    assert [type(r) for r in results] == [ChampionChange] * count, results
    assert {r.previous_version for r in results} == {"2"}  # all replaced the same champion
    problems = audit(registry, results, before)
    assert any("but the change before it made version" in p for p in problems), problems


def warm_racer(tracking_uri: str, artifact_root: str) -> None:
    """Pool initializer: MLflow's first use of a SQLite store in a process takes ~1 s."""
    ModelRegistry(
        tracking_uri=tracking_uri, artifact_root=artifact_root, model_name=MODEL
    ).check_reachable()


def process_racer(tracking_uri, artifact_root, op, lock_path, start, reads):
    """One racer in a 'spawn' worker process, with its own ModelRegistry."""
    registry = ModelRegistry(
        tracking_uri=tracking_uri, artifact_root=artifact_root, model_name=MODEL
    )
    registry.check_reachable()  # this test's store copy, before the start line
    promotion._pause = line_up(reads) if reads else widen_the_window
    start.wait()
    try:
        return run_op(registry, op, Path(lock_path)).as_dict()
    except Exception as exc:  # returned to the parent, which asserts on it
        return f"{type(exc).__name__}: {exc}"
    finally:
        promotion._pause = None


@pytest.fixture(scope="module")
def process_pool(template):
    """PROCESS_RACERS spawned worker processes, started once for the module (each imports
    mlflow and dagster: seconds), plus a manager whose barriers line them up at the start."""
    ctx = multiprocessing.get_context("spawn")
    warm = (f"sqlite:///{template['db']}", str(template["artifacts"]))
    with ctx.Manager() as manager, ctx.Pool(PROCESS_RACERS, warm_racer, warm) as pool:
        yield pool, manager


def race_in_processes(process_pool, registry, ops, lock_paths, *, line_up_reads) -> list:
    """Each op in its own worker: no worker can take a second op, because every op waits at
    the start barrier until all of them have arrived."""
    pool, manager = process_pool
    start = manager.Barrier(len(ops), timeout=60)
    reads = manager.Barrier(len(ops), timeout=60) if line_up_reads else None
    args = [
        (registry.tracking_uri, registry.artifact_root, op, str(path), start, reads)
        for op, path in zip(ops, lock_paths, strict=True)
    ]
    outcomes = pool.starmap_async(process_racer, args, chunksize=1).get(timeout=180)
    return [ChampionChange(**o) if isinstance(o, dict) else o for o in outcomes]


def test_racing_processes_leave_one_champion_and_a_consistent_chain(registry, lock, process_pool):
    before = prepare_race(registry, lock)
    watcher = ChampionWatcher(registry)
    watcher.start()
    ops = race_ops(PROCESS_RACERS, with_rollback=True)
    results = race_in_processes(
        process_pool, registry, ops, [lock] * PROCESS_RACERS, line_up_reads=False
    )
    watcher.done.set()
    watcher.join()

    assert all(isinstance(r, ChampionChange) for r in results), results
    assert audit(registry, results, before) == []
    champion, previous = aliases(registry)
    history = champion_history(registry)
    assert (champion, previous) == (history[-1]["version"], history[-1]["previous_version"])
    assert [alias for alias, _ in alias_rows(registry)] == ["champion", "previous"]
    assert watcher.seen and None not in watcher.seen


def test_without_the_lock_racing_processes_corrupt_the_chain_and_the_checker_sees_it(
    registry, tmp_path, process_pool
):
    before = prepare_race(registry, tmp_path / "setup.lock", unlocked=True)
    count = 4
    ops = race_ops(count, with_rollback=False)
    locks = [tmp_path / f"own-{i}.lock" for i in range(count)]  # one lock file per process
    results = race_in_processes(process_pool, registry, ops, locks, line_up_reads=True)

    assert all(isinstance(r, ChampionChange) for r in results), results
    assert {r.previous_version for r in results} == {"2"}
    problems = audit(registry, results, before)
    assert any("but the change before it made version" in p for p in problems), problems
