"""The per-stage judgement and gate of a staged pipeline, on synthetic per-example arrays."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from checks import stage_gate as sg
from checks.policy import Policy

SPECS = (
    sg.StageSpec("retrieval", {"recall": True, "stale": False}, primary="recall"),
    sg.StageSpec("ranking", {"ndcg": True}, primary="ndcg"),
)
FAST = sg.StageGateRules(n_resamples=200)


def bernoulli(rng: np.random.Generator, p: float, n: int) -> np.ndarray:
    return (rng.random(n) < p).astype(float)


def arrays(rng: np.random.Generator, n: int = 400, recall=0.9, stale=0.05, ndcg=0.8) -> dict:
    return {
        "retrieval": {"recall": bernoulli(rng, recall, n), "stale": bernoulli(rng, stale, n)},
        "ranking": {"ndcg": bernoulli(rng, ndcg, n)},
    }


def criteria(verdict: sg.StageVerdict) -> dict:
    return {c.criterion: c for c in verdict.criteria}


# --- StageSpec ---------------------------------------------------------------------------------


def test_a_stage_spec_needs_metrics_and_a_primary_among_them():
    with pytest.raises(ValueError, match="no metrics"):
        sg.StageSpec("ranking", {}, primary="ndcg")
    with pytest.raises(ValueError, match="'mrr' is not among"):
        sg.StageSpec("ranking", {"ndcg": True}, primary="mrr")


# --- the daily view ----------------------------------------------------------------------------


def test_summarize_means_the_judged_rows_and_counts_them():
    summary = sg.summarize(
        {"s": {"m": np.array([1.0, 0.0, np.nan, 1.0]), "empty": np.array([np.nan, np.nan])}}
    )
    assert summary["s"]["m"] == {"value": pytest.approx(2 / 3), "n": 3}
    assert summary["s"]["empty"] == {"value": None, "n": 0}


SUMMARY = {
    "ranking": {"ndcg": {"value": 0.895, "n": 150}},
    "validation": {"miss": {"value": 0.1, "n": 6}, "alarm": {"value": None, "n": 0}},
}


def test_judge_holds_each_metric_to_its_floor_or_ceiling():
    judged = sg.judge(
        SUMMARY,
        {
            "ranking": {"ndcg": {"min": 0.95, "max": 0.99}},
            "validation": {"miss": {"max": 0.25}, "alarm": {"max": 0.05}},
        },
        min_rows=1,
    )
    by = {(j.metric, j.side): j for j in judged}
    assert by[("ndcg", "min")].passed is False
    assert by[("ndcg", "max")].passed is True
    assert by[("miss", "max")].passed is True
    assert by[("alarm", "max")].passed is None  # no value: not judged
    assert [(j.stage, j.metric, j.side) for j in sg.failing(judged)] == [("ranking", "ndcg", "min")]
    assert sg.describe(by[("ndcg", "min")]) == ("ranking ndcg 0.895 below its floor 0.95 (n=150)")
    assert sg.describe(by[("ndcg", "max")]) == (
        "ranking ndcg 0.895 at or below its ceiling 0.99 (n=150)"
    )


def test_judge_leaves_a_metric_on_too_few_rows_unjudged():
    judged = sg.judge(SUMMARY, {"validation": {"miss": {"max": 0.05}}}, min_rows=30)
    assert judged[0].passed is None and judged[0].n == 6
    assert sg.failing(judged) == []
    assert "not judged" in sg.describe(judged[0])
    # With enough rows allowed, the same value fails its ceiling.
    assert sg.judge(SUMMARY, {"validation": {"miss": {"max": 0.05}}})[0].passed is False


def test_judge_refuses_a_threshold_naming_what_the_summary_lacks():
    with pytest.raises(ValueError, match="stage 'generation'"):
        sg.judge(SUMMARY, {"generation": {"faithfulness": {"min": 0.9}}})
    with pytest.raises(ValueError, match="ranking.mrr"):
        sg.judge(SUMMARY, {"ranking": {"mrr": {"min": 0.9}}})
    with pytest.raises(ValueError, match="'min' and/or 'max'"):
        sg.judge(SUMMARY, {"ranking": {"ndcg": {"low": 0.9}}})


# --- the gate ----------------------------------------------------------------------------------


def test_a_challenger_worse_on_one_stage_fails_that_stage_only():
    rng = np.random.default_rng(1)
    champion = arrays(rng)
    challenger = {
        "retrieval": {k: v.copy() for k, v in champion["retrieval"].items()},
        # a tenth of the ranked rows lose their hit
        "ranking": {"ndcg": np.where(rng.random(400) < 0.1, 0.0, champion["ranking"]["ndcg"])},
    }
    verdicts = sg.stage_gate(champion, challenger, SPECS, {}, FAST)
    assert verdicts["retrieval"].passed is True
    assert verdicts["ranking"].passed is False
    assert criteria(verdicts["ranking"])["non_inferiority:ndcg"].value < -0.01
    assert sg.gate_verdict(verdicts) == "reject"
    assert sg.gate_verdict(sg.stage_gate(champion, champion, SPECS, {}, FAST)) == "promote"


def test_the_metric_direction_orients_the_difference():
    rng = np.random.default_rng(2)
    champion = arrays(rng, stale=0.05)
    more_stale = {**champion, "retrieval": {**champion["retrieval"]}}
    more_stale["retrieval"]["stale"] = np.maximum(
        champion["retrieval"]["stale"], bernoulli(rng, 0.1, 400)
    )
    fewer_stale = {**champion, "retrieval": {**champion["retrieval"]}}
    fewer_stale["retrieval"]["stale"] = np.zeros(400)
    worse = criteria(sg.stage_gate(champion, more_stale, SPECS, {}, FAST)["retrieval"])
    better = criteria(sg.stage_gate(champion, fewer_stale, SPECS, {}, FAST)["retrieval"])
    assert worse["non_inferiority:stale"].passed is False
    assert worse["non_inferiority:stale"].value < 0  # positive means the challenger is better
    assert better["non_inferiority:stale"].passed is True
    assert better["non_inferiority:stale"].value > 0


def test_the_slice_guard_rejects_a_challenger_better_overall_and_worse_on_a_slice():
    rng = np.random.default_rng(3)
    n = 600
    edge = np.arange(n) < 60
    champion = arrays(rng, n=n, recall=0.8)
    recall = champion["retrieval"]["recall"].copy()
    recall[~edge] = 1.0  # the common case improves
    recall[edge] = np.where(rng.random(60) < 0.5, 0.0, recall[edge])  # the edge case drops
    challenger = {**champion, "retrieval": {**champion["retrieval"], "recall": recall}}
    verdicts = sg.stage_gate(champion, challenger, SPECS, {"edge": edge}, FAST)
    found = criteria(verdicts["retrieval"])
    assert found["non_inferiority:recall"].passed is True
    assert found["non_inferiority:recall"].value > 0
    assert found["slice:edge:recall"].passed is False
    assert found["slice:edge:recall"].value > 0.05
    assert verdicts["retrieval"].passed is False
    assert criteria(verdicts["ranking"])["slice:edge:ndcg"].passed is True
    # A slice smaller than min_slice_size is reported, not judged, and does not block.
    small = sg.StageGateRules(n_resamples=200, min_slice_size=61)
    found = criteria(sg.stage_gate(champion, challenger, SPECS, {"edge": edge}, small)["retrieval"])
    assert found["slice:edge:recall"].passed is None
    assert "not judged" in found["slice:edge:recall"].reason


def _pass_rate_expected(n: int, p: float, steps: int) -> float:
    """P(X - Y >= -steps) for independent X, Y ~ Binomial(n, p)."""
    pmf = stats.binom.pmf(np.arange(n + 1), n, p)
    diff = np.convolve(pmf, pmf[::-1])  # index i is X - Y = i - n
    return float(diff[n - steps :].sum())


def test_null_data_passes_non_inferiority_and_slice_guard_at_the_expected_rate():
    # Both versions draw from the same distribution: how often each criterion passes follows
    # from the binomial, since the gate decides on the point difference.
    n, p, slice_n, trials = 400, 0.8, 100, 200
    spec = (sg.StageSpec("s", {"m": True}, primary="m"),)
    mask = np.arange(n) < slice_n
    rng = np.random.default_rng(4)
    inferior_ok, slice_ok = 0, 0
    for _ in range(trials):
        a = {"s": {"m": bernoulli(rng, p, n)}}
        b = {"s": {"m": bernoulli(rng, p, n)}}
        found = criteria(sg.stage_gate(a, b, spec, {"x": mask}, FAST)["s"])
        inferior_ok += found["non_inferiority:m"].passed
        slice_ok += found["slice:x:m"].passed
    # margin 0.01 on 400 rows: 4 rows; slice drop 0.05 on 100 rows: 5 rows
    expected_inferior = _pass_rate_expected(n, p, 4)  # ~0.64
    expected_slice = _pass_rate_expected(slice_n, p, 5)  # ~0.81
    assert abs(inferior_ok / trials - expected_inferior) < 0.1
    assert abs(slice_ok / trials - expected_slice) < 0.09


def test_a_stage_with_nothing_judged_on_both_sides_is_not_judged():
    rng = np.random.default_rng(5)
    champion = arrays(rng)
    champion["retrieval"]["stale"] = np.full(400, np.nan)
    found = criteria(sg.stage_gate(champion, champion, SPECS, {}, FAST)["retrieval"])
    assert found["non_inferiority:stale"].passed is None


def test_stages_missing_from_both_are_skipped_and_from_one_refused():
    rng = np.random.default_rng(6)
    champion = arrays(rng)
    only_retrieval = {"retrieval": champion["retrieval"]}
    verdicts = sg.stage_gate(only_retrieval, only_retrieval, SPECS, {}, FAST)
    assert sorted(verdicts) == ["retrieval"]
    with pytest.raises(ValueError, match="challenger's arrays lack stage 'ranking'"):
        sg.stage_gate(champion, only_retrieval, SPECS, {}, FAST)
    with pytest.raises(ValueError, match="retrieval.stale"):
        sg.stage_gate(
            champion, {**champion, "retrieval": {"recall": np.ones(400)}}, SPECS, {}, FAST
        )
    with pytest.raises(ValueError, match="differ in length"):
        sg.stage_gate(champion, arrays(rng, n=399), SPECS, {}, FAST)


def test_the_rules_come_from_the_policy():
    section = Policy.model_validate(
        {"pipeline": {"gate": {"margin": 0.02, "n_resamples": 500, "seed": 3}}}
    ).pipeline.gate
    rules = sg.StageGateRules.from_policy(section)
    assert rules == sg.StageGateRules(margin=0.02, n_resamples=500, seed=3)
