import numpy as np
import pytest

from checks.bootstrap import Difference, Estimate, _resample_blocks, bootstrap_ci, paired_bootstrap
from checks.metrics import (
    CLASSIFICATION_METRICS,
    METRICS,
    REGRESSION,
    REGRESSION_METRICS,
    Metric,
    compute,
    register_metric,
)

ALL = list(CLASSIFICATION_METRICS)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def two_models(seed: int, n: int = 500, noise_a: float = 0.8, noise_b: float = 0.8):
    """Outcomes from a known logit; each model sees the logit through its own noise."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-1.2, 2.0, n)
    y = (rng.uniform(size=n) < sigmoid(z)).astype(int)
    return y, sigmoid(z + rng.normal(0, noise_a, n)), sigmoid(z + rng.normal(0, noise_b, n))


def test_estimates_hold_the_point_value_and_an_interval_around_it():
    y, p, _ = two_models(1)
    out = bootstrap_ci(y, p, ALL, threshold=0.5, n_resamples=1000, seed=7)
    assert list(out) == ALL
    for name, est in out.items():
        assert isinstance(est, Estimate)
        assert est.value == pytest.approx(compute(name, y, p, 0.5))
        assert est.low <= est.high and est.n == 1000 and est.reason is None
        if name != "ece":  # ECE is biased upward under resampling; its point can sit below
            assert est.low <= est.value <= est.high


def test_same_seed_same_interval_and_the_seed_matters():
    y, p, _ = two_models(2)
    a = bootstrap_ci(y, p, ["roc_auc"], threshold=0.5, n_resamples=300, seed=1)
    b = bootstrap_ci(y, p, ["roc_auc"], threshold=0.5, n_resamples=300, seed=1)
    c = bootstrap_ci(y, p, ["roc_auc"], threshold=0.5, n_resamples=300, seed=2)
    assert a == b and a != c


def test_resampling_in_blocks_bounds_memory_without_changing_the_answer(monkeypatch):
    y, p, _ = two_models(3, n=300)
    whole = bootstrap_ci(y, p, ["roc_auc", "f1"], threshold=0.5, n_resamples=200, seed=5)
    monkeypatch.setattr("checks.bootstrap._BLOCK_CELLS", 300 * 7)  # blocks of 7 resamples
    blocks = list(_resample_blocks(300, 200, seed=5))
    assert len(blocks) == 29 and sum(idx.shape[0] for idx, _ in blocks) == 200
    blocked = bootstrap_ci(y, p, ["roc_auc", "f1"], threshold=0.5, n_resamples=200, seed=5)
    for name in whole:
        assert blocked[name].n == 200
        assert blocked[name].value == whole[name].value
        # Other draws, same distribution: the intervals agree to sampling error.
        assert blocked[name].low == pytest.approx(whole[name].low, abs=0.03)


def test_a_metric_without_a_batch_form_is_resampled_one_by_one(monkeypatch):
    monkeypatch.setattr("checks.metrics.METRICS", dict(METRICS))
    slow = METRICS["recall"]
    register_metric(Metric("recall_slow", slow.fn, True, "recall via fn", needs_positives=True))
    y, p, _ = two_models(4, n=200)
    fast = bootstrap_ci(y, p, ["recall"], threshold=0.5, n_resamples=200, seed=3)["recall"]
    loop = bootstrap_ci(y, p, ["recall_slow"], threshold=0.5, n_resamples=200, seed=3)
    assert loop["recall_slow"] == fast  # same resamples, same numbers, either path


def test_resamples_where_the_metric_is_undefined_are_dropped():
    # One positive in 12: a resample misses it with probability (11/12)^12 = 0.35.
    y = np.array([1] + [0] * 11)
    p = np.linspace(0.9, 0.1, 12)
    est = bootstrap_ci(y, p, ["roc_auc"], threshold=0.5, n_resamples=1000, seed=9)["roc_auc"]
    idx, _ = next(_resample_blocks(12, 1000, seed=9))
    with_positive = int((idx == 0).any(axis=1).sum())
    assert est.n == with_positive and 550 < est.n < 750
    assert est.value == 1.0 and est.low == est.high == 1.0


def test_mostly_undefined_gives_no_interval_and_says_how_many_counted(monkeypatch):
    monkeypatch.setattr("checks.metrics.METRICS", dict(METRICS))
    # Undefined whenever the resample's first example is positive: 80% of resamples here.
    register_metric(Metric("fragile", lambda y, p, t: np.nan if y[0] else 0.5, True, "test double"))
    y = np.array([0] + [1] * 49 + [0] * 10)
    p = np.full(60, 0.5)
    est = bootstrap_ci(y, p, ["fragile"], threshold=0.5, n_resamples=400, seed=1)["fragile"]
    assert est.value == 0.5 and est.low is None and est.high is None
    assert 40 < est.n < 130 and est.reason == f"defined in only {est.n} of 400 resamples"


def test_undefined_on_the_full_data_is_none_with_the_reason():
    y = np.zeros(50, dtype=int)
    p = np.r_[np.full(40, 0.2), np.full(10, 0.7)]
    out = bootstrap_ci(y, p, ["roc_auc", "task_success"], threshold=0.5, n_resamples=100, seed=1)
    assert out["roc_auc"] == Estimate(None, None, None, 0, 0.95, "slice has one class (all y=0)")
    assert out["task_success"].value == pytest.approx(0.8)  # the 10 with p >= 0.5 are wrong
    diff = paired_bootstrap(y, p, p, ["roc_auc"], threshold=0.5, n_resamples=100, seed=1)
    assert diff["roc_auc"].diff is None and diff["roc_auc"].reason.startswith("slice has one")


def test_identical_models_differ_by_exactly_zero():
    y, p, _ = two_models(5)
    out = paired_bootstrap(y, p, p.copy(), ALL, threshold=0.5, n_resamples=1000, seed=7)
    for d in out.values():
        assert isinstance(d, Difference)
        assert d.diff == 0 and d.low <= 0 <= d.high and d.p_better == 0.0 and d.n == 1000


def test_positive_means_challenger_better_for_lower_is_better_metrics_too():
    y, good, bad = two_models(6, noise_a=0.2, noise_b=1.5)
    out = paired_bootstrap(y, good, bad, ALL, threshold=0.5, n_resamples=500, seed=7)
    # log loss: champion - challenger, so a lower challenger log loss is a positive difference
    assert out["log_loss"].diff == pytest.approx(
        compute("log_loss", y, bad) - compute("log_loss", y, good)
    )
    assert out["log_loss"].diff > 0 and out["roc_auc"].diff > 0
    swapped = paired_bootstrap(y, bad, good, ["log_loss"], threshold=0.5, n_resamples=500, seed=7)
    assert swapped["log_loss"].diff == pytest.approx(-out["log_loss"].diff)


def test_coverage_of_the_task_success_interval_is_nominal():
    # Calibrated model with p ~ Uniform(0, 1), threshold 0.5: the action is right with
    # probability max(p, 1 - p), so the true task success is E[max(p, 1 - p)] = 0.75.
    datasets, covered = 300, 0
    for i in range(datasets):
        rng = np.random.default_rng(1000 + i)
        p = rng.uniform(size=500)
        y = (rng.uniform(size=500) < p).astype(int)
        est = bootstrap_ci(y, p, ["task_success"], threshold=0.5, n_resamples=1000, seed=i)
        covered += est["task_success"].low <= 0.75 <= est["task_success"].high
    assert 0.92 <= covered / datasets <= 0.98


def test_clearly_better_challenger_is_detected():
    y, good, noisy = two_models(21, noise_a=0.3, noise_b=1.2)
    d = paired_bootstrap(y, good, noisy, ["roc_auc"], threshold=0.5, n_resamples=1000, seed=7)
    assert d["roc_auc"].p_better > 0.95 and d["roc_auc"].low > 0
    detected = 0
    for trial in range(40):
        y, good, noisy = two_models(9000 + trial, noise_a=0.3, noise_b=1.2)
        d = paired_bootstrap(y, good, noisy, ["roc_auc"], threshold=0.5, n_resamples=1000, seed=1)
        detected += d["roc_auc"].low > 0
    assert detected / 40 >= 0.9


def test_under_the_null_the_gate_criterion_rarely_fires():
    # Equally good, different models: independent logit noise of the same size.
    trials, fired = 200, 0
    for trial in range(trials):
        y, a, b = two_models(5000 + trial)
        d = paired_bootstrap(y, a, b, ["roc_auc"], threshold=0.5, n_resamples=1000, seed=trial)
        fired += d["roc_auc"].low > 0
    assert fired / trials <= 0.05


def test_bad_settings_raise():
    y, p, _ = two_models(7, n=50)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(y, p, ["f1"], threshold=0.5, n_resamples=10, confidence=95, seed=1)
    with pytest.raises(KeyError, match="unknown metric"):
        bootstrap_ci(y, p, ["auc"], threshold=0.5, n_resamples=10, seed=1)
    with pytest.raises(ValueError, match="same length"):
        paired_bootstrap(y, p, p[:-1], ["f1"], threshold=0.5, n_resamples=10, seed=1)


# --- the regression registry -----------------------------------------------------------------


def regression_data(seed: int, n: int = 300):
    rng = np.random.default_rng(seed)
    y = rng.normal(50, 10, n)
    return y, y + rng.normal(0, 2, n), y + rng.normal(0, 3, n)


def test_the_registry_decides_lookup_and_validation():
    y, a, _ = regression_data(1)
    out = bootstrap_ci(
        y,
        a,
        ["mae", "task_success"],
        threshold=2.0,
        n_resamples=300,
        seed=1,
        registry=REGRESSION_METRICS,
    )
    for name, est in out.items():
        assert est.value == pytest.approx(compute(name, y, a, 2.0, registry=REGRESSION_METRICS))
        assert est.low <= est.value <= est.high and est.n == 300
    # Without the registry, the classification rules apply: these are not 0/1 outcomes.
    with pytest.raises(ValueError, match="0 and 1"):
        bootstrap_ci(y, a, ["task_success"], threshold=2.0, n_resamples=10, seed=1)
    with pytest.raises(KeyError, match="regression metric"):
        bootstrap_ci(np.r_[0, 1], np.r_[0.2, 0.7], ["mae"], threshold=0.5, n_resamples=10, seed=1)


def test_a_regression_metric_without_a_batch_form_uses_its_registry(monkeypatch):
    registry = dict(REGRESSION_METRICS)
    mae = REGRESSION_METRICS["mae"]
    register_metric(Metric("mae_slow", mae.fn, False, "mae via fn", kind=REGRESSION), registry)
    y, a, b = regression_data(2, n=120)
    kw = {"threshold": 2.0, "n_resamples": 150, "seed": 3, "registry": registry}
    # Same resamples, same numbers either path (to rounding: a matrix product against a mean).
    fast, slow = bootstrap_ci(y, a, ["mae", "mae_slow"], **kw).values()
    assert (slow.value, slow.low, slow.high) == pytest.approx((fast.value, fast.low, fast.high))
    assert slow.n == fast.n == 150
    d_fast, d_slow = paired_bootstrap(y, a, b, ["mae", "mae_slow"], **kw).values()
    assert (d_slow.diff, d_slow.low, d_slow.high) == pytest.approx(
        (d_fast.diff, d_fast.low, d_fast.high)
    )
    assert d_fast.diff > 0  # noise sd 2 beats sd 3: a lower MAE is a positive difference


def test_identical_regressions_differ_by_exactly_zero():
    y, a, _ = regression_data(3)
    out = paired_bootstrap(
        y,
        a,
        a.copy(),
        ["task_success", "mae", "rmse"],
        threshold=2.0,
        n_resamples=200,
        seed=1,
        registry=REGRESSION_METRICS,
    )
    for d in out.values():
        assert d.diff == 0 and d.low == d.high == 0 and d.p_better == 0.0 and d.n == 200
