"""Labelled rows for training, evaluation and the weekly check: the point-in-time join.

A label is joined to a row only when it became known AFTER the row's snapshot was taken (the
partition's end) and no later than the cut-off. The first rule stops a leak: a row snapshotted
after its outcome was known may carry the outcome in its values (a closed account, a final
status). The second keeps training reproducible: labels that arrived after the cut-off did not
exist when the model was trained. An entity snapshotted in several partitions gives one
labelled row per snapshot that precedes its label.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from dagster import Failure

from assets.feature_sets import FeatureSet
from assets.model_family import family
from assets.names import LABELS
from assets.workflow import Workflow
from checks.labels import LabelSchema, clean_labels, known_between

SPLIT = "split"
SNAPSHOT_AT = "_snapshot_at"


def assemble_labelled(
    raw: Mapping[str, pd.DataFrame],
    snapshot_at: Mapping[str, datetime],
    labels: pd.DataFrame,
    schema: LabelSchema,
    event_time: str,
    cutoff: datetime | None,
    validation_fraction: float = 0.0,
    exclude_ids: frozenset[str] = frozenset(),
    final_at_event_time: bool = False,
) -> tuple[pd.DataFrame, dict]:
    """Raw rows of the given partitions joined point-in-time with their labels.

    `snapshot_at[key]`: when partition `key`'s snapshot was taken; `cutoff`: the newest
    known-at a label may have (None: no limit). Rows are ordered by event time then id and the
    newest `validation_fraction` is marked `validation` in the SPLIT column. Entities in
    `exclude_ids` (the evaluation test set) never enter. `final_at_event_time`: rows never
    change after their event (measurements), so each row counts as snapshotted at its own event
    time and a label known before its partition ended still joins it. Returns the rows (raw
    columns, the label, SPLIT) and counts of what was left out.
    """
    frames = [raw[k].assign(**{SNAPSHOT_AT: snapshot_at[k]}) for k in sorted(raw) if len(raw[k])]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if rows.empty:
        return rows, {"rows": 0, "labelled_rows": 0}
    if final_at_event_time:
        rows[SNAPSHOT_AT] = pd.to_datetime(rows[event_time])
    rows[schema.id] = rows[schema.id].astype("str")
    held_out = rows[schema.id].isin(exclude_ids)
    rows = rows[~held_out].reset_index(drop=True)
    usable, dropped = clean_labels(labels, set(rows[schema.id]), set(), schema)
    usable = usable.assign(**{schema.id: usable[schema.id].astype("str")})
    joined = rows.merge(usable[[schema.id, schema.label, schema.known_at]], on=schema.id)
    before_snapshot = ~known_between(joined, schema.known_at, joined[SNAPSHOT_AT], None)
    after_cutoff = ~known_between(joined, schema.known_at, None, cutoff) & ~before_snapshot
    joined = joined[~(before_snapshot | after_cutoff)]
    joined = joined.sort_values([event_time, schema.id], kind="stable").reset_index(drop=True)
    cut = int(np.floor(len(joined) * (1.0 - validation_fraction)))
    joined[SPLIT] = np.where(np.arange(len(joined)) < cut, "train", "validation")
    counts = {
        "rows": int(len(rows)),
        "held_out_for_evaluation": int(held_out.sum()),
        "labelled_rows": int(len(joined)),
        "unlabelled_rows": int(len(rows) - rows[schema.id].isin(usable[schema.id]).sum()),
        "labels_dropped": {k: int(v) for k, v in dropped.items()},
        "labels_known_before_snapshot": int(before_snapshot.sum()),
        "labels_known_after_cutoff": int(after_cutoff.sum()),
    }
    return joined.drop(columns=[SNAPSHOT_AT, schema.known_at]), counts


def window_keys(
    wf: Workflow, labels_until: str, window_days: int, start: str | None = None
) -> tuple[list[str], list[str], datetime]:
    """For labels known by the end of partition `labels_until`: the row partitions whose
    labels have all had time to arrive (ended at least the label lag before the cut-off; as
    many whole partitions as cover `window_days`; none before `start`), the label partitions
    to read, and the cut-off itself."""
    parts = wf.partitions
    cutoff = parts.end_of(labels_until)
    last_end = cutoff - timedelta(days=wf.label.max_lag_days)
    last = parts.key_at(last_end)
    while parts.end_of(last) > last_end:
        last = parts.shift(last, -1)
    n = parts.periods_for_days(window_days)
    keys = [parts.shift(last, -i) for i in range(n - 1, -1, -1)]
    keys = [k for k in keys if k >= parts.start and (start is None or k >= start)]
    if not keys:
        raise Failure(
            f"no {wf.name} partition from {start or parts.start} to {last} has had the label "
            f"lag ({wf.label.max_lag_days} days) for its labels to arrive by {labels_until}"
        )
    label_keys = parts.keys_between(parts.start_of(keys[0]), cutoff - timedelta(seconds=1))
    return keys, label_keys, cutoff


def read_window(store, wf: Workflow, raw: dict[str, pd.DataFrame], label_keys: list[str]):
    """For the raw snapshots of a window: when each was taken, and the stored labels of the
    given label partitions in one frame (partitions never stored are left out; the caller
    decides first what a partition stored once and deleted since means, see
    `assets.training.labelled_window`)."""
    have_labels = set(store.partitions(LABELS))
    frames = [store.read(LABELS, k) for k in label_keys if k in have_labels]
    frames = [f for f in frames if len(f)]
    schema_cols = [wf.entity.id, wf.label.column, wf.label.known_at_column]
    labels = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame({c: pd.Series(dtype="object") for c in schema_cols})
    )
    snapshot_at = {k: wf.partitions.end_of(k) for k in raw}
    return snapshot_at, labels


def training_frame(wf: Workflow, fs: FeatureSet, labelled: pd.DataFrame) -> pd.DataFrame:
    """Features of a feature set beside the label and split (or the label alone)."""
    features = fs.features(labelled)
    keep = [wf.label.column] + ([SPLIT] if SPLIT in labelled else [])
    return pd.concat([features, labelled[keep].reset_index(drop=True)], axis=1)


def train_model(
    wf: Workflow, fs: FeatureSet, training_set: pd.DataFrame, name: str, params: dict, seed: int
):
    train = training_set[training_set[SPLIT] == "train"]
    y = train[wf.label.column]
    wf.task.check_trainable(y)
    model = family(wf.model_families, name).build(fs.categorical, fs.numeric, params, seed)
    model.fit(train[fs.columns], wf.task.training_target(y))
    return model
