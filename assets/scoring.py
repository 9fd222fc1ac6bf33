"""Scoring raw tickets with a model: the serving path, through the same feature function."""

import pandas as pd

from assets.feature_definitions import FEATURE_COLUMNS, compute_features


def score_tickets(model, raw_tickets: pd.DataFrame) -> pd.DataFrame:
    """One row per ticket: its id and the model's probability of escalation."""
    features = compute_features(raw_tickets)
    return pd.DataFrame(
        {
            "ticket_id": features["ticket_id"],
            "score": model.predict_proba(features[FEATURE_COLUMNS])[:, 1],
        }
    )
