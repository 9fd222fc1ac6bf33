"""Who serves each ticket: arms, a failing challenger, the switch off and a pinned version."""

import numpy as np
import pandas as pd
import pytest

from assets.feature_definitions import FEATURE_COLUMNS
from assets.serving import RULES, Scorer, serve

N = 20_000


class Constant:
    """A stand-in model whose probability is fixed (the arms, not the model, are under test)."""

    def __init__(self, p):
        self.p = p

    def predict_proba(self, x):
        p = np.broadcast_to(np.asarray(self.p, dtype="float64"), (len(x),))
        return np.column_stack([1 - p, p])


class Broken:
    def predict_proba(self, x):
        raise RuntimeError("feature 'plan_tier' has an unknown value")


def _features(n=N, start=0) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({c: rng.normal(size=n) for c in FEATURE_COLUMNS})
    frame["priority"] = rng.choice(["low", "normal", "high", "urgent"], size=n)
    frame["ticket_id"] = [f"T{i:07d}" for i in range(start, start + n)]
    return frame


CHAMPION = Scorer("1", Constant(0.2))


def _serve(features, fraction, challenger=None):
    return serve(
        features,
        main=CHAMPION,
        challenger=challenger or Scorer("4", Constant(0.9)),
        rollout_id="v4-2026-03-01",
        fraction=fraction,
        threshold=0.5,
        fallback_priorities=["urgent"],
        scored_at="2026-03-02T02:00:00+00:00",
    ).frame


def test_shadow_scores_every_ticket_with_both_and_serves_only_the_champion():
    out = _serve(_features(), 0.0)
    assert set(out["arm"]) == {"champion"} and set(out["model_version"]) == {"1"}
    assert np.allclose(out["challenger_score"], 0.9) and np.allclose(out["score"], 0.2)


@pytest.mark.parametrize("fraction", [0.01, 0.05, 0.25, 0.5])
def test_the_canary_arm_is_close_to_the_fraction_and_served_by_the_challenger(fraction):
    out = _serve(_features(), fraction)
    canary = out["arm"] == "canary"
    se = np.sqrt(fraction * (1 - fraction) / N)
    assert abs(canary.mean() - fraction) < 4 * se
    assert set(out.loc[canary, "model_version"]) == {"4"}
    assert np.allclose(out.loc[canary, "score"], 0.9)
    assert set(out.loc[~canary, "model_version"]) == {"1"}


def test_a_ticket_keeps_its_arm_on_rescoring_and_when_the_canary_grows():
    features = _features()
    first = _serve(features, 0.05)
    again = _serve(features.sample(frac=1.0, random_state=1), 0.05).set_index("ticket_id")
    assert (again.loc[first["ticket_id"], "arm"].to_numpy() == first["arm"].to_numpy()).all()
    wider = _serve(features, 0.25)
    was_canary = first["arm"] == "canary"
    assert (wider.loc[was_canary, "arm"] == "canary").all()  # nobody leaves the canary


def test_a_challenger_that_fails_counts_every_row_as_an_error_and_the_champion_serves():
    out = _serve(_features(2_000), 0.5, challenger=Scorer("4", Broken()))
    assert out["challenger_error"].all() and set(out["model_version"]) == {"1"}
    partly = _serve(_features(2_000), 0.5, challenger=Scorer("4", Constant([np.nan, 0.9] * 1000)))
    assert partly["challenger_error"].mean() == pytest.approx(0.5)
    # A canary ticket without a valid challenger score is served by the champion.
    assert set(partly.loc[partly["challenger_error"], "model_version"]) == {"1"}


def test_switched_off_the_rule_based_default_serves_and_is_recorded_as_the_version():
    features = _features(2_000)
    out = serve(
        features,
        main=None,
        threshold=0.5,
        fallback_priorities=["urgent"],
        scored_at="2026-03-02T02:00:00+00:00",
    ).frame
    assert set(out["model_version"]) == {RULES} and set(out["arm"]) == {"flag_off"}
    assert (out["escalate"] == (features["priority"] == "urgent")).all()
    assert out["champion_score"].isna().all()


def test_an_empty_day_is_scored_as_no_rows_not_an_error():
    out = _serve(_features(0), 0.25)
    assert out.empty and "challenger_error" in out.columns
