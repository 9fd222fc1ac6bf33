"""A small regression workflow built inside the tests: the engine must serve it without
knowing anything of it. Accounts observed weekly (`account_id`, `observed_at`), their revenue
(`revenue`) known 15 days later, one event-time table in SQLite, weekly partitions."""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
import sqlalchemy as sa
import yaml
from pandera.typing import Series

from assets.feature_sets import FeatureSet, FeatureSets
from assets.model_family import REGRESSORS
from assets.partitions import Partitioning
from assets.workflow import Contracts, Entity, Fallback, Label, Owners, Slice, Source, Workflow
from checks.tasks import Regression
from tests.engine import toy_features

START = datetime(2026, 1, 5)  # a Monday: weekly partitions start on Mondays
LAG_DAYS = 15
ROWS_PER_WEEK = 400
PLANS = ["basic", "pro", "enterprise"]
REGIONS = ["north", "south"]
SOURCE_ENV = "TOY_SOURCE_URL"


class AccountContract(pa.DataFrameModel):
    account_id: Series[str] = pa.Field(unique=True)
    observed_at: Series[pd.Timestamp]
    plan: Series[str] = pa.Field(isin=PLANS)
    region: Series[str] = pa.Field(isin=REGIONS)
    seats: Series[int] = pa.Field(ge=1, le=1000)
    usage_hours: Series[float] = pa.Field(ge=0)

    class Config:
        name = "toy_accounts/1"
        strict = True
        coerce = False


class RevenueContract(pa.DataFrameModel):
    account_id: Series[str]
    revenue: Series[float]
    known_at: Series[pd.Timestamp]

    class Config:
        name = "toy_revenue/1"
        strict = True
        coerce = False


POLICY = {
    "version": "toy-1",
    "training": {
        "window_days": 28,
        "min_rows": 200,
        "model_family": "ridge",
        # Shrunk far too hard on purpose: the launch model underfits, so a retrained one can
        # be shown better by the gate.
        "hyperparameters": {"alpha": 3000.0},
    },
    "evaluation": {"eval_set_size": 300, "eval_set_min_size": 100, "bootstrap_resamples": 200},
    "gate": {"min_slice_size": 20},
    "drift": {"reference_window_days": 28, "min_reference_days": 14, "min_rows": 50},
    "volume": {"history_weeks": 2},
    "rollout": {
        "shadow_days": 1,
        "steps": [{"fraction": 0.5, "days": 8}, {"fraction": 1.0, "days": 8}],
        "min_labelled_rows": 50,
        "min_scored_rows": 50,
    },
}


def feature_sets(folder: Path, versions=("1",), current: str = "1") -> FeatureSets:
    made = {
        "1": FeatureSet("1", toy_features.v1, toy_features.CATEGORICAL, ("seats", "usage")),
        "2": FeatureSet("2", toy_features.v2, toy_features.CATEGORICAL, ("seats", "usage")),
    }
    sets = FeatureSets(
        workflow="toy_revenue",
        current=current,
        sets=[made[v] for v in versions],
        lock_file=folder / "features.lock.json",
    )
    sets.pin_all_current()
    return sets


