import math

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from checks.bootstrap import bootstrap_ci, paired_bootstrap
from checks.metrics import CLASSIFICATION_METRICS, METRICS, REGRESSION_METRICS
from checks.monitoring import cbpe_task_success
from checks.output_drift import OutputDrift, compare_scores, score_profile, value_profile
from checks.policy import GateRules
from checks.tasks import BinaryClassification, Regression, Task

BINARY = BinaryClassification(threshold=0.5)
REG = Regression(tolerance=1.0)
OUTPUT_RULES = {"psi_warn": 0.10, "psi_error": 0.25, "shift_error": 0.25, "min_rows": 200}


# --- the interface -----------------------------------------------------------------------------


@pytest.mark.parametrize("task", [BINARY, REG], ids=["binary", "regression"])
def test_both_tasks_answer_the_same_questions(task):
    assert isinstance(task, Task)
    assert task.success_metric == "task_success" and task.success_metric in task.metric_names
    gate = task.default_gate
    assert set(gate["metrics"]) <= set(task.metric_names)
    assert set(gate["floors"]) <= set(gate["metrics"])
    GateRules(**gate)  # policy-shaped: the gate's own validation accepts it
    task.default_gate["metrics"].append("x")  # a fresh dict each time: no shared state
    assert "x" not in task.default_gate["metrics"]


def test_what_differs_between_the_tasks():
    assert (BINARY.kind, BINARY.param, BINARY.registry) == ("binary_classification", 0.5, METRICS)
    assert (REG.kind, REG.param, REG.registry) == ("regression", 1.0, REGRESSION_METRICS)
    assert BINARY.metric_names == CLASSIFICATION_METRICS
    assert REG.metric_names == ("task_success", "mae", "rmse")
    assert BINARY.has_label_free_estimate and not REG.has_label_free_estimate
    assert BINARY.default_gate == {
        "primary_metric": "roc_auc",
        "metrics": ["task_success", "precision", "recall", "f1", "roc_auc", "log_loss", "ece"],
        "floors": {
            "roc_auc": 0.70,
            "task_success": 0.80,
            "log_loss": 0.50,
            "ece": 0.05,
            "recall": 0.20,
            "f1": 0.25,
        },
    }
    assert REG.default_gate == {
        "primary_metric": "task_success",
        "metrics": ["task_success", "mae", "rmse"],
        "floors": {},
    }


@pytest.mark.parametrize(
    "make",
    [
        lambda: BinaryClassification(0.0),
        lambda: BinaryClassification(1.0),
        lambda: BinaryClassification(float("nan")),
        lambda: Regression(-0.1),
        lambda: Regression(float("inf")),
        lambda: Regression(True),
    ],
)
def test_a_parameter_that_decides_nothing_is_refused(make):
    with pytest.raises(ValueError):
        make()


# --- decisions and success, by hand ------------------------------------------------------------


def test_binary_decide_and_correct():
    # threshold 0.5, inclusive:
    #   output   0.9  0.5  0.49  0.1  NaN  1.2
    #   decide   T    T    F     F    F    T     (NaN compares False; 1.2 is >= 0.5)
    #   y        1    0    0     0    0    1
    #   correct  T    F    T     T    F    F     (NaN and 1.2 are invalid outputs: not correct,
    #                                             though their decisions "match" y)
    outputs = [0.9, 0.5, 0.49, 0.1, np.nan, 1.2]
    y = [1, 0, 0, 0, 0, 1]
    assert BINARY.decide(outputs).tolist() == [True, True, False, False, False, True]
    assert BINARY.correct(outputs, y).tolist() == [True, False, True, True, False, False]
    # a lower threshold escalates 0.49 too, which is wrong for its y = 0
    assert BinaryClassification(0.3).correct(outputs[:4], y[:4]).tolist() == [
        True,
        False,
        False,
        True,
    ]


def test_regression_decide_and_correct():
    # tolerance 0.5, |y - output| <= 0.5 (quarter steps: exact in floating point):
    #   output  1.0   2.5  3.0  NaN  -1.0
    #   y       1.25  2.0  4.0  0.0  -1.5
    #   |err|   0.25  0.5  1.0  NaN   0.5
    #   correct T     T    F    F     T
    outputs = np.array([1.0, 2.5, 3.0, np.nan, -1.0])
    y = [1.25, 2.0, 4.0, 0.0, -1.5]
    decided = Regression(0.5).decide(outputs)
    np.testing.assert_array_equal(decided, outputs)
    assert decided is not outputs
    assert Regression(0.5).correct(outputs, y).tolist() == [True, True, False, False, True]
    assert Regression(0.0).correct(outputs, y).tolist() == [False] * 5


