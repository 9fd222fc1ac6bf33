"""Training sets from labelled features: plain functions shared by training and reproduction."""

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from assets.feature_definitions import FEATURE_COLUMNS, KEY_COLUMNS
from assets.model_family import build_model
from checks.labels import clean_labels

LABEL = "escalated"
SPLIT = "split"


def assemble_training_set(
    features: Mapping[str, pd.DataFrame],
    labels: Mapping[str, pd.DataFrame],
    validation_fraction: float,
    exclude_ticket_ids: frozenset[str] = frozenset(),
) -> tuple[pd.DataFrame, dict]:
    """Join feature partitions with the labels that arrived for their tickets.

    Rows are ordered by time and the newest `validation_fraction` is held out, so validation
    imitates the future the model will meet. Tickets in `exclude_ticket_ids` (the evaluation
    test set) never enter training. Returns the set and counts of what was left out.
    """
    feature_rows = pd.concat([features[k] for k in sorted(features)], ignore_index=True)
    held_out = feature_rows["ticket_id"].isin(exclude_ticket_ids)
    feature_rows = feature_rows[~held_out].reset_index(drop=True)
    label_rows = pd.concat([labels[k] for k in sorted(labels)], ignore_index=True)
    usable, dropped = clean_labels(
        label_rows, set(feature_rows["ticket_id"]), earlier_labelled_ids=set()
    )
    joined = feature_rows.merge(usable[["ticket_id", LABEL]], on="ticket_id", how="inner")
    joined = joined.sort_values(["created_at", "ticket_id"], kind="stable").reset_index(drop=True)
    cut = int(np.floor(len(joined) * (1.0 - validation_fraction)))
    joined[SPLIT] = np.where(np.arange(len(joined)) < cut, "train", "validation")
    joined[LABEL] = joined[LABEL].astype("int64")
    counts = {
        "feature_rows": int(len(feature_rows)),
        "held_out_for_evaluation": int(held_out.sum()),
        "labelled_rows": int(len(joined)),
        "unlabelled_rows": int(len(feature_rows) - len(joined)),
        "labels_dropped": {k: int(v) for k, v in dropped.items()},
    }
    return joined[KEY_COLUMNS + FEATURE_COLUMNS + [LABEL, SPLIT]], counts


def train_model(training_set: pd.DataFrame, family: str, hyperparameters: dict, seed: int):
    train = training_set[training_set[SPLIT] == "train"]
    if train[LABEL].nunique() < 2:
        raise ValueError(f"the training split holds one class only ({len(train)} rows)")
    model = build_model(family, hyperparameters, seed)
    model.fit(train[FEATURE_COLUMNS], train[LABEL])
    return model


def validation_metrics(model, training_set: pd.DataFrame) -> dict[str, float]:
    validation = training_set[training_set[SPLIT] == "validation"]
    y = validation[LABEL].to_numpy()
    p = model.predict_proba(validation[FEATURE_COLUMNS])[:, 1]
    return {
        "validation_roc_auc": float(roc_auc_score(y, p)),
        "validation_log_loss": float(log_loss(y, p, labels=[0, 1])),
        "validation_brier": float(brier_score_loss(y, p)),
        "validation_positive_rate": float(y.mean()),
        "validation_rows": float(len(validation)),
        "train_rows": float((training_set[SPLIT] == "train").sum()),
    }
