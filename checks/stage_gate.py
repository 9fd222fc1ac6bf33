"""Per-stage judgement of a staged pipeline: each stage's metrics against their own thresholds
(the daily view), and a challenger against the champion stage by stage (the gate).

The common currency is per-example arrays, ``{stage: {metric: array}}``, one value per row
(NaN: not judged for that row). :func:`summarize` takes each array's mean over its judged rows;
:func:`judge` holds the summary to floors (``min``) and ceilings (``max``) so that "the pipeline
is at 74%" becomes "ranking ndcg_at_k below its floor". :func:`stage_gate` compares two
versions on the SAME rows (paired): per stage metric a non-inferiority criterion on the point
difference (the paired bootstrap interval is reported beside it, as in ``checks.gate``), and
per slice a guard on the stage's primary metric, so a change that helps the common case and
hurts an edge case is rejected even when every overall number holds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from checks.bootstrap import paired_bootstrap
from checks.gate import Criterion
from checks.metrics import REGRESSION, Metric, register_metric
from checks.policy import StageGatePolicy

log = logging.getLogger(__name__)

Arrays = Mapping[str, Mapping[str, np.ndarray]]
SIDES = ("min", "max")
# Float noise exactly at a boundary must not decide (as in checks.gate).
_TOL = 1e-9


@dataclass(frozen=True)
class StageSpec:
    """One stage of a pipeline: its metrics (name -> higher is better) and the one its slice
    guard watches."""

    name: str
    metrics: Mapping[str, bool]
    primary: str

    def __post_init__(self) -> None:
        if not self.metrics:
            raise ValueError(f"stage {self.name!r} has no metrics")
        if self.primary not in self.metrics:
            raise ValueError(
                f"stage {self.name!r}: primary metric {self.primary!r} is not among its "
                f"metrics {sorted(self.metrics)}"
            )


# --- the daily view ---------------------------------------------------------------------------


def summarize(arrays: Arrays) -> dict[str, dict[str, dict]]:
    """``stage -> metric -> {"value": mean over non-NaN rows or None, "n": non-NaN rows}``."""
    out: dict[str, dict[str, dict]] = {}
    for stage, metrics in arrays.items():
        out[stage] = {}
        for name, values in metrics.items():
            v = np.asarray(values, dtype=float)
            judged = v[~np.isnan(v)]
            mean = float(judged.mean()) if judged.size else None
            out[stage][name] = {"value": mean, "n": int(judged.size)}
    return out


@dataclass(frozen=True)
class Judgement:
    """One stage metric against one bound: ``side`` "min" is a floor, "max" a ceiling.
    ``passed`` None: not judged (fewer than ``min_rows`` judged rows, or no value)."""

    stage: str
    metric: str
    value: float | None
    n: int
    side: str
    bound: float
    passed: bool | None


def judge(
    summary: Mapping[str, Mapping[str, Mapping]],
    thresholds: Mapping[str, Mapping[str, Mapping[str, float]]],
    min_rows: int = 1,
) -> list[Judgement]:
    """One :class:`Judgement` per bound in ``thresholds`` (``{stage: {metric: {"min": x}
    and/or {"max": y}}}``), in their order. A threshold on a stage or metric the summary lacks
    is an error: a renamed metric must not go quiet."""
    if min_rows < 1:
        raise ValueError(f"min_rows must be at least 1, got {min_rows}")
    out = []
    for stage, metrics in thresholds.items():
        if stage not in summary:
            raise ValueError(
                f"a threshold names stage {stage!r}, which the summary lacks "
                f"(it has {sorted(summary)})"
            )
        for name, bounds in metrics.items():
            if name not in summary[stage]:
                raise ValueError(
                    f"a threshold names {stage}.{name}, which the summary lacks "
                    f"({stage} has {sorted(summary[stage])})"
                )
            unknown = sorted(set(bounds) - set(SIDES))
            if unknown or not bounds:
                raise ValueError(
                    f"{stage}.{name}: a threshold is 'min' and/or 'max', got {dict(bounds)}"
                )
            value, n = summary[stage][name]["value"], int(summary[stage][name]["n"])
            for side in SIDES:
                if side not in bounds:
                    continue
                bound = float(bounds[side])
                if value is None or n < min_rows:
                    passed = None
                elif side == "min":
                    passed = value >= bound - _TOL
                else:
                    passed = value <= bound + _TOL
                out.append(Judgement(stage, name, value, n, side, bound, passed))
    return out


def failing(judgements: Iterable[Judgement]) -> list[Judgement]:
    """The judgements that failed (not those left unjudged)."""
    return [j for j in judgements if j.passed is False]


def describe(j: Judgement) -> str:
    """One sentence, e.g. "ranking ndcg_at_k 0.895 below its floor 0.95 (n=150)"."""
    kind = "floor" if j.side == "min" else "ceiling"
    head = f"{j.stage} {j.metric}"
    if j.passed is None:
        shown = "no value" if j.value is None else f"{j.value:.3f}"
        return f"{head} not judged: {shown} on {j.n} row(s) (its {kind} {j.bound:g})"
    if j.passed:
        verb = "at or above" if j.side == "min" else "at or below"
    else:
        verb = "below" if j.side == "min" else "above"
    return f"{head} {j.value:.3f} {verb} its {kind} {j.bound:g} (n={j.n})"


# --- the gate ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageGateRules:
    """The per-stage gate: ``margin`` is the non-inferiority margin on each stage metric's
    point difference (challenger - champion, oriented so positive = challenger better);
    ``slice_max_regression`` the allowed drop of a stage's primary metric on a slice; smaller
    slices than ``min_slice_size`` judged examples are not judged. Same semantics as the
    engine's GateRules (non-inferiority on the point value; the interval is reported)."""

    margin: float = 0.01
    slice_max_regression: float = 0.05
    min_slice_size: int = 30
    confidence: float = 0.95
    n_resamples: int = 1000
    seed: int = 0

    @classmethod
    def from_policy(cls, p: StageGatePolicy) -> StageGateRules:
        """The rules of the policy's ``pipeline.gate`` section (its ``eval_days`` says which
        rows to replay, which is the caller's business)."""
        return cls(
            margin=p.margin,
            slice_max_regression=p.slice_max_regression,
            min_slice_size=p.min_slice_size,
            confidence=p.confidence,
            n_resamples=p.n_resamples,
            seed=p.seed,
        )


