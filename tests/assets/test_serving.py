"""Who serves each row: arms, a failing challenger, the switch off, a pinned version, and each
model through its own feature set. A small toy workflow, so nothing here is the ticket
workflow's: the engine reads the entity, the fallback and the segments from the declaration."""

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import Series

from assets.feature_sets import FeatureSet, FeatureSets
from assets.model_family import CLASSIFIERS
from assets.models import (
    FEATURE_HASH_TAG,
    FEATURE_SET_TAG,
    NotServable,
    ServedModel,
    feature_set_of,
    servable,
)
from assets.promotion import PromotionError
from assets.serving import RULES, serve
from assets.workflow import Contracts, Entity, Fallback, Label, Owners, Source, Workflow
from checks.tasks import BinaryClassification

N = 20_000
LEVELS = ["low", "normal", "high", "urgent"]


class ToyRows(pa.DataFrameModel):
    item_id: Series[str]
    seen_at: Series[pd.Timestamp]
    level: Series[str] = pa.Field(isin=LEVELS)
    region: Series[str]
    x: Series[float]


class ToyLabels(pa.DataFrameModel):
    item_id: Series[str]
    outcome: Series[int]
    known_at: Series[pd.Timestamp]


def toy_v1(raw):
    return pd.DataFrame({"item_id": raw["item_id"], "level": raw["level"], "x": raw["x"]})


def toy_v2(raw):
    return pd.DataFrame({"item_id": raw["item_id"], "level": raw["level"], "x2": raw["x"] ** 2})


V1 = FeatureSet("1", toy_v1, categorical=("level",), numeric=("x",))
V2 = FeatureSet("2", toy_v2, categorical=("level",), numeric=("x2",))


def toy(*sets: FeatureSet) -> Workflow:
    return Workflow(
        name="toy",
        owners=Owners("data", "model", "domain"),
        source=Source(layout="event_time", table="items", labels_table="outcomes"),
        entity=Entity(id="item_id", event_time="seen_at"),
        label=Label(column="outcome", max_lag_days=1),
        contracts=Contracts(raw=ToyRows, labels=ToyLabels),
        feature_sets=FeatureSets(
            workflow="toy", current=sets[0].version, sets=sets, lock_file="unused.lock.json"
        ),
        task=BinaryClassification(threshold=0.5),
        model_families=CLASSIFIERS,
        fallback=Fallback("act on urgent items", lambda raw: (raw["level"] == "urgent") * 1.0),
        segments=("region",),
    )


WF = toy(V1, V2)


class Constant:
    """A stand-in model whose probability is fixed (the arms, not the model, are under test).
    `columns`: the feature columns it insists on seeing, as a model trained on them would."""

    def __init__(self, p, columns=("level", "x")):
        self.p, self.columns = p, list(columns)

    def predict_proba(self, x):
        assert list(x.columns) == self.columns, f"scored with {list(x.columns)}"
        p = np.broadcast_to(np.asarray(self.p, dtype="float64"), (len(x),))
        return np.column_stack([1 - p, p])


class Broken:
    def predict_proba(self, x):
        raise RuntimeError("feature 'level' has an unknown value")


def _raw(n=N, start=0) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "item_id": [f"I{i:07d}" for i in range(start, start + n)],
            "seen_at": pd.Timestamp("2026-03-01") + pd.to_timedelta(np.arange(n), unit="s"),
            "level": rng.choice(LEVELS, size=n),
            "region": rng.choice(["north", "south"], size=n),
            "x": rng.normal(size=n),
        }
    )


CHAMPION = ServedModel("1", Constant(0.2), V1)


def _serve(raw, fraction, challenger=None):
    return serve(
        WF,
        raw,
        main=CHAMPION,
        challenger=challenger or ServedModel("4", Constant(0.9), V1),
        rollout_id="v4-2026-03-01",
        fraction=fraction,
        scored_at="2026-03-02T02:00:00+00:00",
    ).frame


def test_shadow_scores_every_row_with_both_and_serves_only_the_champion():
    out = _serve(_raw(), 0.0)
    assert set(out["arm"]) == {"champion"} and set(out["model_version"]) == {"1"}
    assert np.allclose(out["challenger_score"], 0.9) and np.allclose(out["score"], 0.2)
    assert (out["decision"] == False).all()  # noqa: E712 - 0.2 is below the threshold
    # The prediction row is keyed by the workflow's entity and carries its segments.
    assert list(out.columns[:1]) == ["item_id"] and "region" in out
    assert set(out["champion_version"]) == {"1"} and set(out["challenger_version"]) == {"4"}


@pytest.mark.parametrize("fraction", [0.01, 0.05, 0.25, 0.5])
def test_the_canary_arm_is_close_to_the_fraction_and_served_by_the_challenger(fraction):
    out = _serve(_raw(), fraction)
    canary = out["arm"] == "canary"
    se = np.sqrt(fraction * (1 - fraction) / N)
    assert abs(canary.mean() - fraction) < 4 * se
    assert set(out.loc[canary, "model_version"]) == {"4"}
    assert np.allclose(out.loc[canary, "score"], 0.9)
    assert set(out.loc[~canary, "model_version"]) == {"1"}


