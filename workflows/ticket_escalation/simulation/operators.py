"""What people do during the demo's simulated weeks, as scenario `actions`.

* ``hand_registered_model``: a data scientist registers a model trained in a notebook and points
  @challenger at it. The recipe ``leaky_tree`` is the classic mistake: an unpruned decision tree
  fitted on an export that also held the evaluation test set's tickets. It memorises the test
  set (perfect there, so the gate passes it) and is far worse on tickets it never saw. Only
  production traffic can tell, which is what the rollout's shadow and canary are for.
* ``flag``: someone flips the serving flag (``afterlaunch flag``), e.g. ``state: off``.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.tree import DecisionTreeClassifier

from resources.registry import ModelRegistry
from resources.snapshots import SnapshotStore
from workflows.ticket_escalation.features import CATEGORICAL, FEATURE_SETS, NUMERIC

ACTION_KINDS = ("hand_registered_model", "flag")
RECIPES = ("leaky_tree",)
LABEL = "escalated"
CATEGORICAL_FEATURES = list(CATEGORICAL)
NUMERIC_FEATURES = list(NUMERIC)
FEATURE_COLUMNS = CATEGORICAL_FEATURES + NUMERIC_FEATURES


def leaky_tree(store: SnapshotStore) -> Pipeline:
    """An unpruned tree on the latest training set plus the evaluation test set's rows."""
    training = store.read("training_set", None)
    test_set = store.read("eval_test_set", None)  # raw rows: the notebook computes v1 on them
    test_features = FEATURE_SETS.get("1").features(test_set).assign(**{LABEL: test_set[LABEL]})
    rows = pd.concat(
        [training[FEATURE_COLUMNS + [LABEL]], test_features[FEATURE_COLUMNS + [LABEL]]],
        ignore_index=True,
    )
    encode = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL_FEATURES),
            ("numbers", "passthrough", NUMERIC_FEATURES),
        ]
    )
    model = Pipeline([("encode", encode), ("tree", DecisionTreeClassifier(random_state=0))])
    return model.fit(rows[FEATURE_COLUMNS], rows[LABEL].astype("int64"))


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
    model = leaky_tree(store)
    training = store.read("training_set", None)
    registered = registry.log_and_register(
        model=model,
        input_example=training[FEATURE_COLUMNS].head(5),
        params={"model_family": "decision_tree", "recipe": recipe},
        metrics={},
        run_tags={"registered_by": actor},
        # The notebook used the project's feature set v1, and says so: serving computes it.
        version_tags={
            "change_summary": reason,
            "registered_by": actor,
            "feature_set.version": "1",
            "feature_set.hash": FEATURE_SETS.get("1").definitions_hash,
        },
        artifacts={},
        run_name=f"registered by hand: {recipe}",
        description=reason,
        trusted_types=["sklearn.tree._tree.Tree"],
    )
    registry.move_alias("challenger", registered.version, actor=actor, reason=reason, at=at)
    return registered.version