@dataclass(frozen=True)
class StageVerdict:
    """One stage's gate result: ``passed`` is False when any criterion failed."""

    stage: str
    passed: bool
    criteria: list[Criterion] = field(default_factory=list)


def _registry(specs: Sequence[StageSpec]) -> dict[str, Metric]:
    """Each stage metric as the engine's bootstrap takes it: the mean of per-example values,
    passed as regression "predictions" (y is unused zeros)."""
    registry: dict[str, Metric] = {}
    for spec in specs:
        for name, higher in spec.metrics.items():
            register_metric(
                Metric(
                    f"{spec.name}.{name}",
                    lambda y, p, t: float(np.mean(p)),
                    higher,
                    f"mean per-example {name} of the {spec.name} stage",
                    batch=lambda y, p, t, w: w @ p / p.size,
                    kind=REGRESSION,
                ),
                registry,
            )
    return registry


def _paired(a: np.ndarray, b: np.ndarray, what: str) -> np.ndarray:
    if a.shape != b.shape:
        raise ValueError(
            f"{what}: champion and challenger arrays differ in length: {b.shape}, {a.shape}"
        )
    return ~np.isnan(a) & ~np.isnan(b)


def _mean(values: np.ndarray, mask: np.ndarray) -> float:
    return float(values[mask].mean())


def _array(arrays: Arrays, stage: str, metric: str, side: str) -> np.ndarray:
    if metric not in arrays[stage]:
        raise ValueError(f"the {side}'s arrays lack {stage}.{metric}")
    return np.asarray(arrays[stage][metric], dtype=float)


