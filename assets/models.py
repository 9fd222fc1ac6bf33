"""A registered version with the feature set it was trained on: the one way the engine turns
raw rows into a model's outputs, for serving, shadow, evaluation and reproduction alike.

A registered version never changes, so a process keeps what it loaded of it (the demo scores
ninety days with a handful of versions).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from dagster import Failure

from assets.alias_guard import audited_champion
from assets.feature_sets import FeatureSet, FeatureSetMissing
from assets.lineage import THRESHOLD_TAG
from assets.promotion import PromotionError
from assets.workflow import Workflow
from checks.tasks import Task
from resources.registry import ModelRegistry

FEATURE_SET_TAG = "feature_set.version"
FEATURE_HASH_TAG = "feature_set.hash"
_LOADED: dict[tuple, object] = {}


@dataclass(frozen=True)
class ServedModel:
    version: str
    model: object
    feature_set: FeatureSet
    # The workflow's task deciding at this version's recorded threshold (its own choice);
    # None: the workflow's task as declared.
    task: Task | None = None

    def task_of(self, wf: Workflow) -> Task:
        return self.task or wf.task

    def features(self, raw: pd.DataFrame) -> pd.DataFrame:
        return self.feature_set.features(raw)[self.feature_set.columns]

    def outputs(self, wf: Workflow, raw: pd.DataFrame) -> np.ndarray:
        """The model's outputs on raw rows, through its own feature set."""
        if len(raw) == 0:  # an empty feed (the volume and freshness checks say why)
            return np.zeros(0)
        return self.task_of(wf).predict(self.model, self.features(raw))


class NotServable(LookupError):
    """A version that must not be scored: nothing says which features it was trained on, or
    its feature set is gone from the code, or changed under its version."""


def feature_set_of(wf: Workflow, version: str, tags: dict) -> FeatureSet:
    """The feature set a version was trained on (its tags say which); NotServable otherwise."""
    recorded = tags.get(FEATURE_SET_TAG)
    if not recorded:
        raise NotServable(
            f"model version {version} records no feature-set version ({FEATURE_SET_TAG} tag): "
            "nothing says which features it was trained on"
        )
    try:
        fs = wf.feature_sets.get(recorded)
    except FeatureSetMissing as err:
        raise NotServable(f"model version {version}: {err}") from err
    pinned = tags.get(FEATURE_HASH_TAG)
    if pinned and pinned != fs.definitions_hash:
        raise NotServable(
            f"model version {version} was trained on feature set v{recorded} hashing "
            f"{pinned[:12]}, but v{recorded} in the code now hashes {fs.definitions_hash[:12]}: "
            "its features would not be the ones it was validated with"
        )
    return fs


def servable(wf: Workflow):
    """The check promotion and rollback run inside their lock before any alias moves."""

    def check(version: str, tags: dict) -> None:
        try:
            feature_set_of(wf, version, tags)
        except NotServable as err:
            raise PromotionError(f"version {version} cannot be served: {err}") from err

    return check


def cached(registry: ModelRegistry, version: str, what: str, load):
    key = (registry.tracking_uri, registry.model_name, version, what)
    if key not in _LOADED:
        _LOADED[key] = load()
    return _LOADED[key]


def load_served(wf: Workflow, registry: ModelRegistry, version: str) -> ServedModel:
    """Version `version` with its own feature set; a version whose feature set is gone from
    the code fails with the reason (it must not be scored with another version's features).
    The loaded model and its recorded feature-set tags are kept per version; the feature set
    is looked up in the workflow's code on every call, so a change of code is never hidden."""
    model, tags = cached(
        registry,
        version,
        "model",
        lambda: (
            registry.load_model(version),
            {
                k: v
                for k, v in registry.version_tags(version).items()
                if k.startswith(("feature", "decision."))
            },
        ),
    )
    try:
        fs = feature_set_of(wf, version, tags)
    except NotServable as err:
        raise Failure(f"model version {version} cannot be served: {err}") from err
    return ServedModel(version, model, fs, version_task(wf, version, tags))


def version_task(wf: Workflow, version: str, tags: dict) -> Task:
    """The workflow's task at the decision threshold recorded on the version; a version
    registered without one (by hand, or before thresholds were chosen) decides at the
    workflow's own."""
    recorded = tags.get(THRESHOLD_TAG)
    if recorded is None:
        return wf.task
    try:
        return wf.task.at(float(recorded))
    except ValueError as err:
        raise Failure(
            f"model version {version} records an unusable {THRESHOLD_TAG} {recorded!r}: {err}"
        ) from err


def champion(wf: Workflow, registry: ModelRegistry, lock_path: Path) -> ServedModel:
    """The audited champion: an @champion moved outside Afterlaunch is not served."""
    version = audited_champion(registry, lock_path)
    if version is None:
        raise Failure(f"no {wf.model_name} model behind @champion: promote one before scoring")
    return load_served(wf, registry, version)
