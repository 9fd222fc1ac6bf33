"""`afterlaunch reproduce VERSION`: rebuild a registered version's training set from the exact
snapshots its lineage names, with the feature set it was trained on, retrain with its recorded
parameters, and compare outputs."""

import logging
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from assets.labels import label_schema
from assets.lineage import manifest_hash
from assets.models import NotServable, feature_set_of
from assets.names import EVAL_SET, LABELS, RAW
from assets.training_data import assemble_labelled, train_model, training_frame
from assets.workflow import Workflow
from resources.registry import ModelRegistry
from resources.snapshots import SnapshotStore, content_hash

log = logging.getLogger("afterlaunch.reproduce")


class ReproductionError(RuntimeError):
    """The recorded lineage cannot be followed back to the same training set."""


@dataclass(frozen=True)
class Reproduction:
    version: str
    rows: int
    max_abs_difference: float

    @property
    def identical(self) -> bool:
        return self.max_abs_difference <= 1e-12


def reproduce(
    wf: Workflow, version: str, registry: ModelRegistry, store: SnapshotStore
) -> Reproduction:
    tags = registry.version_tags(version)
    manifest = registry.load_artifact_json(version, "lineage.json")
    if manifest_hash(manifest) != tags.get("lineage.manifest_sha256"):
        raise ReproductionError(
            f"version {version}: lineage.json does not match its tag lineage.manifest_sha256"
        )
    try:
        fs = feature_set_of(wf, version, tags)
    except NotServable as err:
        raise ReproductionError(str(err)) from err
    raw, frames = {}, []
    total = len(manifest["raw_snapshots"]) + len(manifest["label_snapshots"])
    for done, (partition, digest) in enumerate(sorted(manifest["raw_snapshots"].items()), 1):
        raw[partition] = store.read(RAW, partition, digest)
        log.info("read snapshot %d/%d: %s %s", done, total, RAW, partition)
    for done, (partition, digest) in enumerate(sorted(manifest["label_snapshots"].items()), 1):
        frames.append(store.read(LABELS, partition, digest))
        log.info("read snapshot %d/%d: %s %s", len(raw) + done, total, LABELS, partition)

    labels = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    held_out = frozenset()
    if manifest.get("eval_test_set_sha256"):
        test_set = store.read(EVAL_SET, None, manifest["eval_test_set_sha256"])
        held_out = frozenset(test_set[wf.entity.id].astype("str"))
    model_spec = manifest["model"]
    labelled, _ = assemble_labelled(
        raw,
        {k: wf.partitions.end_of(k) for k in raw},
        labels,
        label_schema(wf),
        wf.entity.event_time,
        datetime.fromisoformat(manifest["training_window"]["cutoff"]),
        model_spec["validation_fraction"],
        held_out,
        final_at_event_time=wf.source.rows_final_at_event_time,
    )
    training_set = training_frame(wf, fs, labelled)
    if content_hash(training_set) != manifest["training_set_sha256"]:
        raise ReproductionError(
            f"version {version}: the rebuilt training set hashes to "
            f"{content_hash(training_set)[:12]}, the recorded one to "
            f"{manifest['training_set_sha256'][:12]}"
        )
    log.info("retraining %s with seed %s", model_spec["family"], model_spec["seed"])
    retrained = train_model(
        wf,
        fs,
        training_set,
        model_spec["family"],
        model_spec["hyperparameters"],
        int(model_spec["seed"]),
    )
    original = registry.load_model(version)
    rows = training_set[fs.columns]
    difference = np.abs(wf.task.predict(original, rows) - wf.task.predict(retrained, rows))
    return Reproduction(version, len(rows), float(difference.max()))
