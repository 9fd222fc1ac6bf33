"""The promotion gate: may the challenger replace the champion? A statistical decision in which
every criterion, passed or failed, is stated with its numbers.

Criteria, in the order they are reported (rules from ``checks.policy.GateRules``):

1. ``floor:<metric>`` for each floor: the challenger's POINT value clears the absolute floor
   (``>=``; for a lower-is-better metric it is a ceiling, ``<=``). The interval is shown for
   context. A floor metric that is undefined or was not evaluated rejects.
2. No champion: the first model is promoted on the floors alone (``champion`` criterion).
   With a champion:
3. ``non_inferiority:<metric>`` for each metric in ``rules.metrics``: the POINT difference
   challenger - champion (positive = challenger better) is at least ``-non_inferiority_margin``;
   the interval is shown. These are guard rails against a clear regression, not a second proof:
   at 1,500 examples the intervals of precision, recall, F1 and ECE are several times wider than
   a 0.01 margin, so demanding that the interval clear it rejected a challenger +0.045 ROC AUC
   better in 78% of simulated trials (on recall alone). An undefined difference cannot show
   non-inferiority: it fails.
4. ``superiority:<primary>``: the two-sided ``superiority_confidence`` interval of the primary
   metric's difference lies above 0 (low > 0). That is the one test; for a percentile bootstrap
   it is P(better) >= 1 - (1 - c) / 2 = 0.975 at c = 0.95, a one-sided 2.5% test. P(better) is
   reported beside it but not tested again, so nothing is counted twice and the interval a
   reader sees always agrees with the verdict.
5. ``slice:<name>`` for each named slice: the primary metric's point value may not drop by more
   than ``slice_max_regression`` from champion to challenger. Slices smaller than
   ``min_slice_size``, or where either value is undefined, are reported "not judged" and do not
   block (a slice of 12 examples is noise, not evidence).
6. ``approval``: with ``require_approval`` (the high-risk switch) a challenger that passes
   everything gets the verdict "awaiting_approval" and ``promote`` stays False. So does one
   with an ``extra`` criterion that ``needs_approval`` (not passed, e.g. incomplete lineage):
   such a criterion does not reject, but the verdict is at most "awaiting_approval".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from checks.bootstrap import Difference, Estimate
from checks.metrics import get_metric
from checks.policy import GateRules

VERDICTS = ("promote", "reject", "awaiting_approval")
# Float noise exactly at a boundary (0.78 - 0.73 = 0.05000000000000004) must not decide.
_TOL = 1e-9


@dataclass(frozen=True)
class SliceComparison:
    """One named slice: its size and the primary metric's point value for both models
    (None when undefined on the slice, with the reason)."""

    n: int
    challenger: float | None
    champion: float | None
    reason: str | None = None


@dataclass(frozen=True)
class Criterion:
    criterion: str
    value: float | None  # the number compared
    threshold: float | None  # what it was compared with
    passed: bool | None  # None: not judged, does not block
    reason: str
    # Not passed, and only a person may let it through: the verdict is at most
    # awaiting_approval (with passed=None, so it rejects nothing by itself).
    needs_approval: bool = False


@dataclass
class GateDecision:
    promote: bool
    verdict: str
    reasons: list[str]
    criteria: list[Criterion] = field(default_factory=list)

    def failed(self) -> list[str]:
        return [c.criterion for c in self.criteria if c.passed is False]

    def records(self) -> list[dict]:
        """One row per criterion (criterion, value, threshold, passed, reason) for a table."""
        return [asdict(c) for c in self.criteria]

    def summary(self) -> str:
        total = len(self.criteria)
        if self.verdict == "reject":
            failed = self.failed()
            return f"reject: {len(failed)} of {total} criteria failed: {', '.join(failed)}"
        passed = sum(c.passed is True for c in self.criteria)
        counts = f"{passed} of {total} criteria passed, none failed"
        if self.verdict == "awaiting_approval":
            waiting = [c.criterion for c in self.criteria if c.needs_approval]
            why = f" ({', '.join(waiting)})" if waiting else ""
            return f"awaiting_approval: {counts}; a human must approve{why}"
        superiority = [c for c in self.criteria if c.criterion.startswith("superiority:")]
        if superiority:
            return f"promote: {counts}; {superiority[0].reason}"
        return f"promote: first model, floors cleared; {counts}"


def _fmt(x: float) -> str:
    return f"{x:.3f}"


def _signed(x: float) -> str:
    return f"{x:+.3f}"


def _interval(low: float | None, high: float | None, fmt=_fmt, reason: str | None = None) -> str:
    if low is None or high is None:
        return f" (no interval: {reason or 'not computed'})"
    return f" [{fmt(low)}, {fmt(high)}]"


def _floor(name: str, floor: float, est: Estimate | None, registry=None) -> Criterion:
    crit = f"floor:{name}"
    higher = get_metric(name, registry=registry).higher_is_better
    kind = "floor" if higher else "ceiling"
    if est is None:
        return Criterion(crit, None, floor, False, f"{name} was not evaluated; it has a {kind}")
    if est.value is None:
        why = est.reason or "undefined"
        return Criterion(crit, None, floor, False, f"{name} not judged: {why}; it has a {kind}")
    ok = est.value >= floor - _TOL if higher else est.value <= floor + _TOL
    shown = f"{name} {_fmt(est.value)}{_interval(est.low, est.high, reason=est.reason)}"
    if higher:
        verb = "clears the floor" if ok else "is below the floor"
    else:
        verb = "is within the ceiling" if ok else "is above the ceiling"
    return Criterion(crit, est.value, floor, ok, f"{shown} {verb} {floor:g}")


def _difference_text(d: Difference) -> str:
    return f"{_signed(d.diff)}{_interval(d.low, d.high, _signed, d.reason)}"


def _non_inferiority(name: str, d: Difference | None, margin: float) -> Criterion:
    """Statistical non-inferiority: the whole interval of the difference lies above -margin."""
    crit = f"non_inferiority:{name}"
    if d is None:
        return Criterion(crit, None, -margin, False, f"{name}: no paired difference computed")
    if d.low is None or d.diff is None:
        why = d.reason or "undefined"
        return Criterion(crit, None, -margin, False, f"{name}: non-inferiority not shown: {why}")
    ok = d.low >= -margin - _TOL
    if ok:
        text = (
            f"{name} non-inferior to champion: {_difference_text(d)}, interval above the "
            f"{-margin:+g} margin"
        )
    else:
        text = (
            f"{name} not shown non-inferior: {_difference_text(d)} reaches below the "
            f"{-margin:+g} margin"
        )
    return Criterion(crit, d.low, -margin, ok, text)


def _superiority(
    name: str,
    d: Difference | None,
    champion: Mapping[str, Estimate],
    challenger: Mapping[str, Estimate],
    conf: float,
) -> Criterion:
    crit = f"superiority:{name}"
    level = f"{conf:.0%}"
    if d is None:
        return Criterion(crit, None, 0.0, False, f"{name}: no paired difference computed")
    if d.low is None or d.diff is None:
        why = d.reason or "undefined"
        return Criterion(crit, None, 0.0, False, f"{name} not judged better: {why}")
    a, b = challenger.get(name), champion.get(name)
    values = ""
    if a is not None and b is not None and a.value is not None and b.value is not None:
        values = f" ({_fmt(a.value)} vs {_fmt(b.value)})"
    p_text = f"P(better)={d.p_better:.3f}"
    if d.low > 0:
        text = (
            f"{name} better than champion{values} by {_difference_text(d)}, "
            f"{level} interval above 0, {p_text}"
        )
        return Criterion(crit, d.low, 0.0, True, text)
    text = (
        f"{name} not better than champion{values} with {level} confidence: "
        f"{_difference_text(d)} reaches 0 or below, {p_text}"
    )
    return Criterion(crit, d.low, 0.0, False, text)


def _slice(
    name: str,
    s: SliceComparison,
    metric: str,
    rules: GateRules,
    has_champion: bool,
    registry=None,
) -> Criterion:
    crit = f"slice:{name}"
    head = f"slice {name!r} (n={s.n})"
    allowed = rules.slice_max_regression
    if not has_champion:
        return Criterion(crit, None, allowed, None, f"{head}: not judged, no champion to compare")
    if s.n < rules.min_slice_size:
        text = f"{head}: not judged, fewer than {rules.min_slice_size} examples"
        return Criterion(crit, None, allowed, None, text)
    if s.challenger is None or s.champion is None:
        why = f": {s.reason}" if s.reason else " on the slice"
        text = f"{head}: not judged, {metric} undefined{why}"
        return Criterion(crit, None, allowed, None, text)
    higher = get_metric(metric, registry=registry).higher_is_better
    regression = s.champion - s.challenger if higher else s.challenger - s.champion
    ok = regression <= allowed + _TOL
    text = (
        f"{head}: {metric} {_fmt(s.challenger)} vs {_fmt(s.champion)}, "
        f"regression {_fmt(regression)} {'<=' if ok else '>'} {allowed:g} allowed"
    )
    return Criterion(crit, regression, allowed, ok, text)


def decide(
    challenger: Mapping[str, Estimate],
    champion: Mapping[str, Estimate] | None,
    differences: Mapping[str, Difference] | None,
    slices: Mapping[str, SliceComparison] | None,
    rules: GateRules,
    registry=None,
    extra: list[Criterion] | None = None,
) -> GateDecision:
    """Judge the challenger by ``rules``; see the module docstring for each criterion.

    ``differences`` (from ``paired_bootstrap`` at ``rules.superiority_confidence``) is required
    when there is a champion. ``registry``: the task's metric registry (default: the
    classification metrics). ``extra``: criteria judged elsewhere (provenance, packaging,
    cost, skill), reported before ``approval``; a failed one rejects like any other."""
    for name in [rules.primary_metric, *rules.metrics, *rules.floors]:
        get_metric(name, registry=registry)  # an unknown metric name is a configuration error
    if champion is not None and differences is None:
        raise ValueError("a champion needs the paired differences (paired_bootstrap)")
    for name, d in (differences or {}).items():
        if abs(d.confidence - rules.superiority_confidence) > 1e-12:
            raise ValueError(
                f"difference for {name!r} was computed at confidence {d.confidence}, but the "
                f"gate tests at superiority_confidence {rules.superiority_confidence}"
            )

    criteria = [
        _floor(name, floor, challenger.get(name), registry) for name, floor in rules.floors.items()
    ]
    if champion is None:
        criteria.append(
            Criterion(
                "champion",
                None,
                None,
                True,
                "no champion to compare with: the first model is judged on the floors alone",
            )
        )
    else:
        margin = rules.non_inferiority_margin
        held = rules.non_inferiority_metrics or [rules.primary_metric]
        criteria += [_non_inferiority(m, differences.get(m), margin) for m in held]
        criteria.append(
            _superiority(
                rules.primary_metric,
                differences.get(rules.primary_metric),
                champion,
                challenger,
                rules.superiority_confidence,
            )
        )
    for name, s in (slices or {}).items():
        criteria.append(
            _slice(name, s, rules.primary_metric, rules, champion is not None, registry)
        )
    criteria += list(extra or [])
    waiting = [c.criterion for c in criteria if c.needs_approval]
    if rules.require_approval:
        text = "approval required (high-risk switch): a human must approve before promotion"
        criteria.append(Criterion("approval", None, None, None, text))
    elif waiting:
        text = f"approval required by {', '.join(waiting)}: a human must approve before promotion"
        criteria.append(Criterion("approval", None, None, None, text))
    else:
        criteria.append(Criterion("approval", None, None, True, "no human approval required"))

    if any(c.passed is False for c in criteria):
        verdict = "reject"
    elif rules.require_approval or waiting:
        verdict = "awaiting_approval"
    else:
        verdict = "promote"
    return GateDecision(
        promote=verdict == "promote",
        verdict=verdict,
        reasons=[c.reason for c in criteria],
        criteria=criteria,
    )
