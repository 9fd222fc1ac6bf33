"""The rainfall workflow's feature sets, versioned side by side (pinned in
`features.lock.json`; change a version's code and run `afterlaunch feature-lock --workflow
rainfall` after adding a new version beside it)."""

from pathlib import Path

import pandas as pd

from assets.feature_sets import FeatureSet, FeatureSets
from workflows.rainfall.contracts import FeatureContract

NUMERIC = (
    "temperature",
    "dew_point",
    "sea_level_pressure",
    "visibility",
    "average_wind_speed",
    "max_sustained_wind_speed",
    "minimum_temperature",
    "maximum_temperature",
)


def v1(raw: pd.DataFrame) -> pd.DataFrame:
    """Raw days -> record_date, observed_at and the eight measurements as they are (already z-scored
    in the record; the model family scales them again on its training rows)."""
    features = pd.DataFrame(
        {
            "record_date": raw["record_date"].astype("str"),
            "observed_at": pd.to_datetime(raw["observed_at"]).astype("datetime64[ns]"),
            **{c: raw[c].astype("float64") for c in NUMERIC},
        },
        index=raw.index,
    )
    return features.reset_index(drop=True)


FEATURE_SETS = FeatureSets(
    workflow="rainfall",
    current="1",
    sets=[
        FeatureSet(
            "1",
            v1,
            categorical=(),
            numeric=NUMERIC,
            contract=FeatureContract,
            description="the day's eight z-scored measurements",
        )
    ],
    lock_file=Path(__file__).with_name("features.lock.json"),
)
