"""`afterlaunch review-samples`: a person lists, marks, counts and works through the sampled
outputs of a home's review list (filled here directly, as the daily asset would)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from orchestration.cli import main
from resources.clock import SIMULATED_NOW
from resources.sample_reviews import VERDICTS, SampleReviews, reviews_path
from workflows.ticket_escalation.workflow import WORKFLOW as WF

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
NOW = "2026-03-03T09:30:00+00:00"


def _items(*rows: tuple[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": [r[0] for r in rows],
            "question": [f"How do I get a refund for order {r[0]}?" for r in rows],
            "output": [f"Refunds for {r[0]} are possible within 30 days." for r in rows],
            "context": [["Refunds: within 30 days of purchase.", "Plans: Pro, Team."]] * len(rows),
            "faithfulness": [r[1] for r in rows],
            "version": "2",
        }
    )


@pytest.fixture
def filled(home, monkeypatch):
    """The home's review list with three samples of one day and one of the next."""
    monkeypatch.setenv(SIMULATED_NOW, NOW)
    monkeypatch.delenv("AFTERLAUNCH_ACTOR", raising=False)
    path = reviews_path(home.root, WF.name)
    with SampleReviews(path) as store:
        store.add_samples("2026-03-01", _items(("t1", 1.0), ("t2", 0.5), ("t3", math.nan)), T0)
        store.add_samples("2026-03-02", _items(("t4", 1.0)), T0)
    return home, path


def run(home, *argv: str) -> int:
    return main(["review-samples", *argv, "--home", str(home.root), "--workflow", WF.name])


def test_list_shows_the_pending_samples_oldest_first(filled, capsys, monkeypatch):
    home, _ = filled
    assert run(home) == 0  # no verb: list
    out = capsys.readouterr().out
    assert out.index("2026-03-01  t1  faithfulness 1.00  version 2") < out.index("2026-03-02  t4")
    assert "2026-03-01  t3  faithfulness unscored" in out
    assert "question: How do I get a refund for order t2?" in out
    assert "context:  Refunds: within 30 days of purchase. Plans: Pro, Team." in out
    assert "4 shown of 4 pending (4 sampled)" in out
    # The home and workflow named before the verb hold (the verb's own options default to
    # nothing, not to None).
    monkeypatch.delenv("AFTERLAUNCH_HOME")  # (which the first command set)
    assert (
        main(
            ["review-samples", "--home", str(home.root), "--workflow", WF.name, "list"]
            + ["--limit", "1"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "t1" in out and "t2" not in out and "1 shown of 4 pending" in out


def test_mark_records_the_verdict_of_the_acting_person(filled, capsys):
    home, path = filled
    assert (
        run(home, "mark", "2026-03-01", "t2", "unsupported", "--note", "30 days?", "--actor", "ana")
        == 0
    )
    assert capsys.readouterr().out.strip() == "2026-03-01 t2: unsupported by ana"
    row = SampleReviews(path).samples("2026-03-01").set_index("item_id").loc["t2"]
    assert (row["verdict"], row["reviewer"], row["note"]) == ("unsupported", "ana", "30 days?")
    assert row["reviewed_at"] == "2026-03-03T09:30:00.000000+00:00"
    run(home)
    assert "t2" not in capsys.readouterr().out


@pytest.mark.bad_input
def test_an_unknown_item_or_verdict_is_refused(filled, capsys):
    home, path = filled
    with pytest.raises(SystemExit, match="no sample 'nope' of partition '2026-03-01'"):
        run(home, "mark", "2026-03-01", "nope", "supported")
    with pytest.raises(SystemExit) as refused:
        run(home, "mark", "2026-03-01", "t1", "maybe")
    assert refused.value.code == 2  # argparse: invalid choice
    assert "invalid choice: 'maybe'" in capsys.readouterr().err
    assert SampleReviews(path).counts()["reviewed"] == 0


@pytest.mark.bad_input
def test_a_home_without_a_review_list_or_an_unknown_workflow_says_so(home):
    with pytest.raises(SystemExit, match="no samples yet: the daily hallucination_sample asset"):
        run(home, "counts")
    assert not reviews_path(home.root, WF.name).exists()  # looking created nothing
    with pytest.raises(SystemExit, match="no workflow 'nope'"):
        main(["review-samples", "--home", str(home.root), "--workflow", "nope"])


def test_counts_json_gives_the_figures(filled, capsys):
    home, _ = filled
    run(home, "mark", "2026-03-01", "t1", "supported", "--actor", "ana")  # agrees
    run(home, "mark", "2026-03-01", "t2", "supported", "--actor", "ana")  # disagrees
    run(home, "mark", "2026-03-01", "t2", "unsupported", "--actor", "ben")  # latest: agrees
    run(home, "mark", "2026-03-01", "t3", "unsure", "--actor", "ben")  # not compared
    capsys.readouterr()
    assert run(home, "counts", "--json") == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts == {
        "workflow": WF.name,
        "sampled": 4,
        "reviewed": 3,
        "pending": 1,
        "supported": 1,
        "unsupported": 1,
        "unsure": 1,
        "scored": 3,
        "mean_faithfulness": pytest.approx(2.5 / 3),
        "compared": 2,
        "agreement": 1.0,
    }
    assert run(home, "counts", "--since", "2026-03-02") == 0
    out = capsys.readouterr().out
    assert f"review list of {WF.name}: 1 sampled, 0 reviewed, 1 pending" in out
    assert "agreement with the automatic score: nothing to compare yet" in out


def test_work_reads_verdicts_from_a_pipe(filled):
    home, path = filled
    env = {**os.environ, "AFTERLAUNCH_ACTOR": "cleo"}
    # t1 supported; a wrong answer asked again; t2 unsupported with a note; stop before t3.
    answers = "s\nx\nu the 30 days are not in the reply's passage\nq\n"
    done = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "review-samples", "work"]
        + ["--home", str(home.root), "--workflow", WF.name],
        input=answers,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "'x' is not an answer: type s, u, ? or q" in done.stdout
    assert "2 verdict(s) recorded by cleo; 2 still pending" in done.stdout
    assert "Plans: Pro, Team." in done.stdout  # the whole context, passages apart
    stored = SampleReviews(path).samples().set_index("item_id")
    assert list(stored["verdict"].fillna("-")) == ["supported", "unsupported", "-", "-"]
    assert stored.loc["t2", "note"] == "the 30 days are not in the reply's passage"
    assert set(stored["reviewer"].dropna()) == {"cleo"}


def test_work_stops_at_the_end_of_its_input(filled, monkeypatch, capsys):
    import io

    home, path = filled
    monkeypatch.setattr(sys, "stdin", io.StringIO("?\n"))
    assert run(home, "work", "--actor", "dan") == 0
    assert "1 verdict(s) recorded by dan; 3 still pending" in capsys.readouterr().out
    assert SampleReviews(path).counts()["unsure"] == 1


def test_the_verbs_choices_are_the_stores_verdicts():
    from orchestration.review_samples_cli import ANSWERS

    assert sorted(ANSWERS.values()) == sorted(VERDICTS)