def workflow(
    folder: Path, versions=("1",), current: str = "1", policy: dict | None = None
) -> Workflow:
    """The toy workflow; its lock file and policy.yaml live in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    policy_file = folder / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy or POLICY))
    return Workflow(
        name="toy_revenue",
        owners=Owners("toy data engineer", "toy model owner", "toy finance lead"),
        partitions=Partitioning("weekly", start=START.date().isoformat()),
        source=Source(
            layout="event_time", table="accounts", labels_table="revenue", url_env=SOURCE_ENV
        ),
        entity=Entity(id="account_id", event_time="observed_at"),
        label=Label(column="revenue", known_at="known_at", max_lag_days=LAG_DAYS),
        contracts=Contracts(raw=AccountContract, labels=RevenueContract),
        feature_sets=feature_sets(folder, versions, current),
        task=Regression(tolerance=15.0),
        model_families=REGRESSORS,
        slices=(Slice("enterprise", "enterprise plans", lambda df: df["plan"] == "enterprise"),),
        fallback=Fallback("the plan's list price", lambda df: df["plan"].map(PRICE).to_numpy()),
        segments=("plan",),
        policy_file=policy_file,
    )


PRICE = {"basic": 50.0, "pro": 120.0, "enterprise": 300.0}


def accounts(weeks: int, seed: int = 3, shift_week: int | None = None) -> pd.DataFrame:
    """`weeks` weeks of accounts, with the revenue each will turn out to have. In
    `shift_week` (1-based) usage triples: a drift the profile check must see."""
    rng = np.random.default_rng(seed)
    frames = []
    for week in range(weeks):
        n = ROWS_PER_WEEK
        start = START + timedelta(weeks=week)
        seconds = np.sort(rng.uniform(0, 7 * 86400 - 60, n))
        seconds[-1] = 7 * 86400 - 120  # the feed is fresh: its newest row just before the end
        usage = rng.gamma(2.0, 20.0, n) * (3.0 if shift_week == week + 1 else 1.0)
        frame = pd.DataFrame(
            {
                "account_id": [f"A{week:02d}-{i:04d}" for i in range(n)],
                "observed_at": [start + timedelta(seconds=float(s)) for s in seconds],
                "plan": rng.choice(PLANS, n, p=[0.5, 0.35, 0.15]),
                "region": rng.choice(REGIONS, n),
                "seats": rng.integers(1, 60, n),
                "usage_hours": usage,
            }
        )
        base = frame["plan"].map(PRICE).to_numpy()
        frame["revenue"] = (
            base + 2.0 * frame["seats"] + 12.0 * np.sqrt(usage) + rng.normal(0, 6.0, n)
        )
        frame["known_at"] = frame["observed_at"] + pd.to_timedelta(
            rng.uniform(LAG_DAYS - 3, LAG_DAYS, n), unit="D"
        )
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def write_source(url: str, rows: pd.DataFrame) -> None:
    """One table of accounts and one of revenue, times stored as ISO text (naive UTC)."""
    iso = "%Y-%m-%dT%H:%M:%S"
    table = rows.drop(columns=["revenue", "known_at"]).assign(
        observed_at=rows["observed_at"].dt.strftime(iso)
    )
    labels = rows[["account_id", "revenue", "known_at"]].assign(
        known_at=rows["known_at"].dt.strftime(iso)
    )
    engine = sa.create_engine(url)
    try:
        table.to_sql("accounts", engine, if_exists="replace", index=False)
        labels.to_sql("revenue", engine, if_exists="replace", index=False)
    finally:
        engine.dispose()


def week(number: int) -> str:
    """The partition key of week `number` (1-based)."""
    return (START + timedelta(weeks=number - 1)).date().isoformat()


HOME_ENV = (
    "DAGSTER_HOME",
    "AFTERLAUNCH_HOME",
    "AFTERLAUNCH_SOURCE_URL",
    "AFTERLAUNCH_MLFLOW_URI",
    "AFTERLAUNCH_MLFLOW_ARTIFACTS",
    "AFTERLAUNCH_NOW",
    SOURCE_ENV,
)


@contextmanager
def fresh_env():
    """A home's environment that starts empty and is put back after: `activate` keeps URLs
    already set (a deployment's), so a test's home must not inherit another test's. The toy
    has no simulator, so its source URL is set as a deployment's would be: a SQLite file of
    this context's own."""
    patch = pytest.MonkeyPatch()
    for name in HOME_ENV:
        patch.delenv(name, raising=False)
    patch.setenv("AFTERLAUNCH_ALERT_WEBHOOK", "")
    patch.setenv("AFTERLAUNCH_DAGSTER_URL", "")
    patch.setenv("AFTERLAUNCH_MLFLOW_URL", "")
    folder = tempfile.mkdtemp(prefix="toy-source-")
    patch.setenv(SOURCE_ENV, f"sqlite:///{Path(folder) / 'source.db'}")
    try:
        yield
    finally:
        patch.undo()
        shutil.rmtree(folder, ignore_errors=True)
