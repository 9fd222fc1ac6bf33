"""The readiness report as Markdown (Dagster UI metadata) and as a standalone HTML page."""

from __future__ import annotations

import html

from dagster import MetadataValue

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


def question_metadata(report: dict) -> dict:
    """The same keys on every partition, one set per question (`q1_status` text, `q1_value`
    a float Dagster plots, None when unknown, `q1_version` the version or arm the value is
    about, `q1_answer`), so a key's history is one question's history."""
    out: dict = {
        "overall": MetadataValue.text(report["overall"]),
        "degraded": MetadataValue.bool(bool(report.get("degraded"))),
    }
    for i, q in enumerate(report["questions"], start=1):
        value = q.get("value")
        out |= {
            f"q{i}_status": MetadataValue.text(q["status"]),
            f"q{i}_value": MetadataValue.float(None if value is None else float(value)),
            f"q{i}_version": MetadataValue.text(q.get("version") or "–"),
            f"q{i}_answer": MetadataValue.text(q["answer"]),
        }
    return out


def version_spans(daily: list[dict]) -> str:
    """Which versions served which days, consecutive days with the same versions joined:
    "version 1 2026-01-17..2026-01-25; versions 1+5 2026-01-26..2026-01-27"."""
    spans: list[list] = []
    for d in daily:
        if spans and spans[-1][0] == d["version"]:
            spans[-1][2] = d["day"]
        else:
            spans.append([d["version"], d["day"], d["day"]])
    parts = []
    for version, first, last in spans:
        names = version.split(",") if version else []
        label = (
            "no version"
            if not names
            else ("version " if len(names) == 1 else "versions ") + "+".join(names)
        ).replace("version rules", "fallback rules")
        parts.append(f"{label} {first}" + (f"..{last}" if last != first else ""))
    return "; ".join(parts) or "nothing scored"


def _degraded_md(report: dict) -> list[str]:
    found = report.get("degraded")
    if not found:
        return []
    lines = [
        "",
        f"### Degraded report: the daily run for {found['day']} stopped before this report",
        "Why: " + "; ".join(found["why"]),
        "",
        "Missing: "
        + (", ".join(f"{m['asset']} [{m['partition']}]" for m in found["missing"]) or "nothing"),
        "",
    ]
    good = found.get("last_good")
    if good:
        lines.append(f"Last complete report: {good['day']} ({good['overall']}):")
        lines += [f"- {q['question']}: {q['status']}: {q['answer']}" for q in good["questions"]]
    else:
        lines.append("No complete report before this day.")
    lines.append("The answers below use what exists (the days named in each).")
    return lines


