"""The ticket workflow's feature sets, versioned side by side.

Each version is one function from raw tickets (as the raw contract describes them) to the
entity keys plus model features: the same function serves training and scoring, so the two
cannot drift apart. Each version's definitions hash is pinned in `features.lock.json`; change a
version's code and the pin check fails until you add a new version beside it and run
`afterlaunch feature-lock --workflow ticket_escalation`.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from assets.feature_sets import FeatureSet, FeatureSets
from workflows.ticket_escalation.contracts import FeatureContract

CATEGORICAL = ("channel", "product", "region", "plan_tier", "priority")
NUMERIC = (
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
)

_NEGATION = r"\b(?:not|cannot|can't|won't|never|no|stopped|missing|fails?)\b"
_MONEY = r"\b(?:refund|charged?|invoice|payment|subscription|billing)\b"
_FAILURE = r"\b(?:error|crash(?:es)?|fail(?:s|ed)?|down|times? out|damaged|slow)\b"


def v1(raw: pd.DataFrame) -> pd.DataFrame:
    """Raw tickets -> ticket_id, created_at and the v1 features."""
    subject = raw["subject"].astype("str").str.lower()
    created = pd.to_datetime(raw["created_at"])
    features = pd.DataFrame(
        {
            "ticket_id": raw["ticket_id"].astype("str"),
            "created_at": created.astype("datetime64[ns]"),
            **{c: raw[c].astype("str") for c in CATEGORICAL},
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
    return features[["ticket_id", "created_at", *CATEGORICAL, *NUMERIC]].reset_index(drop=True)


FEATURE_SETS = FeatureSets(
    workflow="ticket_escalation",
    current="1",
    sets=[
        FeatureSet(
            "1",
            v1,
            categorical=CATEGORICAL,
            numeric=NUMERIC,
            contract=FeatureContract,
            description="categories, log-scaled counts and times, sentiment with a missing "
            "flag, subject keyword flags",
        )
    ],
    lock_file=Path(__file__).with_name("features.lock.json"),
)
