"""Distribution drift between two TableProfiles, computed from histograms only.

Per column two questions must both say yes before anything fires:
- is the difference real?  chi-square test of homogeneity on the binned counts, p-values
  Benjamini-Hochberg adjusted across the columns of the report;
- is it big enough to matter?  an effect size against a floor. With 1M rows a 0.02-SD wiggle is
  "significant" but harmless; the floor is what keeps it quiet.

Effect sizes:
- numeric: Wasserstein-1 distance between the binned distributions divided by the reference
  standard deviation ("moved by 0.25 SD" ~ 0.25). CDFs are piecewise linear inside interior
  bins; under/overflow mass sits as a point mass on the outer edge (reference min/max). W1 is then
  a lower bound that a handful of extreme outliers cannot blow up; the share of values outside
  the reference range is named in the reason instead.
- categorical: Jensen-Shannon distance (base 2, in [0, 1]). Chosen over total variation because
  it weighs relative changes, so a rare-but-important category going 1% -> 5% counts more than
  40% -> 44%, and it is the usual drift metric with the usual 0.1 threshold.
PSI is reported for both kinds, for people used to it; it does not drive decisions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

from checks.profiles import OTHER, CategoricalProfile, NumericProfile, TableProfile

LEVELS = ("ok", "warn", "error")
MIN_EXPECTED = 5.0  # chi-square rule of thumb: every expected cell count >= 5
PSI_EPS = 1e-4  # proportion floor so empty bins do not make PSI infinite


@dataclass
class ColumnDrift:
    column: str
    kind: str
    test: str | None
    statistic: float | None
    p_value: float | None
    p_adjusted: float | None
    effect_size: float | None
    effect_metric: str | None
    psi: float | None
    null_rate_ref: float | None
    null_rate_cur: float | None
    decision: str
    reason: str


@dataclass
class DriftReport:
    columns: list[ColumnDrift]
    n_current: int
    n_reference: int
    worst: str
    error_floors: dict[str, float] = field(default_factory=dict)  # per kind, for the chart

    def to_records(self) -> list[dict]:
        return [asdict(c) for c in self.columns]

    def summary(self) -> str:
        errors = [c.column for c in self.columns if c.decision == "error"]
        warns = [c.column for c in self.columns if c.decision == "warn"]
        head = f"{len(errors) + len(warns)} of {len(self.columns)} columns drifted ({self.worst})"
        parts = [", ".join(errors)] if errors else []
        if warns:
            parts.append(("warn: " if errors else "") + ", ".join(warns))
        return head + (": " + "; ".join(parts) if parts else "")


# --- statistics on count vectors -------------------------------------------------------------


def _merge_sparse(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge adjacent cells until every expected count is >= 5 in both rows."""
    # Expected count of a cell in the smaller row is min(n) * cell_total / N.
    need = MIN_EXPECTED * (ref.sum() + cur.sum()) / min(ref.sum(), cur.sum())
    out_r, out_c, acc_r, acc_c = [], [], 0, 0
    for r, c in zip(ref.tolist(), cur.tolist(), strict=True):
        acc_r, acc_c = acc_r + r, acc_c + c
        if acc_r + acc_c >= need:
            out_r.append(acc_r)
            out_c.append(acc_c)
            acc_r = acc_c = 0
    if acc_r + acc_c:  # a sparse tail joins the last group
        if out_r:
            out_r[-1] += acc_r
            out_c[-1] += acc_c
        else:
            out_r, out_c = [acc_r], [acc_c]
    return np.array(out_r, dtype=float), np.array(out_c, dtype=float)


