"""The ticket feature set: every feature definition, as code, in one module.

`compute_features` is the one function that turns raw tickets into model inputs, for training
and for scoring alike, so the two cannot drift apart. The feature set carries an explicit
version; the hash of this module's code (comments and formatting aside) is pinned per version
in `feature_set.lock.json`, so a definition changed without a version bump is caught.
"""

import numpy as np
import pandas as pd

FEATURE_SET_VERSION = "1"

KEY_COLUMNS = ["ticket_id", "created_at"]
CATEGORICAL_FEATURES = ["channel", "product", "region", "plan_tier", "priority"]
NUMERIC_FEATURES = [
    "log_account_age_days",
    "prior_tickets_90d",
    "log_message_length",
    "log_first_response_minutes",
    "sentiment",
    "sentiment_missing",
    "hour_of_day",
    "is_weekend",
    "subject_words",
    "subject_negation",
    "subject_money",
    "subject_failure",
]
FEATURE_COLUMNS = CATEGORICAL_FEATURES + NUMERIC_FEATURES

_NEGATION = r"\b(?:not|cannot|can't|won't|never|no|stopped|missing|fails?)\b"
_MONEY = r"\b(?:refund|charged?|invoice|payment|subscription|billing)\b"
_FAILURE = r"\b(?:error|crash(?:es)?|fail(?:s|ed)?|down|times? out|damaged|slow)\b"


def compute_features(raw: pd.DataFrame) -> pd.DataFrame:
    """Raw tickets (as the raw contract describes them) -> keys plus model features."""
    missing = [c for c in _RAW_INPUTS if c not in raw.columns]
    if missing:
        raise KeyError(f"raw tickets lack the columns the features need: {missing}")
    subject = raw["subject"].astype("str").str.lower()
    created = pd.to_datetime(raw["created_at"])
    features = pd.DataFrame(
        {
            "ticket_id": raw["ticket_id"].astype("str"),
            "created_at": created.astype("datetime64[ns]"),
            **{c: raw[c].astype("str") for c in CATEGORICAL_FEATURES},
            "log_account_age_days": np.log1p(raw["account_age_days"].astype("float64")),
            "prior_tickets_90d": raw["prior_tickets_90d"].astype("float64"),
            "log_message_length": np.log1p(raw["message_length"].astype("float64")),
            "log_first_response_minutes": np.log1p(raw["first_response_minutes"].astype("float64")),
            # A missing sentiment is information (the service failed), not a zero opinion:
            # it gets its own flag and a neutral value.
            "sentiment": raw["sentiment"].astype("float64").fillna(0.0),
            "sentiment_missing": raw["sentiment"].isna().astype("float64"),
            "hour_of_day": created.dt.hour.astype("float64"),
            "is_weekend": (created.dt.day_of_week >= 5).astype("float64"),
            "subject_words": subject.str.split().str.len().fillna(0).astype("float64"),
            "subject_negation": subject.str.contains(_NEGATION, regex=True).astype("float64"),
            "subject_money": subject.str.contains(_MONEY, regex=True).astype("float64"),
            "subject_failure": subject.str.contains(_FAILURE, regex=True).astype("float64"),
        },
        index=raw.index,
    )
    return features[KEY_COLUMNS + FEATURE_COLUMNS].reset_index(drop=True)


_RAW_INPUTS = [
    "ticket_id",
    "created_at",
    *CATEGORICAL_FEATURES,
    "account_age_days",
    "prior_tickets_90d",
    "message_length",
    "first_response_minutes",
    "sentiment",
    "subject",
]
