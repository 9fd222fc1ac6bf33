"""Model families: how a workflow's models are built, as scikit-learn pipelines.

A family turns (categorical columns, numeric columns, hyper-parameters, seed) into an unfitted
pipeline: one-hot categories, scaled numbers, an estimator. Classifiers are wrapped in sigmoid
calibration, because later stages read their probabilities as confidences. Training is
deterministic given the seed, which is what `afterlaunch reproduce` relies on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

# The registry's allow-list of skops types (it saves and loads models with skops only): a
# family whose fitted pipeline holds a type outside it cannot be registered until the type is
# reviewed and added there.
from resources.model_format import TRUSTED_TYPES as TRUSTED_TYPES

Estimator = Callable[[Mapping[str, Any], int], Any]


@dataclass(frozen=True)
class ModelFamily:
    name: str
    estimator: Estimator
    calibrate: bool = False  # classifiers: sigmoid calibration around the estimator

    def build(
        self,
        categorical: Sequence[str],
        numeric: Sequence[str],
        hyperparameters: Mapping[str, Any],
        seed: int,
    ) -> Pipeline:
        encode = ColumnTransformer(
            [
                ("categories", OneHotEncoder(handle_unknown="ignore"), list(categorical)),
                ("numbers", StandardScaler(), list(numeric)),
            ]
        )
        model = self.estimator(dict(hyperparameters), seed)
        if self.calibrate:
            # cv=3 folds are unshuffled stratified folds: deterministic, no seed needed.
            model = CalibratedClassifierCV(model, method="sigmoid", cv=3)
        return Pipeline([("encode", encode), ("model", model)])


def _logistic(params: Mapping[str, Any], seed: int):
    return LogisticRegression(max_iter=2000, random_state=seed, **params)


def _gb_classifier(params: Mapping[str, Any], seed: int):
    return HistGradientBoostingClassifier(random_state=seed, **params)


def _ridge(params: Mapping[str, Any], seed: int):
    return Ridge(random_state=seed, **params)


def _gb_regressor(params: Mapping[str, Any], seed: int):
    return HistGradientBoostingRegressor(random_state=seed, **params)


CLASSIFIERS: dict[str, ModelFamily] = {
    "logistic_regression": ModelFamily("logistic_regression", _logistic, calibrate=True),
    "gradient_boosting": ModelFamily("gradient_boosting", _gb_classifier, calibrate=True),
}
REGRESSORS: dict[str, ModelFamily] = {
    "ridge": ModelFamily("ridge", _ridge),
    "gradient_boosting": ModelFamily("gradient_boosting", _gb_regressor),
}


def family(families: Mapping[str, ModelFamily], name: str) -> ModelFamily:
    if name not in families:
        raise ValueError(f"unknown model family {name!r}; this workflow has: {sorted(families)}")
    return families[name]