def chi_square(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """Chi-square of two count rows (sparse cells merged first): (statistic, p-value)."""
    r, c = _merge_sparse(ref, cur)
    if r.size < 2:  # everything in one cell: nothing to tell apart
        return 0.0, 1.0
    obs = np.vstack([r, c])
    exp = obs.sum(axis=1, keepdims=True) * obs.sum(axis=0, keepdims=True) / obs.sum()
    stat = float(((obs - exp) ** 2 / exp).sum())
    return stat, float(stats.chi2.sf(stat, r.size - 1))


def _psi(ref: np.ndarray, cur: np.ndarray) -> float:
    p = np.clip(ref / ref.sum(), PSI_EPS, None)
    q = np.clip(cur / cur.sum(), PSI_EPS, None)
    return float(((q - p) * np.log(q / p)).sum())


def _w1(edges: np.ndarray, ref: np.ndarray, cur: np.ndarray) -> float:
    """Integral of |F_cur - F_ref| over [edges[0], edges[-1]] with piecewise-linear CDFs."""
    # CDF at each edge; under/overflow act as point masses on the outer edges.
    d = np.cumsum(cur)[:-1] / cur.sum() - np.cumsum(ref)[:-1] / ref.sum()
    a, b, width = d[:-1], d[1:], np.diff(edges)
    same_sign = a * b >= 0
    # |linear| integrates to the trapezoid, or to two triangles when it crosses zero.
    crossing = (a * a + b * b) / (2 * np.where(same_sign, 1.0, np.abs(a) + np.abs(b)))
    return float((np.where(same_sign, (np.abs(a) + np.abs(b)) / 2, crossing) * width).sum())


def _null_rise_p(ref_nulls: int, ref_rows: int, cur_nulls: int, cur_rows: int) -> float:
    """One-sided two-proportion z-test that the null rate rose."""
    pooled = (ref_nulls + cur_nulls) / (ref_rows + cur_rows)
    se = math.sqrt(pooled * (1 - pooled) * (1 / ref_rows + 1 / cur_rows))
    if se == 0:
        return 1.0
    return float(stats.norm.sf((cur_nulls / cur_rows - ref_nulls / ref_rows) / se))


# --- per-column evaluation -------------------------------------------------------------------


@dataclass
class _Eval:
    drift: ColumnDrift
    findings: list[tuple[str, str]] = field(default_factory=list)  # (level, reason)
    judge: bool = False  # decide from p_adjusted and effect size once BH is done
    detail: str = ""


def _rate(nulls: int, count: int) -> float | None:
    return nulls / (nulls + count) if nulls + count else None


def _new_categories(cur: CategoricalProfile, ref: CategoricalProfile) -> tuple[dict, int] | None:
    """Values the reference never had and how many rows carry them; None if unknowable.

    Knowable when the reference's own ``__other__`` values are all named in ``ref.unseen`` (the
    usual case: at most 50 categories, so ``__other__`` is empty)."""
    if sum(ref.unseen.values()) != ref.counts.get(OTHER, 0):
        return None
    new = {k: v for k, v in cur.unseen.items() if k not in ref.unseen}
    rows = cur.counts.get(OTHER, 0) - sum(v for k, v in cur.unseen.items() if k in ref.unseen)
    return new, rows


def _numeric_eval(ev: _Eval, cur: NumericProfile, ref: NumericProfile) -> None:
    d = ev.drift
    d.test, d.effect_metric = "chi2_homogeneity", "wasserstein1_over_ref_sd"
    d.statistic, d.p_value = chi_square(ref.counts, cur.counts)
    d.psi = _psi(ref.counts, cur.counts)
    w1 = _w1(ref.edges, ref.counts, cur.counts)
    outside = (cur.counts[0] + cur.counts[-1]) / cur.count
    # Named only when notable: a big sample always has a few values past the reference extremes.
    out_text = f"; {outside:.1%} of values outside the reference range" if outside >= 0.01 else ""
    if ref.std == 0:
        if cur.min == cur.max == ref.min:
            d.effect_size = 0.0
            ev.findings.append(("ok", f"constant at {ref.min:g}, as in the reference"))
        else:
            ev.findings.append(
                (
                    "error",
                    f"reference was constant at {ref.min:g}; current ranges "
                    f"{cur.min:g} to {cur.max:g} (W1 {w1:.3g})",
                )
            )
        return
    d.effect_size = w1 / ref.std
    ev.judge = True
    ev.detail = (
        f"distribution moved {d.effect_size:.2f} reference SDs (W1); "
        f"mean {ref.mean:.4g} -> {cur.mean:.4g}{out_text}"
    )


def _categorical_eval(
    ev: _Eval, cur: CategoricalProfile, ref: CategoricalProfile, error_share: float
) -> None:
    d = ev.drift
    d.test, d.effect_metric = "chi2_homogeneity", "jensen_shannon_distance"
    names = list(ref.counts)
    r = np.array([ref.counts[k] for k in names], dtype=float)
    c = np.array([cur.counts[k] for k in names], dtype=float)
    order = np.argsort(-(r + c), kind="stable")  # sparse categories last, so they pool together
    d.statistic, d.p_value = chi_square(r[order], c[order])
    d.psi = _psi(r, c)
    p, q = r / r.sum(), c / c.sum()
    d.effect_size = float(jensenshannon(p, q, base=2))
    i = int(np.argmax(np.abs(q - p)))
    ev.judge = True
    ev.detail = (
        f"JS distance {d.effect_size:.3f}; largest share change {names[i]!r} "
        f"{p[i]:.1%} -> {q[i]:.1%}"
    )
    new = _new_categories(cur, ref)
    if new and new[1] > 0:
        listed, rows = new
        share = rows / cur.count
        shown = ", ".join(f"{k!r} ({v})" for k, v in list(listed.items())[:5])
        more = ", ..." if len(listed) > 5 else ""
        level = "error" if share > error_share else "warn"
        ev.findings.append((level, f"unseen categories in {share:.1%} of values: {shown}{more}"))


def _evaluate(name: str, cur_tab: TableProfile, ref_tab: TableProfile, o: dict) -> _Eval:
    ref = ref_tab.columns[name]
    cur = cur_tab.columns.get(name)
    kind = "numeric" if isinstance(ref, NumericProfile) else "categorical"
    d = ColumnDrift(name, kind, None, None, None, None, None, None, None, None, None, "ok", "")
    ev = _Eval(d)
    d.null_rate_ref = _rate(ref.nulls, ref.count)
    if cur is None or name in cur_tab.missing_columns:
        ev.findings.append(("error", "column missing"))
        return ev
    if type(cur) is not type(ref):
        raise ValueError(f"column {name!r}: current and reference profiles are of different kinds")
    if kind == "numeric" and not np.array_equal(cur.edges, ref.edges):
        raise ValueError(f"column {name!r}: current was not profiled on the reference's bins")
    d.null_rate_cur = _rate(cur.nulls, cur.count)
    if kind == "numeric" and cur.unparsable:
        n = cur.unparsable + cur.count
        ev.findings.append(("error", f"type changed: {cur.unparsable} of {n} values not numeric"))
        return ev
    if name in cur_tab.type_errors:
        ev.findings.append(
            ("warn", "type changed: non-numeric dtype, but all values parsed as numbers")
        )
    if cur.count == 0 and cur.nulls > 0 and ref.count > 0:
        ev.findings.append(("error", f"all {cur.nulls} values are null"))
        return ev
    if d.null_rate_cur is not None and d.null_rate_ref is not None:
        rise = d.null_rate_cur - d.null_rate_ref
        p = _null_rise_p(ref.nulls, ref.nulls + ref.count, cur.nulls, cur.nulls + cur.count)
        if rise > o["null_rate_error"] and p < o["alpha"]:
            ev.findings.append(
                ("error", f"null rate rose {d.null_rate_ref:.1%} -> {d.null_rate_cur:.1%}")
            )
    if cur.count < max(o["min_rows"], 1):
        ev.findings.append(("warn", f"too few rows to judge: n={cur.count}"))
        return ev
    if ref.count < max(o["min_rows"], 1):
        ev.findings.append(("warn", f"reference has too few values to judge: n={ref.count}"))
        return ev
    if kind == "numeric":
        _numeric_eval(ev, cur, ref)
    else:
        _categorical_eval(ev, cur, ref, o["categorical_error"])
    return ev


def compare_profiles(
    current: TableProfile,
    reference: TableProfile,
    *,
    alpha: float = 0.01,
    numeric_warn: float = 0.10,
    numeric_error: float = 0.15,
    categorical_warn: float = 0.05,
    categorical_error: float = 0.10,
    null_rate_error: float = 0.10,
    min_rows: int = 100,
) -> DriftReport:
    """Compare ``current`` (profiled with ``profile_like``) against ``reference``."""
    opts = dict(
        alpha=alpha,
        categorical_error=categorical_error,
        null_rate_error=null_rate_error,
        min_rows=min_rows,
    )
    floors = {
        "numeric": (numeric_warn, numeric_error),
        "categorical": (categorical_warn, categorical_error),
    }
    evals = [_evaluate(name, current, reference, opts) for name in reference.columns]

    tested = [ev.drift for ev in evals if ev.drift.p_value is not None]
    if tested:
        adjusted = stats.false_discovery_control([d.p_value for d in tested], method="bh")
        for d, p_adj in zip(tested, adjusted, strict=True):
            d.p_adjusted = float(p_adj)

    for ev in evals:
        d = ev.drift
        if ev.judge:
            warn_floor, error_floor = floors[d.kind]
            significant = d.p_adjusted < alpha
            text = f"{ev.detail}; p_adj={d.p_adjusted:.2g}"
            if significant and d.effect_size >= error_floor:
                ev.findings.append(("error", f"drifted: {text}"))
            elif significant and d.effect_size >= warn_floor:
                ev.findings.append(("warn", f"drifted: {text}"))
            elif significant:
                ev.findings.append(("ok", f"significant but below the effect floor: {text}"))
            else:
                ev.findings.append(("ok", f"no significant drift: {text}"))
        d.decision = max((lvl for lvl, _ in ev.findings), key=LEVELS.index, default="ok")
        # Lead with what decided; keep supporting 'ok' context only when nothing fired.
        fired = [r for lvl, r in ev.findings if lvl != "ok"]
        d.reason = "; ".join(fired or [r for _, r in ev.findings]) or "no drift"

    worst = max((ev.drift.decision for ev in evals), key=LEVELS.index, default="ok")
    return DriftReport(
        columns=[ev.drift for ev in evals],
        n_current=current.n_rows,
        n_reference=reference.n_rows,
        worst=worst,
        error_floors={kind: err for kind, (_, err) in floors.items()},
    )


# --- rendering -------------------------------------------------------------------------------

_EIGHTHS = " ▏▎▍▌▋▊▉"
_FLOOR_AT = 16  # chart cells up to the error floor; the chart spans twice that


def _bar(ratio: float) -> str:
    width = 2 * _FLOOR_AT
    cells = min(ratio, 2.0) * _FLOOR_AT
    full = int(cells)
    bar = "█" * full + (_EIGHTHS[int((cells - full) * 8)] if full < width else "")
    bar = bar.ljust(width)[:width]
    bar = bar[:_FLOOR_AT] + "│" + bar[_FLOOR_AT:]
    return bar + ("▶" if ratio > 2.0 else " ")


def _fmt(x: float | None, spec: str) -> str:
    return "–" if x is None else format(x, spec)


def render_markdown(report: DriftReport) -> str:
    """Markdown table plus a text bar chart of effect size (│ marks the error floor)."""
    lines = [
        f"**{report.summary()}** (current n={report.n_current}, reference n={report.n_reference})",
        "",
        "| column | kind | decision | effect | p adj | PSI | reason |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in report.columns:
        reason = c.reason.replace("|", "\\|")
        lines.append(
            f"| {c.column} | {c.kind} | {c.decision} | {_fmt(c.effect_size, '.3f')} "
            f"| {_fmt(c.p_adjusted, '.2g')} | {_fmt(c.psi, '.3f')} | {reason} |"
        )
    width = max((len(c.column) for c in report.columns), default=6)
    lines += ["", "```", "effect size; │ = error floor (numeric W1/SD, categorical JS distance)"]
    for c in report.columns:
        floor = report.error_floors.get(c.kind)
        if c.effect_size is None or not floor:
            chart = "n/a".ljust(2 * _FLOOR_AT + 2)
        else:
            chart = _bar(c.effect_size / floor)
        lines.append(
            f"{c.column.ljust(width)} {chart} {_fmt(c.effect_size, '.3f').rjust(6)} "
            f"(floor {_fmt(floor, 'g')}) {c.decision}"
        )
    lines.append("```")
    return "\n".join(lines)
