"""The rainfall workflow's data contracts: one row per day of the station's record."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

# The measurements are z-scores over the whole record. Ten standard deviations is beyond any
# weather this station recorded except two sea-level pressure readings of 94 (rows 3,595 and
# 3,596), a unit or entry error in the published record: the contract refuses such a day.
MAX_ABS_Z = 10.0
_Z = {"ge": -MAX_ABS_Z, "le": MAX_ABS_Z}


class RawDayContract(pa.DataFrameModel):
    """One row per day as the record gives it: the day's eight measurements."""

    record_date: Series[str] = pa.Field(unique=True)
    observed_at: Series[pd.Timestamp]
    temperature: Series[float] = pa.Field(**_Z)
    dew_point: Series[float] = pa.Field(**_Z)
    sea_level_pressure: Series[float] = pa.Field(**_Z)
    visibility: Series[float] = pa.Field(**_Z)
    average_wind_speed: Series[float] = pa.Field(**_Z)
    max_sustained_wind_speed: Series[float] = pa.Field(**_Z)
    minimum_temperature: Series[float] = pa.Field(**_Z)
    maximum_temperature: Series[float] = pa.Field(**_Z)

    class Config:
        name = "rainfall_days/1"
        strict = True
        coerce = False


class LabelContract(pa.DataFrameModel):
    """Whether it rained the day after `record_date`, and when that became known."""

    record_date: Series[str]
    rain: Series[int] = pa.Field(isin=[0, 1])
    known_at: Series[pd.Timestamp]

    class Config:
        name = "rainfall_labels/1"
        strict = True
        coerce = False


class FeatureContract(RawDayContract):
    """Feature set v1: the day's eight measurements as they came (no nulls: the raw contract
    already allows none), under the feature set's own name."""

    class Config:
        name = "rainfall_features/1"
        strict = True
        coerce = False
