"""`afterlaunch init` refuses with one sentence and writes nothing: on real SQLite tables
(and a Postgres URL nobody listens on, to show a password never reaches the sentence)."""

from __future__ import annotations

import contextlib
import importlib
import io
import shutil
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from orchestration.cli import main
from orchestration.scaffold.plan import policy_sizes, rows_per_partition
from orchestration.scaffold.workspace import append_location, listed, with_location

REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 2, 2)


def orders(n_days: int = 20, per_day: int = 60, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for day in range(n_days):
        start = START + timedelta(days=day)
        seconds = np.sort(rng.uniform(0, 86_000, per_day))
        frames.append(
            pd.DataFrame(
                {
                    "order_id": [f"O{day:03d}-{i:03d}" for i in range(per_day)],
                    "created_at": [
                        (start + timedelta(seconds=float(s))).strftime("%Y-%m-%dT%H:%M:%S")
                        for s in seconds
                    ],
                    "channel": rng.choice(["web", "app"], per_day),
                    "amount": rng.normal(50, 10, per_day),
                    "returned": rng.integers(0, 2, per_day),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('refusals') / 'shop.db'}"
    engine = sa.create_engine(url)
    good = orders()
    good.to_sql("orders", engine, index=False)
    good.assign(returned=0).to_sql("orders_one_class", engine, index=False)
    good.assign(returned=None).to_sql("orders_no_label", engine, index=False)
    good.assign(order_id="same").to_sql("orders_duplicated", engine, index=False)
    epoch = pd.to_datetime(good["created_at"]).astype("int64") // 10**9
    good.assign(created_at=epoch).to_sql("orders_epoch", engine, index=False)
    good.assign(created_at="last tuesday").to_sql("orders_words", engine, index=False)
    engine.dispose()
    return url


@pytest.fixture(autouse=True)
def search_path_kept():
    """init imports what it wrote (to pin it): leave no workflow behind for later tests of
    this process."""
    package = importlib.import_module("workflows")
    path, modules = list(package.__path__), set(sys.modules)
    yield
    package.__path__[:] = path
    for module in set(sys.modules) - modules:
        if module.startswith("workflows."):
            del sys.modules[module]


@pytest.fixture
def target(tmp_path) -> tuple[Path, Path]:
    into = tmp_path / "workflows"
    into.mkdir()
    workspace = tmp_path / "workspace.yaml"
    shutil.copy(REPO / "workspace.yaml", workspace)
    return into, workspace


def init(url: str, target, *extra: str, name: str = "shop", table: str = "orders") -> None:
    into, workspace = target
    main(
        [
            "init",
            name,
            "--source-url",
            url,
            "--table",
            table,
            "--id",
            "order_id",
            "--time",
            "created_at",
            "--label",
            "returned",
            "--into",
            str(into),
            "--workspace",
            str(workspace),
            *extra,
        ]
    )


def refused(url: str, target, *extra: str, **kwargs) -> str:
    into, workspace = target
    before = workspace.read_text()
    with pytest.raises(SystemExit) as err:
        init(url, target, *extra, **kwargs)
    assert list(into.iterdir()) == []  # nothing written, not even a scratch folder
    assert workspace.read_text() == before
    return str(err.value)


def test_a_missing_table_is_refused_naming_the_tables_there_are(url, target):
    says = refused(url, target, table="order")
    assert "--table order is not a table of sqlite:///" in says
    assert "orders, orders_duplicated" in says


def test_a_missing_column_is_refused_naming_the_columns(url, target):
    says = refused(url, target, "--label-time", "decided_at")
    assert "--label-time decided_at is not a column of table orders" in says
    assert "order_id, created_at, channel, amount, returned" in says


@pytest.mark.parametrize(
    "table, says",
    [
        ("orders_one_class", "label returned has one class (0) in 1,200 labels"),
        ("orders_no_label", "label returned has no values in the sample"),
        ("orders_duplicated", "id column order_id is not unique per event: 'same' appears 60"),
        ("orders_epoch", "time column created_at is numeric"),
        ("orders_words", "time column created_at is text that is not ISO timestamps"),
    ],
)
def test_a_table_the_engine_could_not_monitor_is_refused_saying_why(url, target, table, says):
    assert says in refused(url, target, table=table)


def test_a_binary_task_asked_of_a_measurement_is_refused(url, target):
    says = refused(url, target, "--task", "binary", "--label", "amount")
    assert "label amount holds" in says and "a binary label is 0/1" in says


@pytest.mark.parametrize("name", ["Shop", "2shop", "shop-orders", "class"])
def test_a_name_that_cannot_be_a_workflow_package_is_refused(url, target, name):
    assert "is not a workflow name" in refused(url, target, name=name)


def test_an_existing_or_listed_workflow_is_refused(url, target):
    into, workspace = target
    (into / "shop").mkdir()
    with pytest.raises(SystemExit, match="a workflow shop already exists"):
        init(url, target)
    (into / "shop").rmdir()
    assert "already listed in" in refused(url, target, name="ticket_escalation")
    # A workflow of the repository's own folder is taken too, whatever the target folder.
    shutil.copy(REPO / "workspace.yaml", workspace)
    workspace.write_text(workspace.read_text().replace("ticket_escalation", "renamed"))
    assert "a workflow ticket_escalation already exists" in refused(
        url, target, name="ticket_escalation"
    )


def test_labels_in_their_own_table_need_their_known_at_column(url, target):
    says = refused(url, target, "--label-table", "orders")
    assert "--label-table orders needs --label-time" in says


def test_a_password_in_the_url_never_reaches_the_sentence(target):
    secret = "s3cret-Passw0rd"
    says = refused(f"postgresql+psycopg2://shop:{secret}@127.0.0.1:1/shop", target)
    assert secret not in says
    assert "cannot read postgresql+psycopg2://shop:***@127.0.0.1:1/shop" in says


# --- the plan's sizes and the workspace edit, as plain functions --------------------------


def test_the_policy_is_sized_so_a_forty_partition_history_can_draw_a_test_set_and_train():
    sizes = policy_sizes(200, 1.0, "daily", 3, "binary")
    pool = 200 * 28
    eval_size = sizes["evaluation"]["eval_set_size"][0]
    min_rows = sizes["training"]["min_rows"][0]
    assert eval_size == 1500 and sizes["evaluation"]["eval_set_min_size"][0] == 500
    assert min_rows + eval_size <= pool  # what is left after the test set can train
    assert sizes["drift"]["min_rows"][0] == 100 and sizes["training"]["window_days"][0] == 28
    small = policy_sizes(40, 0.5, "weekly", 7, "regression")
    assert small["training"]["window_days"][0] == 84
    assert small["training"]["model_family"][0] == "ridge"
    assert small["evaluation"]["eval_set_size"][0] == 72  # 30% of 40 x 0.5 x 12
    assert small["drift"]["min_rows"][0] == 20
    assert "steps" not in small["rollout"]
    long_lag = policy_sizes(200, 1.0, "daily", 20, "binary")["rollout"]["steps"][0]
    assert sum(step["days"] for step in long_lag) > 20  # the canary outlasts the lag


def test_rows_per_partition_leaves_out_the_partitions_the_sample_may_cut():
    keys = pd.Series(["d1"] * 5 + ["d2"] * 100 + ["d3"] * 120 + ["d4"] * 7)
    assert rows_per_partition(keys) == 110.0


def test_the_location_is_appended_with_the_comments_kept(tmp_path):
    path = tmp_path / "workspace.yaml"
    shutil.copy(REPO / "workspace.yaml", path)
    original = path.read_text()
    append_location(path, "shop")
    text = path.read_text()
    assert text.startswith(original.rstrip("\n"))  # comments and the old entries untouched
    assert text.endswith(
        "  - python_module:\n      module_name: workflows.shop.definitions\n"
        "      location_name: shop\n"
    )
    assert listed(path, "shop") and not listed(path, "shops")
    other = "load_from:\n- python_module: {module_name: a.b, location_name: a}\n# end\nx: 1\n"
    assert "- python_module:\n    module_name: workflows.shop" in with_location(other, "shop")


# --- what init accepts --------------------------------------------------------------------


def test_column_names_that_are_not_python_names_get_an_alias_and_the_contract_holds(tmp_path):
    """The generated contract is checked against its own sample before anything is kept:
    a column named like a keyword, a pandera method or with spaces must still validate."""
    url = f"sqlite:///{tmp_path / 'odd.db'}"
    odd = orders().rename(columns={"channel": "class", "amount": "Order Amount"})
    odd["validate"] = np.where(np.arange(len(odd)) % 2 == 0, "yes", "no")
    odd["2nd score"] = np.linspace(0.0, 1.0, len(odd))
    engine = sa.create_engine(url)
    odd.to_sql("odd", engine, index=False)
    engine.dispose()
    into = tmp_path / "workflows"
    workspace = tmp_path / "workspace.yaml"
    shutil.copy(REPO / "workspace.yaml", workspace)
    init(url, (into, workspace), name="odd_names", table="odd")
    contracts = (into / "odd_names" / "contracts.py").read_text()
    assert 'class_: Series[str] = pa.Field(isin=CLASS_, alias="class")' in contracts
    assert 'alias="Order Amount"' in contracts and 'alias="2nd score"' in contracts
    assert 'validate_: Series[str] = pa.Field(isin=VALIDATE_, alias="validate")' in contracts
    assert listed(workspace, "odd_names")


def test_a_label_and_its_time_beside_the_rows_are_excluded_and_the_lag_measured(tmp_path):
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    rows = orders()
    decided = pd.to_datetime(rows["created_at"]) + pd.to_timedelta(
        np.random.default_rng(3).uniform(2.0, 6.0, len(rows)), unit="D"
    )
    rows["decided_at"] = decided.dt.strftime("%Y-%m-%dT%H:%M:%S")
    engine = sa.create_engine(url)
    rows.to_sql("orders", engine, index=False)
    engine.dispose()
    into, workspace = tmp_path / "workflows", tmp_path / "workspace.yaml"
    shutil.copy(REPO / "workspace.yaml", workspace)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        init(
            url,
            (into, workspace),
            "--label-time",
            "decided_at",
            "--partitions",
            "weekly",
            "--label-lag-days",
            "9",
            name="shop_beside",
        )
    workflow = (into / "shop_beside" / "workflow.py").read_text()
    assert 'exclude=("returned", "decided_at")' in workflow
    assert 'known_at="decided_at", max_lag_days=6' in workflow
    assert 'Partitioning("weekly", start="2026-02-02")' in workflow  # a Monday
    contracts = (into / "shop_beside" / "contracts.py").read_text()
    raw = contracts.split("class RawContract")[1].split("class LabelContract")[0]
    assert "returned" not in raw and "decided_at" not in raw
    printed = out.getvalue()
    assert "--label-lag-days is ignored" in printed
    assert "known before their row's weekly partition ended" in printed  # the leak guard's cost


def test_an_id_named_like_a_column_of_the_engines_own_frames_is_refused(url, target):
    says = refused(url, target, "--id", "score")
    assert "--id score: the engine uses that name in its own frames" in says
