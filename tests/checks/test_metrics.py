import math

import numpy as np
import pytest
from sklearn.metrics import ndcg_score, roc_auc_score

from checks.bootstrap import _resample_blocks
from checks.metrics import (
    CLASSIFICATION_METRICS,
    METRICS,
    REGRESSION,
    REGRESSION_METRIC_NAMES,
    REGRESSION_METRICS,
    Metric,
    compute,
    faithfulness,
    false_negative_rate,
    get_metric,
    ndcg_at_k,
    precision_at_k,
    register_metric,
    undefined_reason,
)

# Five tickets, threshold 0.5:
#   y      = 1    0    1     1    0
#   p      = 0.9  0.4  0.35  0.8  0.2
#   action = 1    0    0     1    0     -> TP=2 (#1, #4), FN=1 (#3), FP=0, TN=2
Y = np.array([1, 0, 1, 1, 0])
P = np.array([0.9, 0.4, 0.35, 0.8, 0.2])


def test_builtins_are_registered_with_their_direction():
    assert set(CLASSIFICATION_METRICS) == {
        "task_success",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
        "ece",
    }
    assert not METRICS["log_loss"].higher_is_better and not METRICS["ece"].higher_is_better
    assert METRICS["roc_auc"].needs_both_classes


def test_hand_computed_values():
    # task success: 4 of 5 actions right (only #3, p=0.35 with y=1, is wrong) = 0.8
    assert compute("task_success", Y, P, 0.5) == pytest.approx(0.8)
    # precision: TP / (TP + FP) = 2 / 2 = 1.0
    assert compute("precision", Y, P, 0.5) == pytest.approx(1.0)
    # recall: TP / (TP + FN) = 2 / 3
    assert compute("recall", Y, P, 0.5) == pytest.approx(2 / 3)
    # F1: 2TP / (2TP + FP + FN) = 4 / 5 = 0.8
    assert compute("f1", Y, P, 0.5) == pytest.approx(0.8)
    # ROC AUC by pair counting: positives {0.9, 0.35, 0.8} x negatives {0.4, 0.2}:
    # 0.9 beats both, 0.8 beats both, 0.35 beats only 0.2 -> 5 of 6 pairs
    assert compute("roc_auc", Y, P, 0.5) == pytest.approx(5 / 6)
    # log loss: -(ln 0.9 + ln 0.6 + ln 0.35 + ln 0.8 + ln 0.8) / 5
    #         = (0.105361 + 0.510826 + 1.049822 + 0.223144 + 0.223144) / 5 = 0.422459
    expected = -(math.log(0.9) + math.log(0.6) + math.log(0.35) + 2 * math.log(0.8)) / 5
    assert compute("log_loss", Y, P, 0.5) == pytest.approx(expected)
    assert expected == pytest.approx(0.422459, abs=1e-6)
    # ECE: each p is alone in its bin (9, 4, 3, 8, 2), so ECE = mean |y - p|
    #    = (0.1 + 0.4 + 0.65 + 0.2 + 0.2) / 5 = 1.55 / 5 = 0.31
    assert compute("ece", Y, P, 0.5) == pytest.approx(0.31)


def test_ece_weights_shared_bins_by_count():
    # bin 1: p {0.12, 0.18} mean 0.15, y {0, 1} mean 0.5 -> |0.5 - 0.15| = 0.35, weight 2/4
    # bin 8: p 0.85, y 1 -> 0.15, weight 1/4;  bin 9: p 0.95, y 1 -> 0.05, weight 1/4
    # ECE = 0.175 + 0.0375 + 0.0125 = 0.225
    assert compute("ece", [0, 1, 1, 1], [0.12, 0.18, 0.85, 0.95]) == pytest.approx(0.225)
    # p = 1.0 joins the last bin instead of an eleventh one
    assert compute("ece", [1, 1], [1.0, 0.9]) == pytest.approx(0.05)


def test_threshold_decides_the_action_inclusively():
    # p >= threshold escalates: at 0.35 all three positives are caught, #2 (0.4) is a FP
    assert compute("recall", Y, P, 0.35) == pytest.approx(1.0)
    assert compute("precision", Y, P, 0.35) == pytest.approx(3 / 4)


