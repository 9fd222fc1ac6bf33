"""The task a model serves, as one interface: what differs between a binary classifier and a
regression is said here once, and the engine (metrics, bootstrap, gate defaults, output drift,
label-free estimate) asks the task instead of assuming probabilities.

* ``BinaryClassification(threshold)``: outputs are calibrated probabilities of 1, the decision
  is ``output >= threshold`` and it succeeded when it equals the 0/1 label.
* ``Regression(tolerance)``: outputs are predictions in the outcome's units, the decision is
  the prediction itself and it succeeded when ``|y - prediction| <= tolerance``.

Each has ``kind``, ``param`` (threshold or tolerance), ``registry`` (its metrics, see
``checks.metrics``), ``metric_names``, ``success_metric``, ``default_gate``,
``has_label_free_estimate`` and ``label_text`` (how a report names a valid label).

``valid_labels`` given a pandas Series returns a boolean Series on the same index (it serves as
``checks.labels.LabelSchema.valid``); given anything else, a boolean array.

Missing values: a NaN label is a bug upstream and raises (``correct``); a NaN or otherwise
invalid output is a failed prediction and counts as not correct. ``decide`` is elementwise and
does not judge validity: a NaN probability compares False (a "no"), so check
``valid_outputs`` before acting on a decision.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from checks import metrics as _metrics
from checks.bootstrap import Difference, Estimate, bootstrap_ci, paired_bootstrap
from checks.monitoring import Estimate as LabelFreeEstimate
from checks.monitoring import cbpe_task_success
from checks.output_drift import (
    OutputDrift,
    compare_scores,
    compare_values,
    score_profile,
    value_profile,
)
from checks.thresholds import ThresholdChoice, choose_threshold

SUCCESS_METRIC = "task_success"


def _n_rows(X) -> int:
    # len() is ambiguous on a scipy sparse matrix; every feature container has a shape or a len.
    shape = getattr(X, "shape", None)
    return int(shape[0]) if shape is not None else len(X)


def _mask_like(series, mask: np.ndarray):
    if isinstance(series, pd.Series):
        return pd.Series(mask, index=series.index, dtype=bool)
    return mask


def _same_length(outputs, y) -> tuple[np.ndarray, np.ndarray]:
    out = np.asarray(outputs, dtype=np.float64)
    labels = np.asarray(y)
    if out.ndim != 1 or labels.ndim != 1 or out.shape != labels.shape:
        raise ValueError(
            f"outputs and labels must be 1-D of the same length, got {out.shape} and {labels.shape}"
        )
    return out, labels


class Task(ABC):
    """The common interface; the subclasses hold the task's parameter."""

    kind: ClassVar[str]
    success_metric: ClassVar[str] = SUCCESS_METRIC
    has_label_free_estimate: ClassVar[bool]
    label_text: ClassVar[str]

    @property
    @abstractmethod
    def param(self) -> float:
        """The task's parameter: passed to every metric as its third argument."""

    @property
    @abstractmethod
    def registry(self) -> dict[str, _metrics.Metric]: ...

    @property
    @abstractmethod
    def default_gate(self) -> dict:
        """Gate settings shaped like ``checks.policy.GateRules`` fields."""

    @abstractmethod
    def predict(self, model, X) -> np.ndarray: ...

    @abstractmethod
    def decide(self, outputs, param=None) -> np.ndarray:
        """The decision per output; ``param`` (a number or one per output) overrides the
        task's parameter: rows served by versions that decide differently."""

    def at(self, param: float | None) -> Task:
        """This task deciding with ``param`` (a version's recorded decision threshold); the
        task itself when the task has no per-version parameter or ``param`` is None."""
        return self

    def choose_param(self, y, outputs, rules) -> ThresholdChoice | None:
        """The per-version parameter chosen on validation rows by ``rules``
        (``checks.policy.ThresholdRules``); None for a task without one."""
        return None

    def majority_outputs(self, y) -> np.ndarray | None:
        """The naive answer a model must beat, the same for every example; None where the
        task has no such answer."""
        return None

    @abstractmethod
    def valid_outputs(self, outputs) -> np.ndarray: ...

    @abstractmethod
    def valid_labels(self, series) -> np.ndarray | pd.Series: ...

    @abstractmethod
    def _succeeded(self, outputs: np.ndarray, y: np.ndarray, param=None) -> np.ndarray: ...

    @abstractmethod
    def _training_problem(self, y: np.ndarray) -> str | None: ...

    @abstractmethod
    def output_profile(self, outputs, reference: dict | None = None) -> dict: ...

    @abstractmethod
    def compare_output_profiles(
        self,
        current: dict,
        reference: dict,
        psi_warn: float,
        psi_error: float,
        shift_error: float,
        min_rows: int,
    ) -> OutputDrift: ...

    @abstractmethod
    def label_free_estimate(self, outputs, param=None) -> LabelFreeEstimate | None: ...

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(self.registry)

    @property
    def default_policy(self) -> dict:
        """The task's layer of the policy, between the engine's defaults and the workflow's."""
        return {"gate": self.default_gate}

    def confidence(self, outputs) -> np.ndarray:
        """How sure each output is, where the task knows (a calibrated classifier's
        max(p, 1 - p)); NaN otherwise."""
        return np.full(len(np.asarray(outputs)), np.nan)

    def check_trainable(self, y) -> None:
        """Raise ValueError when these labels cannot train a model of this task."""
        labels = np.asarray(y)
        if labels.ndim != 1 or labels.size == 0:
            raise ValueError(f"no labels to train on (shape {labels.shape})")
        bad = int((~np.asarray(self.valid_labels(labels))).sum())
        if bad:
            raise ValueError(f"{bad} training labels are not {self.label_text} (or missing)")
        problem = self._training_problem(labels.astype(np.float64))
        if problem:
            raise ValueError(problem)

    def training_target(self, y) -> np.ndarray:
        """The labels as the model is fitted on them (call ``check_trainable`` first)."""
        return np.asarray(y, dtype=np.float64)

    def correct(self, outputs, y, param=None) -> np.ndarray:
        """Per example: did the task succeed? Invalid outputs (NaN included) did not; invalid
        labels (NaN included) raise. ``param``: as for ``decide``."""
        out, labels = _same_length(outputs, y)
        bad = int((~np.asarray(self.valid_labels(labels))).sum())
        if bad:
            raise ValueError(f"{bad} labels are not valid {self.kind} labels (or missing)")
        with np.errstate(invalid="ignore"):
            return self.valid_outputs(out) & self._succeeded(out, labels.astype(np.float64), param)

    def compute(self, name: str, y, outputs) -> float | None:
        return _metrics.compute(name, y, outputs, self.param, registry=self.registry)

    def estimates(
        self,
        y,
        outputs,
        metrics: Sequence[str],
        *,
        n_resamples: int,
        confidence: float = 0.95,
        seed: int,
    ) -> dict[str, Estimate]:
        return bootstrap_ci(
            y,
            outputs,
            metrics,
            threshold=self.param,
            n_resamples=n_resamples,
            confidence=confidence,
            seed=seed,
            registry=self.registry,
        )

    def paired(
        self,
        y,
        out_challenger,
        out_champion,
        metrics: Sequence[str],
        *,
        n_resamples: int,
        confidence: float = 0.95,
        seed: int,
        champion_task: Task | None = None,
    ) -> dict[str, Difference]:
        """Challenger - champion, positive = challenger better (``checks.bootstrap``); this
        task is the challenger's, ``champion_task`` the champion's when it decides differently."""
        return paired_bootstrap(
            y,
            out_challenger,
            out_champion,
            metrics,
            threshold=self.param,
            champion_threshold=(champion_task or self).param,
            n_resamples=n_resamples,
            confidence=confidence,
            seed=seed,
            registry=self.registry,
        )


