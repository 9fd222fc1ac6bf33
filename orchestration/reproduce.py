"""`afterlaunch reproduce VERSION`: rebuild a registered version's training set from the exact
snapshots its lineage names, retrain with its recorded parameters, compare predictions."""

import logging
from dataclasses import dataclass

import numpy as np

from assets.feature_definitions import FEATURE_COLUMNS
from assets.feature_set import current_pin
from assets.lineage import manifest_hash
from assets.training_data import assemble_training_set, train_model
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
    feature_code_matches: bool

    @property
    def identical(self) -> bool:
        return self.max_abs_difference <= 1e-12


def reproduce(version: str, registry: ModelRegistry, store: SnapshotStore) -> Reproduction:
    tags = registry.version_tags(version)
    manifest = registry.load_artifact_json(version, "lineage.json")
    if manifest_hash(manifest) != tags.get("lineage.manifest_sha256"):
        raise ReproductionError(
            f"version {version}: lineage.json does not match its tag lineage.manifest_sha256"
        )
    features, labels = {}, {}
    total = len(manifest["feature_snapshots"]) + len(manifest["label_snapshots"])
    for done, (partition, digest) in enumerate(sorted(manifest["feature_snapshots"].items()), 1):
        features[partition] = store.read("ticket_features", partition, digest)
        log.info("read snapshot %d/%d: ticket_features %s", done, total, partition)
    for done, (partition, digest) in enumerate(sorted(manifest["label_snapshots"].items()), 1):
        labels[partition] = store.read("ticket_labels", partition, digest)
        log.info("read snapshot %d/%d: ticket_labels %s", len(features) + done, total, partition)
    held_out = frozenset()
    if manifest.get("eval_test_set_sha256"):
        held_out = frozenset(
            store.read("eval_test_set", None, manifest["eval_test_set_sha256"])["ticket_id"]
        )
    model_spec = manifest["model"]
    training_set, _ = assemble_training_set(
        features, labels, model_spec["validation_fraction"], exclude_ticket_ids=held_out
    )
    if content_hash(training_set) != manifest["training_set_sha256"]:
        raise ReproductionError(
            f"version {version}: the rebuilt training set hashes to "
            f"{content_hash(training_set)[:12]}, the recorded one to "
            f"{manifest['training_set_sha256'][:12]}"
        )
    pin = current_pin()
    same_code = pin.definitions_hash == manifest["feature_set"]["hash"]
    if not same_code:
        log.warning(
            "feature definitions differ from the version's (%s vs %s); the stored "
            "feature snapshots are used, so training is still reproduced exactly",
            pin.definitions_hash[:12],
            manifest["feature_set"]["hash"][:12],
        )
    log.info("retraining %s with seed %s", model_spec["family"], model_spec["seed"])
    retrained = train_model(
        training_set, model_spec["family"], model_spec["hyperparameters"], int(model_spec["seed"])
    )
    original = registry.load_model(version)
    rows = training_set[FEATURE_COLUMNS]
    difference = np.abs(original.predict_proba(rows)[:, 1] - retrained.predict_proba(rows)[:, 1])
    return Reproduction(version, len(rows), float(difference.max()), same_code)
