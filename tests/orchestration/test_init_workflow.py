"""`afterlaunch init` end to end, as the README's "Monitor your own model" tells a team to do
it, on tables this test creates (not the ticket CRM):

A. a binary label in its own table with the time each became known, in a real throwaway
   Postgres, daily partitions; init in-process;
B. a regression label in the rows' own table with no known-at time (`--label-lag-days`), in
   SQLite, weekly partitions, a bounded sample (`--sample-rows`); init as a subprocess.

Each: init from the history, the printed commands typed as printed (ingest --raw-only,
reference, draw-test-set, train: the first model is judged on the gate's floors and promoted),
then new partitions arrive, one with a numeric column shifted by two standard deviations, and
are scored by the daily_production schedule's runs; the drift check errs on the shifted one
and is quiet on a clean one; then weekly and status. The generated files pass ruff, and the
generated workspace loads with `dagster definitions validate`.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from assets.names import RAW
from orchestration.catalog import definitions, load
from orchestration.cli import main
from orchestration.home import Home, SourceUrlMissing, activate, registry_for
from orchestration.jobs import WORKFLOW_TAG
from orchestration.runner import run_job
from resources.clock import SIMULATED_NOW
from resources.snapshots import SnapshotStore, snapshot_root
from tests.engine.toy import HOME_ENV

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# A: orders and whether each was returned, decided 1 to 3 days later; daily partitions.
ORDERS, RETURNS = "orders", "order_returns"
A_NAME, A_START, A_DAYS, A_NEW, A_SHIFT = "shop_returns", datetime(2026, 1, 5), 40, 4, 43
A_ROWS = 200
# B: accounts observed weekly and the revenue each turned out to have, 7 days later.
ACCOUNTS = "accounts"
B_NAME, B_START, B_WEEKS, B_NEW, B_SHIFT = "account_revenue", datetime(2026, 1, 5), 40, 3, 42
B_ROWS, B_LAG = 300, 7
PASSWORD_SHOWN = "***"


# --- the team's tables ----------------------------------------------------------------------


def _times(rng, start: datetime, seconds: int, n: int) -> list[datetime]:
    offsets = np.sort(rng.uniform(0, seconds - 300, n))
    offsets[-1] = seconds - 100  # a fresh feed: its newest row just before the period's end
    return [start + timedelta(seconds=float(s)) for s in offsets]


def orders(days: range, seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Orders of the given days (1-based) and their outcomes; on day A_SHIFT the amount is
    two standard deviations higher."""
    frames = []
    for day in days:
        rng = np.random.default_rng(seed + day)
        n = A_ROWS
        amount = rng.normal(50.0, 10.0, n) + (20.0 if day == A_SHIFT else 0.0)
        discount = rng.uniform(0.0, 0.3, n)
        missing = rng.random(n) < 0.1
        channel = rng.choice(["web", "app", "store"], n, p=[0.5, 0.3, 0.2])
        region = rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1])
        logit = (
            -0.3
            + 3.0 * (amount - 50.0) / 10.0
            + 2.0 * np.where(missing, 0.0, (discount - 0.15) / 0.087)
            + 1.0 * (channel == "store")
            - 1.0 * (region == "west")
        )
        created = _times(rng, A_START + timedelta(days=day - 1), 86_400, n)
        frames.append(
            pd.DataFrame(
                {
                    "order_id": [f"O{day:03d}-{i:04d}" for i in range(n)],
                    "created_at": created,
                    "channel": channel,
                    "region": region,
                    "amount": amount,
                    "tenure_days": rng.gamma(2.0, 60.0, n).astype("int64"),
                    "discount": np.where(missing, np.nan, discount),
                    "note": [f"gift wrap {rng.integers(10**6)}" for _ in range(n)],
                    "returned": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64"),
                    "decided_at": [
                        t + timedelta(days=float(d))
                        for t, d in zip(created, rng.uniform(1, 3, n), strict=True)
                    ],
                }
            )
        )
    rows = pd.concat(frames, ignore_index=True)
    return rows.drop(columns=["returned", "decided_at"]), rows[
        ["order_id", "returned", "decided_at"]
    ]


PRICE = {"basic": 50.0, "pro": 120.0, "enterprise": 300.0}


