"""The three everyday questions, answered in the real Dagster UI on the loop demo's home: the
webserver started as `afterlaunch ui` starts it (simulated today, no daemon), driven in Debian's
headless chromium. Screenshots land in the test's temporary folder."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import time
import urllib.request
from contextlib import closing, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from orchestration.home import Home
from orchestration.ui import ui_launch
from resources.alerts import outbox_path
from workflows.ticket_escalation.workflow import WORKFLOW as WF

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
WAIT_MS = 60_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def webserver(home: Home):
    port = _free_port()
    launch = ui_launch(home, host="127.0.0.1", port=port)
    env = {**os.environ, **launch.env}
    web = subprocess.Popen(
        launch.command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{base}/server_info", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "dagster-webserver did not come up"
                time.sleep(1)
        yield base, launch
    finally:
        web.terminate()
        web.wait(timeout=30)


def _alert(home: Home, check: str, partition: str) -> dict:
    with closing(sqlite3.connect(outbox_path(home.root, WF.name))) as db:
        rows = db.execute(
            "select payload from alerts where key like ?", (f"%.{check}:{partition}:%",)
        ).fetchall()
    assert rows, f"no alert for {check} on {partition}"
    return json.loads(rows[-1][0])


def _rebased(url: str, base: str) -> str:
    """The alert's link on the test's own webserver (same path, another port)."""
    parts = urlsplit(url)
    return base + parts.path + (f"?{parts.query}" if parts.query else "")


def answer_the_three_questions(home: Home, shots: Path) -> None:
    from playwright.sync_api import sync_playwright

    drift = _alert(home, "drift", "2026-01-15")
    assert drift["url"].startswith(os.environ["AFTERLAUNCH_DAGSTER_URL"])
    assert drift["in_a_row"] == 3 and "first_response_minutes moved by" in drift["change"]
    assert "retraining requested" in drift["action"] and "/runs/" in drift["action"]
    run_url = next(w for w in drift["action"].replace(",", " ").split() if "/runs/" in w)
    with webserver(home) as (base, launch), sync_playwright() as p:
        assert "dev" not in launch.command  # a demo home: no daemon ticking on the real clock
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1100})

        def visit(url: str) -> None:
            page.goto(url)
            try:
                page.get_by_role("button", name="Skip").click(timeout=5_000)  # pop-up, once
            except Exception:  # noqa: BLE001 - shown once per browser profile, or not
                pass

        def shot(name: str) -> None:
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

        # 1. On call: from the alert's link to what drifted by how much, and what was done.
        visit(_rebased(drift["url"], base))
        page.get_by_text("Execution history").first.click(timeout=WAIT_MS)
        row = page.get_by_role("row").filter(has_text="2026-01-15")
        row.first.wait_for(timeout=WAIT_MS)
        row.first.get_by_role("button").last.click(timeout=WAIT_MS)  # the evaluation's metadata
        page.get_by_text("histogram/first_response_minutes").first.wait_for(timeout=WAIT_MS)
        page.get_by_text("first_response_minutes/effect", exact=True).first.wait_for(
            timeout=WAIT_MS
        )
        shot("1-drift-evaluation")
        visit(_rebased(run_url, base))
        page.get_by_text("retraining").first.wait_for(timeout=WAIT_MS)
        shot("1-retraining-run")
        visit(f"{base}/assets/{WF.name}/incident_timeline?view=partitions&partition=2026-01-15")
        page.get_by_text("[Show Markdown]").first.click(timeout=WAIT_MS)
        page.get_by_text("because drift failed 2 days in a row").first.wait_for(timeout=WAIT_MS)
        page.get_by_text("version 4 judged against v1: reject").first.wait_for(timeout=WAIT_MS)
        shot("1-timeline")
        page.keyboard.press("Escape")

        # 2. The domain owner: the five answers with this week's numbers, each naming its version.
        visit(f"{base}/assets/{WF.name}/readiness_report")
        for question in ("q1", "q2", "q3", "q4", "q5"):
            page.get_by_text(f"{question}_version", exact=True).first.wait_for(timeout=WAIT_MS)
        page.get_by_text("baseline 0.", exact=False).first.wait_for(timeout=WAIT_MS)
        page.get_by_text("version 5, champion arm").first.wait_for(timeout=WAIT_MS)
        shot("2-readiness")

        # 3. Why was version 3 rolled back, and who let version 5 in: champion's history.
        visit(f"{base}/assets/{WF.name}/champion?view=checks&checkDetail=deployment_history")
        page.get_by_text("[Show Markdown]").first.click(timeout=WAIT_MS)
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("canary_rollback").first.wait_for(timeout=WAIT_MS)
        text = dialog.inner_text()
        shot("3-champion-history")
        browser.close()
    rollback = next(line for line in text.splitlines() if "canary_rollback" in line)
    assert "3" in rollback and "below the floor" in rollback
    promotion = next(
        line for line in text.splitlines() if "promotion" in line and "v5" in line.replace(" ", "")
    )
    assert "rollout" in promotion  # who: the rollout, on the canary's evidence


def test_the_ui_answers_the_three_questions_from_the_alert_the_report_and_the_history(
    loop_demo, tmp_path
):
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: `make test` installs it"
    answer_the_three_questions(loop_demo.home, tmp_path)
    saved = sorted(p.name for p in tmp_path.glob("*.png"))
    assert len(saved) == 5, saved