@pytest.mark.parametrize("task", [BINARY, REG], ids=["binary", "regression"])
def test_a_missing_label_raises_instead_of_counting_as_wrong(task):
    with pytest.raises(ValueError, match="1 labels are not valid"):
        task.correct([0.2, 0.7], [0, np.nan])
    with pytest.raises(ValueError, match="same length"):
        task.correct([0.2, 0.7], [0])


def test_binary_labels_are_zero_or_one_and_nothing_else():
    with pytest.raises(ValueError, match="not valid binary_classification labels"):
        BINARY.correct([0.2, 0.7], [0, 2])
    values = pd.Series([0, 1, 1.0, 0.0, "1", None, np.nan, 2], index=range(10, 18))
    mask = BINARY.valid_labels(values)
    assert isinstance(mask, pd.Series) and list(mask.index) == list(range(10, 18))
    assert mask.tolist() == [True, True, True, True, False, False, False, False]
    # a float column made so by a null, and a plain array
    assert BINARY.valid_labels(pd.Series([1.0, np.nan, 0.0])).tolist() == [True, False, True]
    assert BINARY.valid_labels(np.array([0, 1, 3])).tolist() == [True, True, False]


def test_regression_labels_are_finite_numbers():
    mixed = pd.Series([1.5, -3, "2", None, np.inf, np.nan, True])
    assert REG.valid_labels(mixed).tolist() == [True, True, False, False, False, False, False]
    assert REG.valid_labels(np.array([2.0, -np.inf])).tolist() == [True, False]
    assert REG.valid_labels(pd.Series([True, False])).tolist() == [False, False]
    nullable = pd.Series([1, None], dtype="Int64")
    assert REG.valid_labels(nullable).tolist() == [True, False]


def test_valid_outputs():
    outputs = [0.0, 1.0, 0.5, -0.1, 1.1, np.nan, np.inf]
    assert BINARY.valid_outputs(outputs).tolist() == [True, True, True, False, False, False, False]
    assert REG.valid_outputs(outputs).tolist() == [True, True, True, True, True, False, False]


# --- predicting ---------------------------------------------------------------------------------


class Refuses:
    """A model that must not be called."""

    classes_ = np.array([0, 1])

    def predict(self, X):
        raise AssertionError("called on empty input")

    predict_proba = predict


def fitted():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y_class = (X["a"] + rng.normal(0, 0.5, 200) > 0).astype(int)
    y_real = 3 * X["a"] - X["b"] + rng.normal(0, 0.1, 200)
    return X, LogisticRegression().fit(X, y_class), LinearRegression().fit(X, y_real)


def test_predict_returns_the_task_s_output_as_floats():
    X, classifier, regressor = fitted()
    p = BINARY.predict(classifier, X)
    assert p.dtype == np.float64 and p.shape == (200,)
    np.testing.assert_array_equal(p, classifier.predict_proba(X)[:, 1])
    pred = REG.predict(regressor, X)
    assert pred.dtype == np.float64
    np.testing.assert_array_equal(pred, regressor.predict(X))


def test_empty_input_returns_empty_without_calling_the_model():
    empty = pd.DataFrame({"a": [], "b": []})
    for task in (BINARY, REG):
        out = task.predict(Refuses(), empty)
        assert out.dtype == np.float64 and out.shape == (0,)


def test_a_classifier_whose_column_one_is_not_class_one_is_refused():
    X, _, _ = fitted()
    labels = np.where(X["a"] > 0, "yes", "no")
    with pytest.raises(ValueError, match=r"classes must be \[0, 1\]"):
        BINARY.predict(LogisticRegression().fit(X, labels), X)


def test_check_trainable_and_training_target():
    BINARY.check_trainable(pd.Series([0, 1, 1.0]))
    assert BINARY.training_target(pd.Series([0.0, 1.0])).tolist() == [0, 1]
    with pytest.raises(ValueError, match="needs both classes"):
        BINARY.check_trainable([1, 1, 1])
    with pytest.raises(ValueError, match="not 0 or 1"):
        BINARY.check_trainable([0, 1, np.nan])
    REG.check_trainable([1.5, 1.5])
    assert REG.training_target([1, 2]).dtype == np.float64
    with pytest.raises(ValueError, match="not a finite number"):
        REG.check_trainable([1.0, np.inf])
    with pytest.raises(ValueError, match="no labels"):
        REG.check_trainable([])


