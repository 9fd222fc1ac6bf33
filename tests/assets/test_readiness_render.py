"""The readiness report as the Dagster UI and the HTML page show it: stable metadata keys a
plot can follow, a segment table filled or absent, dated charts, a degraded page that says
what is missing and why. Reports come from `build_report` on small hand-made inputs."""

import re
from datetime import date

import pytest
from dagster import FloatMetadataValue, TextMetadataValue

from assets.readiness_render import (
    charts,
    question_metadata,
    render_html,
    render_markdown,
    version_spans,
)
from checks.readiness import build_report
from tests.checks.test_readiness import (
    NO_LABELS,
    TODAY,
    YESTERDAY,
    _blocked_day,
    _canary_week,
    _feedback,
    _inputs,
    _labels,
    _regression_inputs,
)

STATUS_WORDS = ("ok", "warn", "fail", "unknown")


def _reports() -> list[dict]:
    """Partitions as different as they come: healthy, no labels yet, a canary mix, a
    regression without an estimate, a blocked day."""
    later = _inputs(day=date(2026, 3, 11), labels=NO_LABELS)
    return [
        build_report(_inputs()),
        build_report(later),
        build_report(_canary_week()),
        build_report(_regression_inputs(_labels(["a", "b", "c", "d"], [11.0, 25.0, 30.0, 41.5]))),
        build_report(_blocked_day()),
    ]


def test_every_partition_has_the_same_metadata_keys_with_plottable_values():
    keyed = [question_metadata(r) for r in _reports()]
    assert len({frozenset(k) for k in keyed}) == 1, [sorted(k) for k in keyed]
    keys = set(keyed[0])
    assert {f"q{i}_{part}" for i in range(1, 6) for part in ("status", "value", "version")} <= keys
    # No key carries a status or a date: its name is the question's, whatever the answer.
    for key in keys:
        assert not re.search(r"\d{4}-\d{2}-\d{2}", key)
        assert not any(key.endswith(f"_{word}") for word in STATUS_WORDS), key
    for entries in keyed:
        for i in range(1, 6):
            assert isinstance(entries[f"q{i}_value"], FloatMetadataValue)
            assert isinstance(entries[f"q{i}_status"], TextMetadataValue)
    healthy, no_labels, canary, _, blocked = keyed
    assert healthy["q1_value"].value == 1.0 and healthy["q1_status"].value == "ok"
    assert no_labels["q1_value"].value == pytest.approx(0.85)  # the estimate, no labels yet
    assert canary["q1_version"].value.startswith("mixed: version 3 (champion arm")
    assert blocked["q5_value"].value is None and blocked["degraded"].value is True


def test_the_segment_table_is_filled_or_absent():
    with_segments = build_report(_inputs())
    assert with_segments["layers"]["performance"]["segments"]
    markdown = render_markdown(with_segments)
    assert "### Performance by segment (this week; version 3, champion arm)" in markdown
    assert "| channel | chat | 4 |" in markdown
    assert "<h2>Performance by segment" in render_html(with_segments)
    assert "<td>channel</td><td>chat</td><td>4</td>" in render_html(with_segments)

    without = build_report(_inputs(segments=[]))
    assert "Performance by segment" not in render_markdown(without)
    assert "Performance by segment" not in render_html(without)


def test_the_charts_have_dated_axes_the_baseline_the_floor_and_the_versions_in_the_title():
    week = _canary_week()
    # Feedback on both days, so the adoption and KPI charts have points on each.
    week.actions_recent = _feedback(
        ["a", "b", "e", "g"], [1, 1, 1, 1], [1, 0, 1, 1], day=TODAY, kpi=[9.0, 11.0, 10.0, 12.0]
    )
    report = build_report(week)
    drawn = dict(charts(report))
    titles = list(drawn)
    assert [t.split(" (")[0] for t in titles] == [
        "Task success per scored day",
        "Adoption per scored day",
        "handling minutes per scored day",
    ]
    spans = f"version 3 {YESTERDAY}; versions 3+5 {TODAY}"
    assert version_spans(report["layers"]["performance"]["daily"]) == spans
    assert all(t.endswith(f"({spans})") for t in titles)
    task = drawn[titles[0]]
    assert f">{YESTERDAY}</text>" in task and f">{TODAY}</text>" in task  # dated x axis
    assert "baseline (version 3) 0.840" in task and "floor 0.790" in task
    assert task.count('stroke-dasharray="5,4"') == 2  # the two reference lines
    assert "before deployment 12.000" in drawn[titles[2]]
    page = render_html(report)
    assert all(f"<h3>{t}</h3>" in page for t in titles) and page.count("<svg") == 3


def test_without_feedback_there_is_no_adoption_or_kpi_chart():
    empty = _feedback([], [], [])
    report = build_report(_inputs(actions_week=empty, actions_recent=empty))
    assert [t.split(" (")[0] for t, _ in charts(report)] == ["Task success per scored day"]


def test_a_blocked_day_page_says_what_is_missing_why_and_what_was_last_known():
    report = build_report(_blocked_day())
    page = render_html(report)
    assert f"Degraded report: the daily run for {TODAY} stopped before this report" in page
    assert "orders/raw.raw_contract (ERROR): message_length: column missing" in page
    assert f"<td>orders/predictions</td><td>{TODAY}</td>" in page
    assert "Last complete report: 2026-03-08" in page and "task success 0.850" in page
    markdown = render_markdown(report)
    assert f"Missing: orders/features [{TODAY}], orders/predictions [{TODAY}]" in markdown
    assert "Last complete report: 2026-03-08 (ok):" in markdown
    assert "Degraded" not in render_html(build_report(_inputs()))
