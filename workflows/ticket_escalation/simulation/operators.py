"""What people do during the demo's simulated weeks, as scenario `actions`.

* ``hand_registered_model``: a data scientist registers a model trained in a notebook and points
  @challenger at it, logging the ids of the tickets it was trained on (``training_entities.json``)
  as the project asks. Two recipes:

  - ``leaky_tree``, the classic mistake: an unpruned decision tree fitted on an export that also
    held the evaluation test set's tickets. It memorises the test set (perfect there) and is far
    worse on tickets it never saw. Its recorded ids contain the test set's, so the gate's
    leakage criterion rejects it, naming how many; it has no lineage either (a person would
    have to approve it).
  - ``rekeyed_tree``: the same tree on the same rows, but exported keyed by the CRM's case
    number instead of the ticket id, and registered with complete lineage through the project's
    own manifest. Its recorded ids share nothing with the test set's, so the gate cannot see the
    overlap and passes it on its perfect test-set scores; only production traffic can tell,
    which is what the rollout's shadow and canary are for (its trigger rolls it back).
* ``flag``: someone flips the serving flag (``afterlaunch flag``), e.g. ``state: off``.

A model trained honestly on a stale window cannot play the second part: on the fixed test set
it is no better than the champion (measured on the default demo: a retrained logistic
regression +0.0003 ROC AUC, 95% interval [-0.0018, +0.0026]; gradient boosting -0.0002), so the
gate's superiority criterion rejects it before any canary.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.tree import DecisionTreeClassifier

from assets.gate_evidence import LINEAGE_FILE, TRAINING_ENTITIES, training_entities
from assets.lineage import manifest_tags
from resources.registry import ModelRegistry
from resources.snapshots import SnapshotStore, content_hash
from workflows.ticket_escalation.features import CATEGORICAL, FEATURE_SETS, NUMERIC

ACTION_KINDS = ("hand_registered_model", "flag")
RECIPES = ("leaky_tree", "rekeyed_tree")
LABEL = "escalated"
ENTITY = "ticket_id"
CASE_PREFIX = "CASE-"  # how the CRM's case export keys a ticket (rekeyed_tree)
CATEGORICAL_FEATURES = list(CATEGORICAL)
NUMERIC_FEATURES = list(NUMERIC)
FEATURE_COLUMNS = CATEGORICAL_FEATURES + NUMERIC_FEATURES


def notebook_export(store: SnapshotStore) -> pd.DataFrame:
    """The latest training set plus the evaluation test set's rows, with v1 features: the
    export both recipes were fitted on (ticket ids, features, label)."""
    training = store.read("training_set", None)
    test_set = store.read("eval_test_set", None)  # raw rows: the notebook computes v1 on them
    test_features = FEATURE_SETS.get("1").features(test_set).assign(**{LABEL: test_set[LABEL]})
    keep = [ENTITY, *FEATURE_COLUMNS, LABEL]
    return pd.concat([training[keep], test_features[keep]], ignore_index=True)


def unpruned_tree(rows: pd.DataFrame) -> Pipeline:
    encode = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL_FEATURES),
            ("numbers", "passthrough", NUMERIC_FEATURES),
        ]
    )
    model = Pipeline([("encode", encode), ("tree", DecisionTreeClassifier(random_state=0))])
    return model.fit(rows[FEATURE_COLUMNS], rows[LABEL].astype("int64"))


def leaky_tree(store: SnapshotStore) -> Pipeline:
    """An unpruned tree on the latest training set plus the evaluation test set's rows."""
    return unpruned_tree(notebook_export(store))


def _lineage_template(registry: ModelRegistry) -> dict:
    """The newest lineage manifest the project recorded: the data scientist fills in the
    project's own manifest (so every field the project records is there) with their run."""
    for entry in reversed(registry.versions()):
        if LINEAGE_FILE in registry.run_artifact_names(entry["version"]):
            return registry.load_artifact_json(entry["version"], LINEAGE_FILE)
    raise ValueError("no version records a lineage.json yet: train one through the project first")


def notebook_lineage(
    registry: ModelRegistry, rows: pd.DataFrame, reason: str, actor: str, at: datetime
) -> dict:
    """A complete lineage manifest for a model fitted on ``rows`` (the export's content hash;
    the window and snapshots are the training set's it started from)."""
    manifest = _lineage_template(registry)
    today = at.date().isoformat()
    return {
        **manifest,
        "training_set_sha256": content_hash(rows),
        "model": {
            "family": "decision_tree",
            "hyperparameters": {"max_depth": None},
            "seed": 0,
            "validation_fraction": 0.0,
        },
        "owner": actor,
        "created_date": today,
        "last_reviewed_date": today,
        "change_summary": reason,
    }


def register_by_hand(
    registry: ModelRegistry,
    store: SnapshotStore,
    recipe: str,
    reason: str,
    actor: str,
    at: datetime,
) -> str:
    """Train the recipe, register it like a person would from a notebook, move @challenger."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}: one of {RECIPES}")
    rows = notebook_export(store)
    if recipe == "rekeyed_tree":
        rows = rows.assign(**{ENTITY: CASE_PREFIX + rows[ENTITY].astype("str")})
    model = unpruned_tree(rows)
    # The notebook used the project's feature set v1, and says so: serving computes it.
    tags = {
        "change_summary": reason,
        "registered_by": actor,
        "feature_set.version": "1",
        "feature_set.hash": FEATURE_SETS.get("1").definitions_hash,
    }
    # A data scientist logging their dataset: the ids of the rows the model was fitted on.
    artifacts: dict = {TRAINING_ENTITIES: training_entities(rows[ENTITY], ENTITY)}
    if recipe == "rekeyed_tree":
        manifest = notebook_lineage(registry, rows, reason, actor, at)
        tags = {**manifest_tags(manifest), **tags}
        artifacts[LINEAGE_FILE] = manifest
    registered = registry.log_and_register(
        model=model,
        input_example=rows[FEATURE_COLUMNS].head(5),
        params={"model_family": "decision_tree", "recipe": recipe},
        metrics={},
        run_tags={"registered_by": actor},
        version_tags=tags,
        artifacts=artifacts,
        run_name=f"registered by hand: {recipe}",
        description=reason,
        trusted_types=["sklearn.tree._tree.Tree"],
    )
    registry.move_alias("challenger", registered.version, actor=actor, reason=reason, at=at)
    return registered.version