# --- metrics and intervals through the task ----------------------------------------------------


def test_the_task_passes_its_parameter_and_registry_to_the_metrics():
    # tolerance 0.5: |err| = 0.25, 0.5, 1.0, 0.0 -> 3 of 4 within; MAE 0.4375
    y, pred = [10.0, 12.0, 7.0, 3.0], [10.25, 11.5, 8.0, 3.0]
    assert Regression(0.5).compute("task_success", y, pred) == pytest.approx(0.75)
    assert Regression(0.5).compute("mae", y, pred) == pytest.approx(0.4375)
    # the classifier's task_success at threshold 0.3 escalates 0.4: wrong for y = 0
    assert BinaryClassification(0.3).compute("task_success", [0, 1], [0.4, 0.9]) == 0.5
    assert BinaryClassification(0.5).compute("task_success", [0, 1], [0.4, 0.9]) == 1.0


def test_estimates_and_paired_are_the_bootstrap_with_the_task_s_settings():
    rng = np.random.default_rng(1)
    y = rng.normal(0, 5, 300)
    a, b = y + rng.normal(0, 1, 300), y + rng.normal(0, 1.2, 300)
    kw = {"n_resamples": 200, "confidence": 0.9, "seed": 4}
    names = ["task_success", "mae"]
    assert REG.estimates(y, a, names, **kw) == bootstrap_ci(
        y, a, names, threshold=1.0, registry=REGRESSION_METRICS, **kw
    )
    assert REG.paired(y, a, b, names, **kw) == paired_bootstrap(
        y, a, b, names, threshold=1.0, registry=REGRESSION_METRICS, **kw
    )
    labels = (rng.uniform(size=300) < 0.4).astype(int)
    p = rng.uniform(size=300)
    t = BinaryClassification(0.4)
    assert t.estimates(labels, p, ["f1"], **kw) == bootstrap_ci(
        labels, p, ["f1"], threshold=0.4, **kw
    )


def errors(rng, n, sd):
    """Outcomes and predictions off by N(0, sd): the error distribution, so the truth, is known."""
    y = rng.normal(100, 15, n)
    return y, y + rng.normal(0, sd, n)


# For errors e ~ N(0, 1): E|e| = sqrt(2 / pi); P(|e| <= 1) = erf(1 / sqrt 2).
TRUE_MAE = math.sqrt(2 / math.pi)  # 0.7979
TRUE_WITHIN_1 = math.erf(1 / math.sqrt(2))  # 0.6827


def test_coverage_of_regression_intervals_is_nominal():
    trials = 200
    covered = {"mae": 0, "task_success": 0}
    truth = {"mae": TRUE_MAE, "task_success": TRUE_WITHIN_1}
    for i in range(trials):
        y, pred = errors(np.random.default_rng(2000 + i), 400, 1.0)
        out = REG.estimates(y, pred, list(covered), n_resamples=1000, seed=i)
        for name in covered:
            covered[name] += out[name].low <= truth[name] <= out[name].high
    for name, count in covered.items():
        assert 0.90 <= count / trials <= 0.99, (name, count / trials)


def test_equally_good_regressions_are_rarely_told_apart():
    # Two models with independent errors of the same size. The gate's superiority criterion
    # (low > 0) is a one-sided 2.5% test; the interval excludes 0 either way 5% of the time.
    trials = 200
    one_sided = {"mae": 0, "task_success": 0}
    two_sided = dict(one_sided)
    for i in range(trials):
        rng = np.random.default_rng(3000 + i)
        y, a = errors(rng, 300, 1.0)
        b = y + rng.normal(0, 1.0, 300)
        d = REG.paired(y, a, b, list(one_sided), n_resamples=1000, seed=i)
        for name in one_sided:
            one_sided[name] += d[name].low > 0
            two_sided[name] += d[name].low > 0 or d[name].high < 0
    for name in one_sided:
        assert one_sided[name] / trials <= 0.05, (name, one_sided[name] / trials)
        assert two_sided[name] / trials <= 0.07, (name, two_sided[name] / trials)


def test_a_regression_with_clearly_lower_error_is_detected():
    # Error sd 0.7 against 1.0 at n = 300: the MAE difference 0.24 is ~5.6 standard errors;
    # the share within tolerance 1, 0.847 against 0.683, ~4.8.
    trials = 100
    detected = {"mae": 0, "task_success": 0}
    for i in range(trials):
        rng = np.random.default_rng(4000 + i)
        y, good = errors(rng, 300, 0.7)
        worse = y + rng.normal(0, 1.0, 300)
        d = REG.paired(y, good, worse, list(detected), n_resamples=1000, seed=i)
        for name in detected:
            detected[name] += d[name].low > 0
    for name, count in detected.items():
        assert count / trials >= 0.95, (name, count / trials)