def _non_inferiority(
    spec: StageSpec,
    name: str,
    a: np.ndarray,
    b: np.ndarray,
    rules: StageGateRules,
    registry: Mapping[str, Metric],
) -> Criterion:
    crit = f"non_inferiority:{name}"
    both = _paired(a, b, f"{spec.name}.{name}")
    if not both.any():
        # e.g. no unfaithful output on either side for a false-negative rate
        return Criterion(crit, None, -rules.margin, None, "not judged: no example")
    key = f"{spec.name}.{name}"
    d = paired_bootstrap(
        np.zeros(int(both.sum())),
        a[both],
        b[both],
        [key],
        threshold=0.0,
        n_resamples=rules.n_resamples,
        confidence=rules.confidence,
        seed=rules.seed,
        registry=registry,
    )[key]
    if d.diff is None:
        raise ValueError(f"{key}: the paired difference is undefined: {d.reason}")
    ok = d.diff >= -rules.margin - _TOL
    interval = "" if d.low is None else f" [{d.low:+.3f}, {d.high:+.3f}]"
    text = (
        f"{spec.name} {name}: {_mean(a, both):.3f} vs {_mean(b, both):.3f}, difference "
        f"{d.diff:+.3f}{interval} {'>=' if ok else '<'} -{rules.margin:g} (n={both.sum()})"
    )
    return Criterion(crit, d.diff, -rules.margin, bool(ok), text)


def _slice_guard(
    spec: StageSpec,
    slice_name: str,
    mask: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    rules: StageGateRules,
) -> Criterion:
    primary, higher = spec.primary, spec.metrics[spec.primary]
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != a.shape:
        raise ValueError(f"slice {slice_name!r} has {mask.size} rows, arrays {a.size}")
    both = _paired(a, b, f"{spec.name}.{primary}") & mask
    crit = f"slice:{slice_name}:{primary}"
    n = int(both.sum())
    allowed = rules.slice_max_regression
    if n < rules.min_slice_size:
        text = f"slice {slice_name!r} (n={n}): not judged, < {rules.min_slice_size}"
        return Criterion(crit, None, allowed, None, text)
    ca, cb = _mean(a, both), _mean(b, both)
    regression = cb - ca if higher else ca - cb
    ok = regression <= allowed + _TOL
    text = (
        f"slice {slice_name!r} (n={n}): {spec.name} {primary} {ca:.3f} vs {cb:.3f}, "
        f"regression {regression:.3f} {'<=' if ok else '>'} {allowed:g} allowed"
    )
    return Criterion(crit, regression, allowed, ok, text)


def stage_gate(
    champion: Arrays,
    challenger: Arrays,
    specs: Sequence[StageSpec],
    slices: Mapping[str, np.ndarray],
    rules: StageGateRules,
) -> dict[str, StageVerdict]:
    """Stage by stage: may the challenger replace the champion? Both arrays come from the
    SAME rows in the same order (paired: a row counts where both were judged).

    Per stage metric, ``non_inferiority:<metric>``: the point difference (positive =
    challenger better, by the metric's direction) is at least ``-margin``; the paired bootstrap
    interval is reported. A metric judged on no row of both is "not judged". Per slice (a
    boolean mask over the rows) and stage, ``slice:<name>:<primary>``: the primary metric's
    drop on the slice may not exceed ``slice_max_regression``; slices with fewer than
    ``min_slice_size`` rows judged for both are not judged. A stage of ``specs`` that neither
    side has is skipped (its label may not be in yet); one that only one side has is an
    error."""
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"stage names must be unique, got {names}")
    registry = _registry(specs)
    out: dict[str, StageVerdict] = {}
    for spec in specs:
        has_a, has_b = spec.name in challenger, spec.name in champion
        if not has_a and not has_b:
            log.info("stage gate: stage %s is in neither version's arrays, skipped", spec.name)
            continue
        if has_a != has_b:
            side = "champion" if has_a else "challenger"
            raise ValueError(f"the {side}'s arrays lack stage {spec.name!r}; the other has it")
        criteria = [
            _non_inferiority(
                spec,
                name,
                _array(challenger, spec.name, name, "challenger"),
                _array(champion, spec.name, name, "champion"),
                rules,
                registry,
            )
            for name in spec.metrics
        ]
        a = _array(challenger, spec.name, spec.primary, "challenger")
        b = _array(champion, spec.name, spec.primary, "champion")
        criteria += [
            _slice_guard(spec, slice_name, mask, a, b, rules) for slice_name, mask in slices.items()
        ]
        passed = not any(c.passed is False for c in criteria)
        out[spec.name] = StageVerdict(stage=spec.name, passed=passed, criteria=criteria)
    return out


def gate_verdict(verdicts: Mapping[str, StageVerdict]) -> str:
    """``promote`` when every stage passed, else ``reject``."""
    return "promote" if all(v.passed for v in verdicts.values()) else "reject"