def test_a_row_keeps_its_arm_on_rescoring_and_when_the_canary_grows():
    raw = _raw()
    first = _serve(raw, 0.05)
    again = _serve(raw.sample(frac=1.0, random_state=1), 0.05).set_index("item_id")
    assert (again.loc[first["item_id"], "arm"].to_numpy() == first["arm"].to_numpy()).all()
    wider = _serve(raw, 0.25)
    was_canary = first["arm"] == "canary"
    assert (wider.loc[was_canary, "arm"] == "canary").all()  # nobody leaves the canary


def test_a_challenger_that_fails_counts_every_row_as_an_error_and_the_champion_serves():
    served = serve(
        WF,
        _raw(2_000),
        main=CHAMPION,
        challenger=ServedModel("4", Broken(), V1),
        rollout_id="v4-2026-03-01",
        fraction=0.5,
        scored_at="2026-03-02T02:00:00+00:00",
    )
    out = served.frame
    assert out["challenger_error"].all() and set(out["model_version"]) == {"1"}
    assert "unknown value" in served.challenger_failure
    partly = _serve(
        _raw(2_000), 0.5, challenger=ServedModel("4", Constant([np.nan, 0.9] * 1000), V1)
    )
    assert partly["challenger_error"].mean() == pytest.approx(0.5)
    # A canary row without a valid challenger score is served by the champion.
    assert set(partly.loc[partly["challenger_error"], "model_version"]) == {"1"}


def test_each_model_is_scored_with_its_own_feature_set():
    """A champion on v1 and a challenger on v2 side by side: each sees only its own columns
    (Constant asserts it), so neither is scored with the other's features."""
    challenger = ServedModel("4", Constant(0.9, columns=("level", "x2")), V2)
    out = _serve(_raw(5_000), 0.25, challenger=challenger)
    assert not out["challenger_error"].any()
    assert set(out.loc[out["arm"] == "canary", "model_version"]) == {"4"}


def test_switched_off_the_fallback_rule_serves_and_is_recorded_as_the_version():
    raw = _raw(2_000)
    out = serve(WF, raw, main=None, scored_at="2026-03-02T02:00:00+00:00").frame
    assert set(out["model_version"]) == {RULES} and set(out["arm"]) == {"flag_off"}
    assert (out["decision"] == (raw["level"] == "urgent")).all()
    assert out["champion_score"].isna().all()


def test_a_pinned_version_serves_on_its_own_arm():
    out = serve(
        WF, _raw(500), main=CHAMPION, arm_of_main="pinned", scored_at="2026-03-02T02:00:00+00:00"
    ).frame
    assert set(out["arm"]) == {"pinned"} and set(out["model_version"]) == {"1"}
    assert out["challenger_score"].isna().all() and out["rollout_id"].isna().all()


def test_an_empty_day_is_scored_as_no_rows_not_an_error():
    out = _serve(_raw(0), 0.25)
    assert out.empty and "challenger_error" in out.columns


def test_a_workflow_without_a_fallback_cannot_be_switched_off():
    import dataclasses

    bare = dataclasses.replace(WF, fallback=None)
    with pytest.raises(ValueError, match="declares no fallback"):
        serve(bare, _raw(10), main=None, scored_at="2026-03-02T02:00:00+00:00")


# --- which versions may be served ------------------------------------------------------------


def test_a_version_is_served_with_the_feature_set_its_tags_name():
    tags = {FEATURE_SET_TAG: "2", FEATURE_HASH_TAG: V2.definitions_hash}
    assert feature_set_of(WF, "7", tags) is V2


def test_a_version_whose_feature_set_is_gone_or_changed_or_unnamed_is_refused():
    only_v2 = toy(V2)
    with pytest.raises(
        NotServable, match="feature set v1 of workflow toy is no longer in the code"
    ):
        feature_set_of(only_v2, "3", {FEATURE_SET_TAG: "1"})
    with pytest.raises(NotServable, match="records no feature-set version"):
        feature_set_of(WF, "3", {})
    with pytest.raises(NotServable, match="its features would not be the ones it was validated"):
        feature_set_of(WF, "3", {FEATURE_SET_TAG: "1", FEATURE_HASH_TAG: "0" * 64})
    # Promotion and rollback run the same check, as a PromotionError.
    with pytest.raises(PromotionError, match="version 3 cannot be served"):
        servable(only_v2)("3", {FEATURE_SET_TAG: "1"})
    servable(WF)("3", {FEATURE_SET_TAG: "1", FEATURE_HASH_TAG: V1.definitions_hash})


def test_each_row_is_decided_at_the_threshold_of_the_version_that_served_it():
    # Champion 1 decides at 0.15 (its own choice on validation), challenger 4 at 0.95: both
    # models' outputs sit between, so the arms decide oppositely on identical-looking rows.
    champion = ServedModel("1", Constant(0.2), V1, WF.task.at(0.15))
    challenger = ServedModel("4", Constant(0.9), V1, WF.task.at(0.95))
    out = serve(
        WF,
        _raw(),
        main=champion,
        challenger=challenger,
        rollout_id="v4-2026-03-01",
        fraction=0.5,
        scored_at="2026-03-02T02:00:00+00:00",
    ).frame
    canary = out["arm"] == "canary"
    assert 0 < canary.sum() < len(out)
    assert out.loc[~canary, "decision"].all() and not out.loc[canary, "decision"].any()
    assert set(out.loc[~canary, "threshold"]) == {0.15} and set(out.loc[canary, "threshold"]) == {
        0.95
    }
    assert set(out["champion_threshold"]) == {0.15} and set(out["challenger_threshold"]) == {0.95}
