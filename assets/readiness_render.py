"""The readiness report as Markdown (Dagster UI metadata) and as a standalone HTML page."""

from __future__ import annotations

import html

from checks.monitoring import sparkline

MARK = {"ok": "✅", "warn": "⚠️", "fail": "❌", "unknown": "❔"}
# The HTML page uses coloured words: a machine without an emoji font still reads them.
BADGE = {"ok": "#2ca02c", "warn": "#e6a100", "fail": "#d62728", "unknown": "#888888"}


def _badge(status: str) -> str:
    return (
        f'<b style="color:white;background:{BADGE[status]};padding:1px 6px;'
        f'border-radius:3px">{status.upper()}</b>'
    )


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def render_markdown(report: dict) -> str:
    lines = [
        f"## Readiness on {report['day']}: {MARK[report['overall']]} {report['overall']}",
        f"Week {report['week']}; launched {report['launch']}.",
        "",
        "| | question | answer | from |",
        "| --- | --- | --- | --- |",
    ]
    for q in report["questions"]:
        lines.append(
            f"| {MARK[q['status']]} | {q['question']} | {q['answer']} | {', '.join(q['source'])} |"
        )
    daily = report["layers"]["performance"]["daily"]
    estimate = [d["label_free_estimate"] for d in daily]
    real = [d["task_success"] for d in daily]
    lines += [
        "",
        "### Output and performance layers, per scored day",
        f"label-free estimate `{sparkline(estimate)}` "
        f"({_fmt(estimate[0] if estimate else None)} → {_fmt(estimate[-1] if estimate else None)})",
        "",
        f"task success (labels) `{sparkline(real)}` (gaps: labels not in yet)",
        "",
        f"override rate `{sparkline([d.get('override_rate') for d in daily])}` "
        "(known the day after scoring; rises when suggestions go wrong)",
        "",
        "| day | rows | label-free estimate | task success | labelled | override rate |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for d in daily:
        lines.append(
            f"| {d['day']} | {d['rows']} | {_fmt(d['label_free_estimate'])} | "
            f"{_fmt(d['task_success'])} | {d['labelled_share']:.0%} | "
            f"{_fmt(d.get('override_rate'))} |"
        )
    output = report["layers"]["output"]
    lines += [
        "",
        f"Scores: PSI {_fmt(output.get('psi'))} vs the champion's validation scores; positive "
        f"rate {_fmt(output.get('positive_rate'))} (reference "
        f"{_fmt(output.get('reference_positive_rate'))}); mean confidence this week "
        f"{_fmt(output.get('mean_confidence_this_week'))} (reference "
        f"{_fmt(output.get('mean_confidence_reference'))}).",
        "",
        "Scoring latency per day (ms per 1,000 rows, features included): "
        + (
            "; ".join(
                f"{r['day']} v{r['version']} ({r['arm']}) {_fmt(r['ms_per_1000_rows'])}"
                for r in output.get("scoring_latency") or []
            )
            or "none recorded"
        )
        + ".",
        "",
        "### Input layer: failed data checks this week",
        "| day | failures | checks |",
        "| --- | --- | --- |",
    ]
    for d in report["layers"]["input"]:
        lines.append(f"| {d['day']} | {d['failures']} | {', '.join(d['failed']) or '–'} |")
    lines += [
        "",
        "### Stages, each against its own threshold",
        "| stage | value | threshold | status |",
        "| --- | --- | --- | --- |",
    ]
    for s in report["stages"]:
        rule = f">= {s['min']}" if "min" in s else (f"<= {s['max']}" if "max" in s else "–")
        lines.append(f"| {s['stage']} | {_fmt(s['value'])} | {rule} | {s['status']} |")
    lines += [
        "",
        "### Performance by segment (this week)",
        "| segment | value | rows | task success | acceptance | yes rate | error |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report["layers"]["performance"]["segments"]:
        lines.append(
            f"| {r['segment']} | {r['value']} | {r['rows']} | {_fmt(r['task_success'])} | "
            f"{_fmt(r['acceptance_rate'])} | {_fmt(r['decision_rate'])} | "
            f"{_fmt(r['error_rate'])} |"
        )
    return "\n".join(lines)


def _svg(series: dict[str, list[float | None]], width=520, height=140) -> str:
    """A small line chart: one polyline per series (None breaks the line)."""
    values = [v for s in series.values() for v in s if v is not None]
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    n = max(len(s) for s in series.values())
    colours = ["#1f77b4", "#d62728", "#2ca02c"]
    parts = [f'<svg width="{width}" height="{height}" role="img">']
    for (name, points), colour in zip(series.items(), colours, strict=False):
        xy = [
            f"{10 + i * (width - 20) / max(n - 1, 1):.1f},"
            f"{height - 20 - (v - low) / span * (height - 40):.1f}"
            for i, v in enumerate(points)
            if v is not None
        ]
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(xy)}"/>'
        )
        parts.append(
            f'<text x="{width - 200}" y="{14 + 14 * list(series).index(name)}" '
            f'fill="{colour}" font-size="12">{html.escape(name)}</text>'
        )
    parts.append(
        f'<text x="2" y="{height - 4}" font-size="10">{low:.3f} .. {high:.3f}</text></svg>'
    )
    return "".join(parts)


def render_html(report: dict) -> str:
    rows = "".join(
        f"<tr><td>{_badge(q['status'])}</td><td>{html.escape(q['question'])}</td>"
        f"<td>{html.escape(q['answer'])}</td><td>{html.escape(', '.join(q['source']))}</td></tr>"
        for q in report["questions"]
    )
    daily = report["layers"]["performance"]["daily"]
    chart = _svg(
        {
            "label-free estimate": [d["label_free_estimate"] for d in daily],
            "task success (labels)": [d["task_success"] for d in daily],
        }
    )
    stages = "".join(
        f"<tr><td>{html.escape(s['stage'])}</td><td>{_fmt(s['value'])}</td>"
        f"<td>{html.escape(s['status'])}</td></tr>"
        for s in report["stages"]
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Afterlaunch readiness "
        f"{report['day']}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left}</style></head><body>"
        f"<h1>Readiness on {report['day']}: {_badge(report['overall'])}</h1>"
        f"<p>Week {report['week']}; launched {report['launch']}.</p>"
        f"<table><tr><th></th><th>question</th><th>answer</th><th>from</th></tr>{rows}</table>"
        f"<h2>Task success per scored day</h2>{chart}"
        f"<h2>Stages</h2><table><tr><th>stage</th><th>value</th><th>status</th></tr>{stages}"
        "</table></body></html>"
    )
