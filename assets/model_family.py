"""The reference model: one place to swap the model family.

Every family is a scikit-learn pipeline (one-hot categories, scaled numbers, a classifier)
wrapped in sigmoid calibration, because later stages read the probabilities as confidences.
Training is deterministic given the seed, which is what `afterlaunch reproduce` relies on.
"""

from collections.abc import Callable, Mapping
from typing import Any

from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from assets.feature_definitions import CATEGORICAL_FEATURES, NUMERIC_FEATURES


def _logistic(params: Mapping[str, Any], seed: int):
    return LogisticRegression(max_iter=2000, random_state=seed, **params)


def _gradient_boosting(params: Mapping[str, Any], seed: int):
    return HistGradientBoostingClassifier(random_state=seed, **params)


MODEL_FAMILIES: dict[str, Callable[[Mapping[str, Any], int], Any]] = {
    "logistic_regression": _logistic,
    "gradient_boosting": _gradient_boosting,
}


# Classes inside a fitted pipeline that skops does not trust by default: the calibration wrappers.
# The registry saves models with skops, which loads only listed types (no arbitrary pickle).
TRUSTED_TYPES = [
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
]


def build_model(family: str, hyperparameters: Mapping[str, Any], seed: int) -> Pipeline:
    if family not in MODEL_FAMILIES:
        raise ValueError(f"unknown model family {family!r}; known: {sorted(MODEL_FAMILIES)}")
    encode = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL_FEATURES),
            ("numbers", StandardScaler(), NUMERIC_FEATURES),
        ]
    )
    classifier = MODEL_FAMILIES[family](dict(hyperparameters), seed)
    # cv=3 folds are unshuffled stratified folds: deterministic, no seed needed.
    calibrated = CalibratedClassifierCV(classifier, method="sigmoid", cv=3)
    return Pipeline([("encode", encode), ("classify", calibrated)])
