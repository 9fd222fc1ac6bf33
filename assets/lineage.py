"""A model's lineage: which data, feature definitions, code and parameters produced it.

The full record (every partition with its full content hash) is `lineage.json`, an artifact of
the model's MLflow run. The registered version carries the same facts as tags a person reads in
the MLflow UI, with hashes shortened to 12 characters; `lineage.manifest_sha256` ties the two.
"""

import hashlib
import json
from collections.abc import Mapping
from typing import Any

SHORT = 12
# A binary classifier's decision threshold, chosen on validation (checks/thresholds.py).
THRESHOLD_TAG = "decision.threshold"
THRESHOLD_RULE_TAG = "decision.threshold_rule"


def manifest_hash(manifest: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def _partitions(snapshots: Mapping[str, str]) -> str:
    return " ".join(f"{p}={h[:SHORT]}" for p, h in sorted(snapshots.items()))


def _gaps(missing: Mapping[str, list[str]]) -> str:
    return "; ".join(f"{a}: {' '.join(ps)}" for a, ps in sorted(missing.items())) or "none"


def manifest_tags(manifest: Mapping[str, Any]) -> dict[str, str]:
    window = manifest["training_window"]
    model = manifest["model"]
    return {
        "lineage.training_window": (
            f"rows {window['first_day']} .. {window['last_day']}, "
            f"labels known by {window['labels_until']}"
        ),
        "lineage.label_snapshots": _partitions(manifest["label_snapshots"]),
        "lineage.raw_snapshots": _partitions(manifest["raw_snapshots"]),
        # Partitions of the window deleted from the store and skipped by the policy (a
        # lineage recorded before there was such a policy has none).
        "lineage.missing_partitions": _gaps(manifest.get("missing_partitions", {})),
        "lineage.training_set_sha256": manifest["training_set_sha256"],
        "lineage.manifest_sha256": manifest_hash(manifest),
        "feature_set.version": manifest["feature_set"]["version"],
        "feature_set.hash": manifest["feature_set"]["hash"],
        "code.git_commit": manifest["code"]["git_commit"],
        "code.git_dirty": str(manifest["code"]["git_dirty"]).lower(),
        "model.family": model["family"],
        "model.hyperparameters": json.dumps(model["hyperparameters"], sort_keys=True),
        "model.random_seed": str(model["seed"]),
        "model.validation_fraction": str(model["validation_fraction"]),
        "owner": manifest["owner"],
        "created_date": manifest["created_date"],
        "last_reviewed_date": manifest["last_reviewed_date"],
        "change_summary": manifest["change_summary"],
        "policy.version": manifest["policy_version"],
    }