# --- output profiles -----------------------------------------------------------------------------


def test_binary_output_profile_and_its_comparison_are_the_score_ones():
    rng = np.random.default_rng(5)
    ref_scores, scores = rng.beta(2, 5, 3000), rng.beta(3, 4, 1000)
    task = BinaryClassification(0.4)
    reference = task.output_profile(ref_scores)
    assert reference == score_profile(ref_scores, 0.4)
    current = task.output_profile(scores, reference)
    assert current == score_profile(scores, 0.4)
    drift = task.compare_output_profiles(current, reference, 0.1, 0.25, 0.1, 200)
    assert isinstance(drift, OutputDrift)
    assert drift == compare_scores(current, reference, 0.1, 0.25, 0.1, 200)
    with pytest.raises(ValueError, match="threshold 0.5"):
        task.output_profile(scores, score_profile(ref_scores, 0.5))


def test_binary_label_free_estimate_is_cbpe():
    p = np.random.default_rng(6).uniform(size=500)
    for t in (0.5, 0.3):
        assert BinaryClassification(t).label_free_estimate(p) == cbpe_task_success(p, t)
    # For threshold 0.5 it is the mean of max(p, 1 - p).
    assert BINARY.label_free_estimate(p).value == pytest.approx(np.maximum(p, 1 - p).mean())


def test_regression_has_no_label_free_estimate():
    assert REG.label_free_estimate(np.arange(10.0)) is None


def test_confidence_is_known_for_a_calibrated_classifier_only():
    # max(p, 1 - p): how sure the classifier is of the decision it made
    np.testing.assert_allclose(BINARY.confidence([0.2, 0.5, 0.9, 1.0]), [0.8, 0.5, 0.9, 1.0])
    # the same whatever the threshold: it is about the probability, not the decision
    np.testing.assert_allclose(BinaryClassification(0.3).confidence([0.2]), [0.8])
    # a regression's prediction carries no statement of its own error
    sure = REG.confidence([1.0, 2.0, 3.0])
    assert sure.shape == (3,) and np.isnan(sure).all()


def test_regression_output_profile_uses_the_reference_bins():
    rng = np.random.default_rng(7)
    reference = REG.output_profile(rng.normal(5, 2, 5000))
    # deciles: about a tenth of the reference in each bin
    assert reference["counts"] == pytest.approx([500] * 10, abs=1)
    day = rng.normal(5, 2, 800)
    current = REG.output_profile(day, reference)
    assert current == value_profile(day, reference["edges"])
    assert current["edges"] == reference["edges"] and sum(current["counts"]) == 800


def day_levels(shift_sd: float = 0.0, spread: float = 1.0, days: int = 100, seed: int = 8):
    """Levels of days of 2,000 outputs against a reference of 10,000 from N(5, 2)."""
    rng = np.random.default_rng(seed)
    reference = REG.output_profile(rng.normal(5, 2, 10_000))
    drifts = [
        REG.compare_output_profiles(
            REG.output_profile(rng.normal(5 + 2 * shift_sd, 2 * spread, 2_000), reference),
            reference,
            **OUTPUT_RULES,
        )
        for _ in range(days)
    ]
    return drifts


def test_regression_output_drift_false_alarms_on_null_days():
    drifts = day_levels(days=300)
    levels = [d.level for d in drifts]
    assert levels.count("error") / 300 <= 0.01
    assert levels.count("warn") / 300 <= 0.01
    # Null PSI with 10 bins, 2,000 against 10,000 rows is about 9 * (1/2000 + 1/10000) = 0.005.
    assert np.median([d.psi for d in drifts]) < 0.02


def test_regression_output_drift_catches_a_shift_of_the_mean():
    drifts = day_levels(shift_sd=1.0)
    assert sum(d.level == "error" for d in drifts) / len(drifts) >= 0.95
    assert all(d.statistic == "mean" and d.shift == pytest.approx(1.0, abs=0.1) for d in drifts)


def test_regression_output_drift_catches_a_wider_spread_at_the_same_mean():
    # The mean does not move; only PSI on the decile bins can see this.
    drifts = day_levels(spread=2.0)
    assert all(abs(d.shift) < OUTPUT_RULES["shift_error"] for d in drifts)
    assert sum(d.level == "error" for d in drifts) / len(drifts) >= 0.95
