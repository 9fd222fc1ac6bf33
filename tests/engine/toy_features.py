"""Feature sets of the toy workflow, in a module of their own (a feature set's hash is taken
from its source). v2 changes one definition: usage enters as its square root."""

import numpy as np
import pandas as pd

CATEGORICAL = ("plan", "region")


def v1(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": raw["account_id"].astype("str"),
            "observed_at": pd.to_datetime(raw["observed_at"]).astype("datetime64[ns]"),
            "plan": raw["plan"].astype("str"),
            "region": raw["region"].astype("str"),
            "seats": raw["seats"].astype("float64"),
            "usage": raw["usage_hours"].astype("float64"),
        }
    ).reset_index(drop=True)


def v2(raw: pd.DataFrame) -> pd.DataFrame:
    out = v1(raw)
    out["usage"] = np.sqrt(raw["usage_hours"].astype("float64").to_numpy())
    return out