def accounts(weeks: int, known_by: datetime, seed: int = 5) -> pd.DataFrame:
    """Accounts of weeks 1..weeks, revenue NULL until 7 days after each row (by `known_by`);
    in week B_SHIFT usage is two standard deviations higher. Times stored as ISO text."""
    frames = []
    for week in range(1, weeks + 1):
        rng = np.random.default_rng(seed + week)
        n = B_ROWS
        usage = rng.gamma(4.0, 5.0, n) + (20.0 if week == B_SHIFT else 0.0)
        plan = rng.choice(list(PRICE), n, p=[0.5, 0.35, 0.15])
        seats = rng.integers(1, 60, n)
        observed = _times(rng, B_START + timedelta(weeks=week - 1), 7 * 86_400, n)
        revenue = pd.Series(plan).map(PRICE) + 2.0 * seats + 3.0 * usage + rng.normal(0, 8, n)
        known = np.array([t + timedelta(days=B_LAG) <= known_by for t in observed])
        frames.append(
            pd.DataFrame(
                {
                    "account_id": [f"A{week:02d}-{i:04d}" for i in range(n)],
                    "observed_at": [t.strftime("%Y-%m-%dT%H:%M:%S") for t in observed],
                    "plan": plan,
                    "region": rng.choice(["north", "south"], n),
                    "seats": seats,
                    "usage": usage,
                    "nps": np.where(
                        rng.random(n) < 0.1, np.nan, np.clip(rng.normal(7, 2, n), 0, 10)
                    ),
                    "comment": [f"call back {rng.integers(10**6)}" for _ in range(n)],
                    "revenue": np.where(known, revenue, np.nan),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def write(url: str, table: str, frame: pd.DataFrame, if_exists: str = "append") -> None:
    engine = sa.create_engine(url)
    try:
        frame.to_sql(table, engine, if_exists=if_exists, index=False)
    finally:
        engine.dispose()


# --- running what a user types ----------------------------------------------------------------


def at(moment: datetime) -> None:
    os.environ[SIMULATED_NOW] = moment.replace(tzinfo=UTC).isoformat()


def afterlaunch(*argv: str) -> tuple[int, str]:
    """One command in this process, as `afterlaunch ...` runs it; its exit code and output."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = main(list(argv))
        except SystemExit as err:  # a refusal: its sentence is the output
            code, out = 1, io.StringIO(str(err))
    return code, out.getvalue()


def typed(printed: str, home: Path) -> list[list[str]]:
    """The printed `afterlaunch ...` commands, as a user would type them, on this home."""
    commands = []
    for line in printed.splitlines():
        words = line.split("#")[0].split()
        if words[:1] == ["afterlaunch"] and words[1] not in ("ui",):
            commands.append([*words[1:], "--home", str(home)])
    return commands


def export_line(printed: str) -> str:
    return next(line.strip() for line in printed.splitlines() if "_SOURCE_URL=" in line)


def production(wf, partitions: list[str], end_of, hours: int = 2) -> dict:
    """Each partition as the daily_production schedule runs it: the tick at its hour after
    the partition ends asks for the partition, and the run it asks for is executed."""
    defs = definitions(wf)
    instance = dg.DagsterInstance.get()
    schedule = defs.get_schedule_def("daily_production_schedule")
    outcomes = {}
    for key in partitions:
        tick = end_of(key) + timedelta(hours=hours)
        at(tick)
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick.replace(tzinfo=UTC),
            repository_def=defs.get_repository_def(),
        )
        (request,) = schedule.evaluate_tick(context).run_requests
        assert request.partition_key == key
        outcomes[key] = run_job(
            defs, instance, "daily_production", key, tags=dict(request.tags or {})
        )
    return outcomes


def checks_of(outcome) -> dict[str, str]:
    return {c.check: c.level for c in outcome.checks}


# --- the deployment -------------------------------------------------------------------------


@contextlib.contextmanager
def isolated():
    """Put back everything this module changes in a process other tests share: the
    environment, the workflows' search path and the imported workflow modules."""
    environ = dict(os.environ)
    package = importlib.import_module("workflows")
    path, modules = list(package.__path__), set(sys.modules)
    try:
        for name in (*HOME_ENV, "AFTERLAUNCH_WORKFLOW", "AFTERLAUNCH_WORKFLOW_PATH"):
            os.environ.pop(name, None)
        os.environ["AFTERLAUNCH_ALERT_WEBHOOK"] = ""
        os.environ["AFTERLAUNCH_DAGSTER_URL"] = os.environ["AFTERLAUNCH_MLFLOW_URL"] = ""
        yield
    finally:
        os.environ.clear()
        os.environ.update(environ)
        package.__path__[:] = path
        for module in set(sys.modules) - modules:
            if module.startswith("workflows."):
                del sys.modules[module]


@pytest.fixture(scope="module")
def world(tmp_path_factory, postgres_cluster):
    with isolated():
        yield _world(tmp_path_factory.mktemp("own-model"), postgres_cluster)


def validation(workspace: Path, into: Path, scratch: Path) -> subprocess.Popen:
    """`dagster definitions validate` on the workspace, as `make validate` runs it (started in
    the background: it needs nothing the runs change)."""
    scratch.mkdir()
    (scratch / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(scratch),
        "AFTERLAUNCH_HOME": str(scratch),
        "AFTERLAUNCH_SOURCE_URL": "sqlite://",
        "AFTERLAUNCH_WORKFLOW_PATH": str(into),
    }
    command = [str(BIN / "dagster"), "definitions", "validate", "-w", str(workspace)]
    return subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _world(root: Path, postgres_cluster) -> dict:
    home, into = root / "home", root / "workflows"
    into.mkdir()
    workspace = root / "workspace.yaml"
    shutil.copy(REPO / "workspace.yaml", workspace)
    os.environ["AFTERLAUNCH_WORKFLOW_PATH"] = str(into)
    found: dict = {"home": home, "into": into, "workspace": workspace, "printed": {}}

    # A: the history in Postgres, then init at 01:00 after its last day.
    url_a = postgres_cluster.create_database("init_shop").url
    rows, labels = orders(range(1, A_DAYS + 1))
    a_init = A_START + timedelta(days=A_DAYS, hours=1)
    write(url_a, ORDERS, rows)
    write(url_a, RETURNS, labels[labels["decided_at"] <= a_init])
    at(a_init)
    code, printed = afterlaunch(
        "init", A_NAME, "--source-url", url_a, "--table", ORDERS, "--id", "order_id",
        "--time", "created_at", "--label", "returned", "--label-table", RETURNS,
        "--label-time", "decided_at", "--owner", "shop data team",
        "--into", str(into), "--workspace", str(workspace),
    )  # fmt: skip
    assert code == 0, printed
    found["printed"][A_NAME] = printed
    found["url_a"] = url_a

    # B: SQLite, the label beside the rows, no known-at time; init as a subprocess, while
    # A's history is ingested.
    url_b = f"sqlite:///{root / 'crm.db'}"
    b_init = B_START + timedelta(weeks=B_WEEKS, hours=1)
    write(url_b, ACCOUNTS, accounts(B_WEEKS, known_by=b_init), if_exists="replace")
    env = {**os.environ, SIMULATED_NOW: b_init.replace(tzinfo=UTC).isoformat()}
    command = [
        str(BIN / "afterlaunch"), "init", B_NAME, "--source-url", url_b, "--table", ACCOUNTS,
        "--id", "account_id", "--time", "observed_at", "--label", "revenue",
        "--label-lag-days", str(B_LAG), "--partitions", "weekly", "--start",
        B_START.date().isoformat(), "--sample-rows", "5000", "--into", str(into),
        "--workspace", str(workspace),
    ]  # fmt: skip
    init_b = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )

    variable = export_line(printed).split("=")[0].removeprefix("export ")
    os.environ[variable] = url_a  # the real URL, password and all, as the user exports it
    found["history"] = {A_NAME: [afterlaunch(*c) for c in typed(printed, home)[:4]]}

    out, err = init_b.communicate(timeout=120)
    assert init_b.returncode == 0, err
    found["printed"][B_NAME] = out
    validate = validation(workspace, into, root / "validate")

    # A: new days arrive, with the outcomes known by the end of the last one.
    new_rows, _ = orders(range(A_DAYS + 1, A_DAYS + A_NEW + 1))
    write(url_a, ORDERS, new_rows)
    final = A_START + timedelta(days=A_DAYS + A_NEW, hours=3)
    _, every_label = orders(range(1, A_DAYS + A_NEW + 1))
    late = every_label[(every_label["decided_at"] > a_init) & (every_label["decided_at"] <= final)]
    write(url_a, RETURNS, late)
    wf_a = load(A_NAME)
    days = [(A_START + timedelta(days=d - 1)).date().isoformat() for d in range(41, 45)]
    found["production"] = {A_NAME: production(wf_a, days, wf_a.partitions.end_of)}
    at(final)
    found["ingest_shifted"] = afterlaunch(
        "ingest", "--workflow", A_NAME, "--home", str(home), "--start", days[A_SHIFT - 41]
    )
    found["after"] = {A_NAME: [afterlaunch(*c) for c in typed(printed, home)[4:]]}

    # B: the printed commands, then new weeks with the revenue known by the last one's end.
    os.environ[export_line(out).split("=")[0].removeprefix("export ")] = url_b
    at(b_init)
    found["history"][B_NAME] = [afterlaunch(*c) for c in typed(out, home)[:4]]
    final = B_START + timedelta(weeks=B_WEEKS + B_NEW, hours=3)
    write(url_b, ACCOUNTS, accounts(B_WEEKS + B_NEW, known_by=final), if_exists="replace")
    wf_b = load(B_NAME)
    weeks = [(B_START + timedelta(weeks=w - 1)).date().isoformat() for w in range(41, 44)]
    found["production"][B_NAME] = production(wf_b, weeks, wf_b.partitions.end_of)
    at(final)
    found["after"][B_NAME] = [afterlaunch(*c) for c in typed(out, home)[4:]]
    found["wf"] = {A_NAME: wf_a, B_NAME: wf_b}
    found["days"], found["weeks"] = days, weeks
    found["home_obj"] = Home(home)
    found["validate"] = (validate.communicate(timeout=180)[0], validate.returncode)
    return found


# --- what init wrote and printed ------------------------------------------------------------


def test_init_prints_the_variable_to_export_with_the_password_masked(world):
    printed = world["printed"][A_NAME]
    line = export_line(printed)
    assert line.startswith("export AFTERLAUNCH_SHOP_RETURNS_SOURCE_URL='postgresql+psycopg2://")
    assert PASSWORD_SHOWN in line
    password = sa.make_url(world["url_a"]).password
    assert password and password not in printed
    for name in (A_NAME, B_NAME):
        assert f"afterlaunch status --workflow {name}" in world["printed"][name]
        written = "".join(p.read_text() for p in (world["into"] / name).iterdir() if p.is_file())
        assert password not in written


def test_the_contract_says_what_each_rule_was_inferred_from(world):
    contracts = (world["into"] / A_NAME / "contracts.py").read_text()
    assert contracts.count("# review:") >= 8
    assert 'CHANNEL = ["app", "store", "web"]' in contracts
    assert 'REGION = ["east", "north", "south", "west"]' in contracts
    assert "order_id: Series[str] = pa.Field(unique=True)" in contracts
    assert "discount: Series[float] = pa.Field(ge=0.0, le=" in contracts
    assert "nullable=True" in contracts.split("discount: ")[1].split("\n")[0]
    assert "note: Series[str]\n" in contracts  # free text: typed, no list, not a feature
    assert "returned: Series[int] = pa.Field(isin=[0, 1])" in contracts
    features = (world["into"] / A_NAME / "features.py").read_text()
    assert '"note"' not in features and '"discount_missing"' in features
    wf = world["wf"][A_NAME]
    assert wf.feature_sets.pin("1").ok
    assert wf.contracts.categorical_columns == ["channel", "region"]
    assert "order_id" not in wf.contracts.numeric_columns


def test_the_lag_is_measured_from_the_label_time_or_assumed_and_marked(world):
    workflow_a = (world["into"] / A_NAME / "workflow.py").read_text()
    assert 'known_at="decided_at", max_lag_days=3' in workflow_a
    assert "99% of" in workflow_a and "rounded up" in workflow_a
    workflow_b = (world["into"] / B_NAME / "workflow.py").read_text()
    assert f"known_at=None, max_lag_days={B_LAG}" in workflow_b
    assert "# review: max_lag_days: assumed, not measured" in workflow_b
    assert 'exclude=("revenue",)' in workflow_b
    assert (
        "ASSUMED: a revenue is known 7 day(s) after its row's observed_at"
        in (world["printed"][B_NAME])
    )
    policy = (world["into"] / A_NAME / "policy.yaml").read_text()
    assert "The label lag, 3 day(s)" in policy and "lives in workflow.py" in policy
    wf_b = world["wf"][B_NAME]
    assert wf_b.task.kind == "regression" and wf_b.partitions.cadence == "weekly"
    assert 15 <= wf_b.task.tolerance <= 40  # a quarter of the revenue's sd


def test_the_workspace_lists_both_locations_with_its_comments_kept(world):
    text = world["workspace"].read_text()
    assert text.startswith((REPO / "workspace.yaml").read_text().rstrip("\n"))
    for name in (A_NAME, B_NAME):
        assert f"module_name: workflows.{name}.definitions\n      location_name: {name}" in text


def test_the_generated_files_pass_the_projects_lint(world):
    config = ["--config", str(REPO / "pyproject.toml")]
    folders = [str(world["into"] / n) for n in (A_NAME, B_NAME)]
    for command in (["check", *config], ["format", "--check", *config]):
        done = subprocess.run(
            [str(BIN / "ruff"), *command, *folders], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_generated_workspace_loads_as_the_webserver_would(world):
    output, code = world["validate"]
    assert code == 0, output[-3000:]
    for name in (A_NAME, B_NAME):
        assert f"Validation successful for code location {name}" in output


# --- the history, the first model, production ---------------------------------------------


@pytest.mark.parametrize("name", [A_NAME, B_NAME])
def test_the_printed_commands_ingest_the_history_and_promote_a_first_model(world, name):
    ingest, reference, test_set, train = world["history"][name]
    assert ingest[0] == 0, ingest[1]
    assert reference[0] == 0, reference[1]
    assert test_set[0] == 0 and "eval_test_set_pinned     OK" in test_set[1], test_set[1]
    assert train[0] == 0, train[1]
    assert "promote: first model, floors cleared" in train[1]
    registry = registry_for(world["home_obj"], world["wf"][name])
    assert registry.version_for_alias("champion") == "1"


def test_a_label_beside_the_rows_never_reaches_the_raw_snapshots(world):
    store = SnapshotStore(snapshot_root(world["home"], B_NAME))
    raw = store.read(RAW, world["weeks"][0])
    assert "revenue" not in raw.columns and "usage" in raw.columns
    labels = store.read("labels", world["weeks"][0])
    assert len(labels) == B_ROWS  # the week before's revenue, known 7 days after each row
    rows = store.read(RAW, (B_START + timedelta(weeks=B_WEEKS - 1)).date().isoformat())
    joined = labels.merge(rows, on="account_id")
    assert len(joined) == B_ROWS
    assert (joined["known_at"] - joined["observed_at"] == pd.Timedelta(days=B_LAG)).all()
    a_raw = SnapshotStore(snapshot_root(world["home"], A_NAME)).read(RAW, world["days"][0])
    assert not {"returned", "decided_at"} & set(a_raw.columns)


@pytest.mark.parametrize(
    "name, clean, shifted", [(A_NAME, 0, A_SHIFT - 41), (B_NAME, 0, B_SHIFT - 41)]
)
def test_new_partitions_are_scored_and_the_shift_is_caught_on_its_partition(
    world, name, clean, shifted
):
    keys = world["days"] if name == A_NAME else world["weeks"]
    outcomes = world["production"][name]
    for outcome in outcomes.values():
        assert checks_of(outcome)["raw_contract"] == "ok", outcome.checks
        assert outcome.success, outcome.step_errors
    assert checks_of(outcomes[keys[clean]])["drift"] == "ok"
    assert checks_of(outcomes[keys[shifted]])["drift"] == "error"
    store = SnapshotStore(snapshot_root(world["home"], name))
    scored = store.read("predictions", keys[clean])
    assert len(scored) == (A_ROWS if name == A_NAME else B_ROWS)
    assert set(scored["model_version"]) == {"1"}


def test_ingest_by_hand_names_the_drifted_column(world):
    code, printed = world["ingest_shifted"]
    assert code == 0
    drift = [line for line in printed.splitlines() if " drift " in line]
    assert drift and "ERROR" in drift[0] and "amount" in drift[0], printed


@pytest.mark.parametrize("name", [A_NAME, B_NAME])
def test_weekly_and_status_answer_for_the_new_workflow(world, name):
    ingest, weekly, status = world["after"][name]
    assert ingest[0] == 0, ingest[1]
    # `ingest --score` ran the whole production day again, as the schedule had.
    key = (world["days"] if name == A_NAME else world["weeks"])[0]
    tags = {WORKFLOW_TAG: name, "dagster/partition": key}
    runs = dg.DagsterInstance.get().get_runs(
        filters=dg.RunsFilter(job_name="daily_production", tags=tags)
    )
    assert len(runs) == 2 and all(r.is_success for r in runs)
    assert weekly[0] == 0 and "weekly_task_success" in weekly[1], weekly[1]
    assert status[0] == 0 and "readiness on" in status[1], status[1]


# --- the source URL comes from the environment only ----------------------------------------


def test_a_missing_source_variable_is_refused_by_commands_and_only_warned_by_the_ui(
    world, monkeypatch, caplog
):
    wf = world["wf"][B_NAME]
    monkeypatch.delenv(wf.source.url_env)
    with pytest.raises(SourceUrlMissing, match=f"\\${wf.source.url_env}, which is not set"):
        activate(world["home_obj"], wf)
    code, said = afterlaunch("status", "--workflow", B_NAME, "--home", str(world["home"]))
    assert code == 1 and wf.source.url_env in said
    started = []
    monkeypatch.setattr(os, "execvpe", lambda *command: started.append(command))
    with caplog.at_level(logging.WARNING, logger="afterlaunch"):
        assert main(["ui", "--home", str(world["home"])]) == 0
    assert started and any(wf.source.url_env in r.getMessage() for r in caplog.records)