@dataclass(frozen=True)
class BinaryClassification(Task):
    threshold: float = 0.5

    kind: ClassVar[str] = _metrics.BINARY
    has_label_free_estimate: ClassVar[bool] = True
    label_text: ClassVar[str] = "0 or 1"

    def __post_init__(self):
        # At 0 or 1 every decision would be the same, whatever the model says.
        t = self.threshold
        if isinstance(t, bool) or not isinstance(t, numbers.Real) or not 0 < t < 1:
            raise ValueError(f"threshold must be a number in (0, 1), got {t!r}")

    @property
    def param(self) -> float:
        return self.threshold

    @property
    def registry(self) -> dict[str, _metrics.Metric]:
        return _metrics.METRICS  # looked up on each call: metrics a workflow registers count

    @property
    def default_gate(self) -> dict:
        return {
            "primary_metric": "roc_auc",
            "metrics": ["task_success", "precision", "recall", "f1", "roc_auc", "log_loss", "ece"],
            # recall and F1: a model that (almost) never says yes can still clear the
            # task-success floor on a rare outcome; these floors reject that (the operating
            # point itself is the threshold rule's choice, not theirs).
            "floors": {
                "roc_auc": 0.70,
                "task_success": 0.80,
                "log_loss": 0.50,
                "ece": 0.05,
                "recall": 0.20,
                "f1": 0.25,
            },
        }

    def predict(self, model, X) -> np.ndarray:
        """The probability of class 1; a model whose classes are not (0, 1) is refused, as
        column 1 would then not be that probability."""
        n = _n_rows(X)
        if n == 0:
            return np.empty(0, dtype=np.float64)  # sklearn refuses empty input
        classes = getattr(model, "classes_", None)
        if classes is not None and np.asarray(classes).tolist() != [0, 1]:
            raise ValueError(f"a binary classifier's classes must be [0, 1], got {classes!r}")
        proba = np.asarray(model.predict_proba(X), dtype=np.float64)
        if proba.shape != (n, 2):
            raise ValueError(f"predict_proba returned shape {proba.shape}, expected ({n}, 2)")
        return np.ascontiguousarray(proba[:, 1])

    def decide(self, outputs, param=None) -> np.ndarray:
        t = self.threshold if param is None else np.asarray(param, dtype=np.float64)
        return np.asarray(outputs, dtype=np.float64) >= t

    def at(self, param: float | None) -> BinaryClassification:
        return self if param is None else dataclasses.replace(self, threshold=float(param))

    def choose_param(self, y, outputs, rules) -> ThresholdChoice:
        return choose_threshold(
            y,
            outputs,
            rules.rule,
            default=self.threshold,
            target_recall=rules.target_recall,
            cost_false_positive=rules.cost_false_positive,
            cost_false_negative=rules.cost_false_negative,
        )

    def majority_outputs(self, y) -> np.ndarray:
        # Always the majority class, as a certain 0 or 1: it decides the same at any threshold.
        labels = np.asarray(y, dtype=np.float64)
        return np.full(labels.size, float(labels.mean() >= 0.5) if labels.size else 0.0)

    def valid_outputs(self, outputs) -> np.ndarray:
        p = np.asarray(outputs, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            return np.isfinite(p) & (p >= 0) & (p <= 1)

    def valid_labels(self, series):
        """0 or 1 (also 0.0/1.0 in a column made float by nulls, and False/True, as the metrics
        accept them); never a string or a null."""
        s = pd.Series(series)
        if pd.api.types.is_numeric_dtype(s):
            mask = s.isin((0, 1)).fillna(False).to_numpy(dtype=bool)
        else:
            mask = np.array(
                [
                    isinstance(v, numbers.Real | np.bool_) and not pd.isna(v) and v in (0, 1)
                    for v in s
                ],
                dtype=bool,
            )
        return _mask_like(series, mask)

    def _succeeded(self, outputs, y, param=None):
        return self.decide(outputs, param) == (y == 1)

    def _training_problem(self, y):
        if np.unique(y).size < 2:
            return f"every training label is {int(y[0])}: a classifier needs both classes"
        return None

    def training_target(self, y) -> np.ndarray:
        return np.asarray(y, dtype=np.float64).astype(np.int64)

    def confidence(self, outputs) -> np.ndarray:
        p = np.asarray(outputs, dtype="float64")
        return np.maximum(p, 1.0 - p)

    def output_profile(self, outputs, reference: dict | None = None) -> dict:
        """``score_profile`` at the task's threshold. The bins are fixed on [0, 1], so a
        reference only has to agree on the threshold (else positive rates would compare
        different decisions)."""
        if reference is not None and reference.get("threshold") != self.threshold:
            raise ValueError(
                f"the reference profile was taken at threshold {reference.get('threshold')}, "
                f"this task decides at {self.threshold}"
            )
        return score_profile(outputs, self.threshold)

    def compare_output_profiles(
        self, current, reference, psi_warn, psi_error, shift_error, min_rows
    ) -> OutputDrift:
        """``compare_scores``; ``shift_error`` is the absolute change of the positive rate."""
        return compare_scores(current, reference, psi_warn, psi_error, shift_error, min_rows)

    def label_free_estimate(self, outputs, param=None) -> LabelFreeEstimate:
        """CBPE: the expected task success of calibrated probabilities, without labels."""
        return cbpe_task_success(outputs, self.threshold if param is None else param)


@dataclass(frozen=True)
class Regression(Task):
    tolerance: float

    kind: ClassVar[str] = _metrics.REGRESSION
    # A prediction carries no statement of its own error, unlike a calibrated probability.
    has_label_free_estimate: ClassVar[bool] = False
    label_text: ClassVar[str] = "a finite number"

    def __post_init__(self):
        t = self.tolerance
        if isinstance(t, bool) or not isinstance(t, numbers.Real) or not math.isfinite(t) or t < 0:
            raise ValueError(f"tolerance must be a finite number >= 0, got {t!r}")

    @property
    def param(self) -> float:
        return self.tolerance

    @property
    def registry(self) -> dict[str, _metrics.Metric]:
        return _metrics.REGRESSION_METRICS

    @property
    def default_policy(self) -> dict:
        # The output check's shift is the mean's move in reference standard deviations here,
        # not a share of positive decisions: a quarter of a deviation.
        return {"gate": self.default_gate, "output": {"positive_rate_error": 0.25}}

    @property
    def default_gate(self) -> dict:
        # Primary task_success rather than mae: the gate's margins (non-inferiority, slice
        # regression) are absolute numbers, and task_success is a share in [0, 1] like the
        # classification metrics, while mae is in the outcome's units. No floors: a sensible
        # floor depends on the outcome's scale and on the tolerance; a deployment sets them.
        return {
            "primary_metric": "task_success",
            "metrics": ["task_success", "mae", "rmse"],
            "floors": {},
        }

    def predict(self, model, X) -> np.ndarray:
        n = _n_rows(X)
        if n == 0:
            return np.empty(0, dtype=np.float64)
        out = np.asarray(model.predict(X), dtype=np.float64)
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.shape != (n,):
            raise ValueError(f"predict returned shape {out.shape}, expected ({n},)")
        return out

    def decide(self, outputs, param=None) -> np.ndarray:
        return np.array(outputs, dtype=np.float64)  # a copy: the decision is the prediction

    def valid_outputs(self, outputs) -> np.ndarray:
        return np.isfinite(np.asarray(outputs, dtype=np.float64))

    def valid_labels(self, series):
        """A finite number; never a string, a boolean or a null."""
        s = pd.Series(series)
        if pd.api.types.is_bool_dtype(s):
            mask = np.zeros(len(s), dtype=bool)
        elif pd.api.types.is_numeric_dtype(s):
            mask = np.isfinite(s.to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            mask = np.array(
                [
                    isinstance(v, numbers.Real)
                    and not isinstance(v, bool | np.bool_)
                    and math.isfinite(v)
                    for v in s
                ],
                dtype=bool,
            )
        return _mask_like(series, mask)

    def _succeeded(self, outputs, y, param=None):
        # The tolerance is the outcome's, not a version's choice: ``param`` does not move it.
        return np.abs(y - outputs) <= self.tolerance

    def _training_problem(self, y):
        return None

    def output_profile(self, outputs, reference: dict | None = None) -> dict:
        """``value_profile``: decile bins of these outputs, or the reference's bins."""
        return value_profile(outputs, None if reference is None else reference["edges"])

    def compare_output_profiles(
        self, current, reference, psi_warn, psi_error, shift_error, min_rows
    ) -> OutputDrift:
        """``compare_values``; ``shift_error`` is in reference standard deviations of the mean
        output."""
        return compare_values(current, reference, psi_warn, psi_error, shift_error, min_rows)

    def label_free_estimate(self, outputs, param=None) -> None:
        """None: without labels there is no honest estimate of a regression's error."""
        return None