def test_undefined_metrics_are_none_with_a_reason_never_nan():
    one_class = np.zeros(4, dtype=int)
    p = np.array([0.1, 0.2, 0.6, 0.3])
    assert compute("roc_auc", one_class, p) is None
    assert undefined_reason("roc_auc", one_class, p) == "slice has one class (all y=0)"
    assert compute("recall", one_class, p) is None
    assert undefined_reason("recall", one_class, p) == "slice has no positive examples"
    assert undefined_reason("task_success", one_class, p) is None
    assert compute("roc_auc", [], []) is None
    assert undefined_reason("log_loss", [], []) == "no examples"


def test_precision_with_no_predicted_positive_is_zero_by_convention():
    assert compute("precision", [1, 0, 1], [0.1, 0.2, 0.3]) == 0.0
    assert compute("f1", [0, 0], [0.1, 0.2]) == 0.0


def test_bad_input_raises_instead_of_being_undefined():
    with pytest.raises(ValueError, match="0 and 1"):
        compute("task_success", [0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="probabilities"):
        compute("task_success", [0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="same length"):
        compute("task_success", [0, 1], [0.1])
    with pytest.raises(KeyError, match="unknown metric 'auc'"):
        compute("auc", [0, 1], [0.1, 0.2])


def test_a_workflow_registers_a_metric_once_and_only_once(monkeypatch):
    monkeypatch.setattr("checks.metrics.METRICS", dict(METRICS))
    from checks import metrics

    fnr = Metric(
        "false_negative_rate",
        lambda y, p, t: false_negative_rate(y, p >= t),
        higher_is_better=False,
        description="share of escalations missed",
        needs_positives=True,
    )
    register_metric(fnr)
    assert metrics.METRICS["false_negative_rate"] is fnr
    # FN=1 of 3 positives in the five-ticket example
    assert metrics.compute("false_negative_rate", Y, P, 0.5) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="already registered"):
        register_metric(fnr)
    with pytest.raises(ValueError, match="already registered"):
        register_metric(METRICS["roc_auc"])


def test_a_registered_metric_returning_nan_is_reported_undefined(monkeypatch):
    monkeypatch.setattr("checks.metrics.METRICS", dict(METRICS))
    from checks import metrics

    register_metric(Metric("always_nan", lambda y, p, t: float("nan"), True, "broken"))
    assert metrics.compute("always_nan", Y, P) is None


@pytest.mark.parametrize("name", CLASSIFICATION_METRICS)
def test_batch_form_equals_the_metric_on_every_resample(name):
    rng = np.random.default_rng(3)
    n = 200
    p = np.round(rng.uniform(size=n), 2)  # rounded: ties, which ROC AUC must count half
    p[:5] = [0.0, 1.0, 0.5, 0.5, 0.3]  # edges of the threshold and of the ECE bins
    y = (rng.uniform(size=n) < p).astype(int)
    idx, weights = next(_resample_blocks(n, 60, seed=4))
    batch = METRICS[name].batch(y, p, 0.5, weights)
    expected = [compute(name, y[row], p[row], 0.5) for row in idx]
    np.testing.assert_allclose(batch, np.array(expected, dtype=float), rtol=0, atol=1e-12)


def test_vectorised_roc_auc_equals_sklearn_on_random_data():
    rng = np.random.default_rng(11)
    for trial in range(20):
        n = int(rng.integers(20, 300))
        p = rng.uniform(size=n)
        if trial % 2:
            p = np.round(p, 1)  # heavy ties
        y = (rng.uniform(size=n) < p).astype(int)
        idx, weights = next(_resample_blocks(n, 5, seed=trial))
        got = METRICS["roc_auc"].batch(y, p, 0.5, weights)
        for row, value in zip(idx, got, strict=True):
            if 0 < y[row].sum() < n:
                assert value == pytest.approx(roc_auc_score(y[row], p[row]), abs=1e-12)
            else:
                assert np.isnan(value)
        identity = np.ones((1, n))
        assert METRICS["roc_auc"].batch(y, p, 0.5, identity)[0] == pytest.approx(
            roc_auc_score(y, p), abs=1e-12
        )


def test_precision_at_k():
    ranked = ["d3", "d1", "d7", "d2", "d5"]
    relevant = {"d1", "d2", "d9"}
    assert precision_at_k(ranked, relevant, 3) == pytest.approx(1 / 3)  # d1 in d3, d1, d7
    assert precision_at_k(ranked, relevant, 5) == pytest.approx(2 / 5)  # d1, d2
    # only five ranked: the five empty slots of k=10 count as misses -> 2 / 10
    assert precision_at_k(ranked, relevant, 10) == pytest.approx(0.2)
    with pytest.raises(ValueError):
        precision_at_k(ranked, relevant, 0)


def test_ndcg_at_k():
    rel = [3, 2, 3, 0, 1, 2]
    # DCG@6  = 3/1 + 2/log2(3) + 3/2 + 0/log2(5) + 1/log2(6) + 2/log2(7)
    #        = 3 + 1.261860 + 1.5 + 0 + 0.386853 + 0.712414 = 6.861127
    # IDCG@6 (sorted 3, 3, 2, 2, 1, 0) = 3 + 1.892789 + 1 + 0.861353 + 0.386853 = 7.140995
    # NDCG@6 = 6.861127 / 7.140995 = 0.960808
    assert ndcg_at_k(rel, 6) == pytest.approx(0.960808, abs=1e-6)
    # NDCG@3 = (3 + 1.261860 + 1.5) / (3 + 1.892789 + 1) = 5.761860 / 5.892789 = 0.977782
    assert ndcg_at_k(rel, 3) == pytest.approx(0.977782, abs=1e-6)
    # same as sklearn's ndcg_score with scores that reproduce the ranking
    scores = [np.arange(len(rel), 0, -1)]
    assert ndcg_at_k(rel, 3) == pytest.approx(ndcg_score([rel], scores, k=3))
    assert ndcg_at_k([0, 0, 0], 3) == 0.0  # nothing relevant: 0.0 by convention
    assert ndcg_at_k([1, 0], 5) == 1.0  # k beyond the list: the list is all there is


def test_faithfulness():
    generated = "The refund was approved on Monday."
    context = "Your refund was approved and sent on Tuesday."
    # content tokens: generated {refund, approved, monday}; context {refund, approved, sent,
    # tuesday} -> 2 of 3 supported
    assert faithfulness(generated, context) == pytest.approx(2 / 3)
    assert faithfulness("Refund refund approved.", context) == 1.0
    assert faithfulness("", context) is None  # nothing to judge
    assert faithfulness("It is what it is.", context) is None  # stopwords only


def test_false_negative_rate():
    # positives at #0, #1, #2, #5; missed #1 and #5 -> FN=2, TP=2 -> 2 / 4
    assert false_negative_rate([1, 1, 1, 0, 0, 1], [1, 0, 1, 0, 1, 0]) == pytest.approx(0.5)
    assert false_negative_rate([0, 0], [1, 0]) is None  # nothing to catch
    with pytest.raises(ValueError):
        false_negative_rate([1, 0], [1])


# --- regression registry ---------------------------------------------------------------------

# Four predictions, tolerance 0.5:
#   y          = 10.0  12.0  7.0   3.0
#   prediction = 10.25 11.5  8.0   3.0
#   |error|    = 0.25  0.5   1.0   0.0   -> within (inclusive): 3 of 4
YR = np.array([10.0, 12.0, 7.0, 3.0])
PR = np.array([10.25, 11.5, 8.0, 3.0])


def test_regression_metrics_live_in_their_own_registry():
    assert set(REGRESSION_METRIC_NAMES) == {"task_success", "mae", "rmse"}
    assert all(m.kind == REGRESSION for m in REGRESSION_METRICS.values())
    assert REGRESSION_METRICS["task_success"].higher_is_better
    assert not REGRESSION_METRICS["mae"].higher_is_better
    assert not REGRESSION_METRICS["rmse"].higher_is_better
    # Same name, two metrics: neither registry's task_success replaced the other's.
    assert REGRESSION_METRICS["task_success"] is not METRICS["task_success"]
    assert get_metric("task_success") is METRICS["task_success"]
    assert tuple(METRICS) == CLASSIFICATION_METRICS


def test_regression_hand_computed_values():
    r = REGRESSION_METRICS
    assert compute("task_success", YR, PR, 0.5, registry=r) == pytest.approx(3 / 4)
    # a tighter tolerance: only the exact one and the 0.25 miss remain
    assert compute("task_success", YR, PR, 0.25, registry=r) == pytest.approx(2 / 4)
    # MAE = (0.25 + 0.5 + 1.0 + 0) / 4 = 0.4375
    assert compute("mae", YR, PR, 0.5, registry=r) == pytest.approx(0.4375)
    # RMSE = sqrt((0.0625 + 0.25 + 1.0 + 0) / 4) = sqrt(0.328125) = 0.572822
    assert compute("rmse", YR, PR, 0.5, registry=r) == pytest.approx(0.572822, abs=1e-6)
    assert compute("mae", [], [], 0.5, registry=r) is None
    assert undefined_reason("rmse", [], [], 0.5, registry=r) == "no examples"


def test_a_regression_name_without_the_regression_registry_is_a_clear_error():
    with pytest.raises(KeyError, match="'mae' is a regression metric"):
        compute("mae", [0, 1], [0.1, 0.2])
    with pytest.raises(KeyError, match="'roc_auc' is a classification metric"):
        get_metric("roc_auc", REGRESSION_METRICS)


def test_regression_inputs_are_real_numbers_not_probabilities():
    r = REGRESSION_METRICS
    # outcomes and predictions far outside [0, 1] are fine for a regression
    assert compute("mae", [-50.0, 300.0], [-49.0, 303.0], 1.0, registry=r) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="predictions must hold finite"):
        compute("mae", [1.0, 2.0], [1.0, np.nan], 1.0, registry=r)
    with pytest.raises(ValueError, match="y must hold finite"):
        compute("mae", [1.0, np.inf], [1.0, 2.0], 1.0, registry=r)
    with pytest.raises(ValueError, match="real numbers"):
        compute("mae", ["1.0", "2.0"], [1.0, 2.0], 1.0, registry=r)
    with pytest.raises(ValueError, match="real numbers"):
        compute("mae", [True, False], [1.0, 2.0], 1.0, registry=r)
    with pytest.raises(ValueError, match="same length"):
        compute("mae", [1.0, 2.0], [1.0], 1.0, registry=r)