def render_markdown(report: dict) -> str:
    lines = [
        f"## Readiness on {report['day']}: {MARK[report['overall']]} {report['overall']}",
        f"Week {report['week']}; launched {report['launch']}.",
        *_degraded_md(report),
        "",
        "| | question | answer | about | from |",
        "| --- | --- | --- | --- | --- |",
    ]
    for q in report["questions"]:
        lines.append(
            f"| {MARK[q['status']]} | {q['question']} | {q['answer']} | {q.get('version', '–')} "
            f"| {', '.join(q['source'])} |"
        )
    daily = report["layers"]["performance"]["daily"]
    estimate = [d["label_free_estimate"] for d in daily]
    real = [d["task_success"] for d in daily]
    lines += [
        "",
        f"### Output and performance layers, per scored day ({version_spans(daily)})",
        f"label-free estimate `{sparkline(estimate)}` "
        f"({_fmt(estimate[0] if estimate else None)} → {_fmt(estimate[-1] if estimate else None)})",
        "",
        f"task success (labels) `{sparkline(real)}` (gaps: labels not in yet)",
        "",
        f"override rate `{sparkline([d.get('override_rate') for d in daily])}` "
        "(known the day after scoring; rises when suggestions go wrong)",
        "",
        "| day | served by | rows | label-free estimate | task success | labelled "
        "| override rate | acceptance | used | KPI |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for d in daily:
        lines.append(
            f"| {d['day']} | {d.get('served', d['version'])} | {d['rows']} | "
            f"{_fmt(d['label_free_estimate'])} | {_fmt(d['task_success'])} | "
            f"{d['labelled_share']:.0%} | {_fmt(d.get('override_rate'))} | "
            f"{_fmt(d.get('acceptance_rate'))} | {_fmt(d.get('used_share'))} | "
            f"{_fmt(d.get('kpi'))} |"
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
    segments = report["layers"]["performance"]["segments"]
    if segments:  # a header without rows says nothing: no segments, no section
        about = report["layers"]["performance"].get("segments_version", "")
        lines += [
            "",
            f"### Performance by segment (this week; {about})",
            "| segment | value | rows | task success | acceptance | yes rate | error |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
    for r in segments:
        lines.append(
            f"| {r['segment']} | {r['value']} | {r['rows']} | {_fmt(r['task_success'])} | "
            f"{_fmt(r['acceptance_rate'])} | {_fmt(r['decision_rate'])} | "
            f"{_fmt(r['error_rate'])} |"
        )
    lines += _agent_md(report)
    return "\n".join(lines)


COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


def svg_chart(
    title: str,
    days: list[str],
    series: dict[str, list[float | None]],
    lines: dict[str, float | None] | None = None,
    width: int = 640,
    height: int = 220,
) -> str:
    """A line chart with a dated x axis: one polyline per series (None breaks nothing, the
    point is left out), a dashed horizontal line per reference value (baseline, floor), the
    y range labelled. Empty string when there is nothing to draw."""
    refs = {k: v for k, v in (lines or {}).items() if v is not None}
    values = [v for s in series.values() for v in s if v is not None]
    if not values or not days:
        return ""
    low, high = min(values + list(refs.values())), max(values + list(refs.values()))
    span = (high - low) or 1.0
    left, right, top, bottom = 56, 16, 12, 44
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(i: int) -> float:
        if len(days) == 1:
            return left + plot_w / 2
        return left + i * plot_w / (len(days) - 1)

    def y(v: float) -> float:
        return top + plot_h - (v - low) / span * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{html.escape(title)}">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#999"/>',
    ]
    for v in (low, (low + high) / 2, high):
        out.append(
            f'<text x="{left - 4}" y="{y(v) + 4:.1f}" font-size="10" text-anchor="end">'
            f"{v:.3g}</text>"
        )
    step = max(1, (len(days) + 5) // 6)  # at most about seven dated ticks
    ticks = [i for i in range(0, len(days), step) if len(days) - 1 - i >= step / 2 or i == 0]
    ticks = sorted({*ticks, len(days) - 1})

    def anchor(i: int) -> str:  # the end dates stay inside the picture
        if len(days) == 1:
            return "middle"
        return "start" if i == 0 else ("end" if i == len(days) - 1 else "middle")

    for i in ticks:
        out.append(
            f'<line x1="{x(i):.1f}" y1="{top + plot_h}" x2="{x(i):.1f}" '
            f'y2="{top + plot_h + 4}" stroke="#999"/>'
            f'<text x="{x(i):.1f}" y="{top + plot_h + 16}" font-size="10" '
            f'text-anchor="{anchor(i)}">{html.escape(days[i])}</text>'
        )
    legend = [left]  # where the next legend entry starts

    def label(name: str, colour: str) -> str:
        at = legend[0]
        legend[0] += 7 * len(name) + 24  # about 7 px a character at 11 px
        return (
            f'<text x="{at}" y="{height - 6}" fill="{colour}" font-size="11">'
            f"{html.escape(name)}</text>"
        )

    for (name, value), colour in zip(refs.items(), ["#555555", "#d62728"], strict=False):
        out.append(
            f'<line x1="{left}" y1="{y(value):.1f}" x2="{left + plot_w}" y2="{y(value):.1f}" '
            f'stroke="{colour}" stroke-dasharray="5,4"/>'
        )
        out.append(label(f"{name} {value:.3f}", colour))
    for (name, points), colour in zip(series.items(), COLOURS, strict=False):
        xy = [f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(points) if v is not None]
        out.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(xy)}"/>'
        )
        out += [
            f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="2.5" fill="{colour}"/>'
            for p in xy
        ]
        out.append(label(name, colour))
    out.append("</svg>")
    return "".join(out)


def _agent_md(report: dict) -> list[str]:
    """The agent view, for the workflow's owner (only a workflow that declares actions)."""
    view = report.get("agent_actions")
    if view is None:
        return []
    lines = ["", f"### What the agent did ({report['day']}), per action type"]
    if not view:
        return [*lines, "no requests"]
    columns = list(view[0])
    lines += ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |" for r in view]
    return lines


def _agent_html(report: dict) -> str:
    view = report.get("agent_actions")
    if view is None:
        return ""
    title = f"<h2>What the agent did ({html.escape(report['day'])}), per action type</h2>"
    if not view:
        return title + "<p>no requests</p>"
    columns = list(view[0])
    return title + _table(columns, [[r.get(c) for c in columns] for r in view])


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def charts(report: dict) -> list[tuple[str, str]]:
    """(title, SVG): task success per day with the baseline and the floor, adoption (what
    people did with the outputs) and the business KPI against its pre-deployment level, each
    titled with the versions that served; a chart with nothing to draw is left out."""
    daily = report["layers"]["performance"]["daily"]
    days = [d["day"] for d in daily]
    q1, spans = report["questions"][0], version_spans(daily)
    kpi = report["questions"][3].get("kpi", "KPI")
    wanted = [
        (
            f"Task success per scored day ({spans})",
            {
                "task success (labels)": [d["task_success"] for d in daily],
                "label-free estimate": [d["label_free_estimate"] for d in daily],
            },
            {
                f"baseline (version {q1.get('baseline_version')})": q1.get("baseline"),
                "floor": q1.get("floor"),
            },
        ),
        (
            f"Adoption per scored day ({spans})",
            {
                "accepted share of used outputs": [d.get("acceptance_rate") for d in daily],
                "share of outputs used": [d.get("used_share") for d in daily],
            },
            None,
        ),
        (
            f"{kpi} per scored day ({spans})",
            {kpi: [d.get("kpi") for d in daily]},
            {"before deployment": report["questions"][3].get("kpi_pre_deployment")},
        ),
    ]
    found = [(title, svg_chart(title, days, series, refs)) for title, series, refs in wanted]
    return [(title, svg) for title, svg in found if svg]


def _degraded_html(report: dict) -> str:
    found = report.get("degraded")
    if not found:
        return ""
    good = found.get("last_good")
    known = (
        f"<p>Last complete report: {html.escape(good['day'])} "
        f"{_badge(good['overall'])}</p>"
        + _table(
            ["question", "status", "answer"],
            [[q["question"], q["status"], q["answer"]] for q in good["questions"]],
        )
        if good
        else "<p>No complete report before this day.</p>"
    )
    return (
        f"<h2>Degraded report: the daily run for {html.escape(found['day'])} stopped before "
        "this report</h2>"
        "<h3>Why</h3><ul>"
        + "".join(f"<li>{html.escape(w)}</li>" for w in found["why"])
        + "</ul><h3>Missing</h3>"
        + _table(["asset", "partition"], [[m["asset"], m["partition"]] for m in found["missing"]])
        + "<h3>Known</h3>"
        + known
        + "<p>The answers below use what exists (the days named in each).</p>"
    )


def render_html(report: dict) -> str:
    rows = "".join(
        f"<tr><td>{_badge(q['status'])}</td><td>{html.escape(q['question'])}</td>"
        f"<td>{html.escape(q['answer'])}</td><td>{html.escape(q.get('version', '–'))}</td>"
        f"<td>{html.escape(', '.join(q['source']))}</td></tr>"
        for q in report["questions"]
    )
    perf = report["layers"]["performance"]
    daily = _table(
        ["day", "served by", "rows", "task success", "labelled", "label-free estimate",
         "acceptance", "used", "KPI"],
        [
            [d["day"], d.get("served", d["version"]), d["rows"], d["task_success"],
             d.get("labelled"), d["label_free_estimate"], d.get("acceptance_rate"),
             d.get("used_share"), d.get("kpi")]
            for d in perf["daily"]
        ],
    )  # fmt: skip
    segments = (
        f"<h2>Performance by segment (this week; {html.escape(perf.get('segments_version', ''))})"
        "</h2>"
        + _table(
            ["segment", "value", "rows", "task success", "acceptance", "yes rate", "error"],
            [
                [
                    r["segment"],
                    r["value"],
                    r["rows"],
                    r["task_success"],
                    r["acceptance_rate"],
                    r["decision_rate"],
                    r["error_rate"],
                ]
                for r in perf["segments"]
            ],
        )  # fmt: skip
        if perf["segments"]
        else ""
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
        + _degraded_html(report)
        + "<table><tr><th></th><th>question</th><th>answer</th><th>about</th><th>from</th></tr>"
        f"{rows}</table>"
        "<h2>Per scored day</h2>"
        + "".join(f"<h3>{html.escape(title)}</h3><div>{svg}</div>" for title, svg in charts(report))
        + daily
        + segments
        + f"<h2>Stages</h2><table><tr><th>stage</th><th>value</th><th>status</th></tr>{stages}"
        "</table>" + _agent_html(report) + "</body></html>"
    )