def test_regression_task_success_needs_a_tolerance():
    with pytest.raises(ValueError, match="tolerance"):
        compute("task_success", YR, PR, registry=REGRESSION_METRICS)
    with pytest.raises(ValueError, match="tolerance"):
        compute("task_success", YR, PR, -0.1, registry=REGRESSION_METRICS)
    # MAE does not use it
    assert compute("mae", YR, PR, registry=REGRESSION_METRICS) == pytest.approx(0.4375)


def test_a_registry_holds_one_kind_of_metric(monkeypatch):
    monkeypatch.setattr("checks.metrics.METRICS", dict(METRICS))
    with pytest.raises(ValueError, match="takes regression inputs"):
        register_metric(Metric("mae", REGRESSION_METRICS["mae"].fn, False, "x", kind=REGRESSION))


@pytest.mark.parametrize("name", REGRESSION_METRIC_NAMES)
def test_regression_batch_form_equals_the_metric_on_every_resample(name):
    rng = np.random.default_rng(5)
    n = 150
    # Quarter steps are exact in binary floating point, so many errors sit exactly on the
    # tolerance 1.5, where "within" is inclusive.
    y = np.round(rng.normal(20, 5, n) * 4) / 4
    pred = y + np.round(rng.normal(0, 2, n) * 4) / 4
    assert (np.abs(y - pred) == 1.5).sum() >= 5
    idx, weights = next(_resample_blocks(n, 60, seed=6))
    batch = REGRESSION_METRICS[name].batch(y, pred, 1.5, weights)
    expected = [compute(name, y[row], pred[row], 1.5, registry=REGRESSION_METRICS) for row in idx]
    np.testing.assert_allclose(batch, np.array(expected, dtype=float), rtol=1e-12, atol=1e-12)
