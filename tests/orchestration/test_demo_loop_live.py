"""The loop demo's home under the real processes a deployment runs: `dagster-daemon` ticking
every sensor of both shipped workflows, and `dagster-webserver` driven in Debian's headless
chromium. Apart from test_demo_loop.py so that another worker runs them once the shared demo is
built (tests/conftest.py schedules them last)."""

import pytest
from dagster import DagsterInstance

from tests.support.demo_home import copied_home
from workflows.ticket_escalation.workflow import WORKFLOW as WF


@pytest.fixture(scope="module")
def demo(loop_demo):
    return loop_demo.home, loop_demo.result, loop_demo.document, loop_demo.mp


@pytest.fixture
def own_copy(loop_demo, tmp_path):
    home = copied_home(loop_demo, tmp_path, WF)
    return home, loop_demo.result


def test_the_real_daemon_on_the_same_home_ticks_every_sensor_and_repeats_no_run(own_copy):
    """`dagster-daemon run` on the demo's instance with the repository's workspace: every sensor
    of both shipped workflows ticks on the wall clock (the rainfall's, with no data of its own
    in this home, without failing), and the runs the simulation launched under a sensor's run
    keys are not launched again."""
    import subprocess
    import time as wall
    from pathlib import Path

    from dagster._core.scheduler.instigation import InstigatorType, TickStatus

    home, _ = own_copy
    instance = DagsterInstance.from_config(str(home.dagster_home))
    runs_before = len(instance.get_runs())
    names = {
        "drift_retraining_sensor",
        "label_retraining_sensor",
        "performance_retraining_sensor",
        "challenger_sensor",
        "rollout_sensor",
        "alert_sensor",
        "champion_repair_sensor",
        "blocked_day_readiness_sensor",
        "alias_watch_sensor",
    }
    sensors = {(location, n) for location in (WF.name, "rainfall") for n in names}
    sensors.add(("reply_suggestions", "alert_sensor"))  # a staged pipeline's only sensor
    daemon = subprocess.Popen(
        [
            str(Path(__import__("sys").executable).parent / "dagster-daemon"),
            "run",
            "-w",
            "workspace.yaml",
        ],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ticked: dict[str, object] = {}
        deadline = wall.monotonic() + 90
        while wall.monotonic() < deadline and set(ticked) != sensors:
            wall.sleep(2)
            for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
                ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)
                if ticks and ticks[0].status != TickStatus.STARTED:
                    ticked[(state.selector.location_name, state.instigator_name)] = ticks[0]
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    assert set(ticked) == sensors
    assert all(t.status != TickStatus.FAILURE for t in ticked.values()), {
        n: t.error for n, t in ticked.items()
    }
    assert len(instance.get_runs()) == runs_before


CHROMIUM = "/usr/bin/chromium"
# As root, on a machine with no outside network: no sandbox, no background connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_the_dagster_ui_shows_both_workflows_a_failed_drift_check_and_the_readiness_report(demo):
    """The real dagster-webserver on the demo's home with the repository's workspace (one code
    location per shipped workflow), driven in Debian's headless chromium."""
    import socket
    import subprocess
    import sys
    import time as wall
    import urllib.request
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: `make test` installs it"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    web = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-webserver"),
            *("-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)),
        ],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = wall.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/server_info", timeout=2)
                break
            except OSError:
                assert wall.monotonic() < deadline, "dagster-webserver did not come up"
                wall.sleep(1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})

            def visit(path: str) -> None:
                page.goto(base + path)
                skip = page.get_by_role("button", name="Skip")  # the community pop-up
                try:
                    skip.click(timeout=8_000)
                except Exception:  # noqa: BLE001 - shown once per browser profile, or not
                    pass

            # Both code locations loaded on the one instance, each with its own graph.
            visit("/locations")
            for location in ("ticket_escalation", "rainfall"):
                page.get_by_role("link", name=location).first.wait_for(timeout=60_000)
            visit("/locations/rainfall/asset-groups/profiles")
            page.get_by_text("reference_profile").first.wait_for(timeout=30_000)
            page.get_by_text("profiles", exact=True).first.wait_for(timeout=30_000)
            # The asset graph: the monitoring group with the report and the weekly evaluation.
            visit(f"/locations/{WF.name}/asset-groups/monitoring")
            page.get_by_text("readiness_report").first.wait_for(timeout=30_000)
            page.get_by_text("weekly_evaluation").first.wait_for(timeout=30_000)
            # A failed drift check and its per-column table.
            visit(f"/assets/{WF.name}/profiles?view=checks")
            page.get_by_text("drift", exact=True).first.wait_for(timeout=30_000)
            page.get_by_text("Failed").first.wait_for(timeout=30_000)
            for header in ("column", "statistic", "p_value", "decision"):
                page.get_by_text(header, exact=True).first.wait_for(timeout=30_000)
            page.get_by_text("first_response_minutes").first.wait_for(timeout=30_000)
            # The readiness report, its Markdown opened from the metadata.
            visit(f"/assets/{WF.name}/readiness_report")
            page.get_by_text("@champion is").first.wait_for(timeout=30_000)  # question 5
            page.get_by_text("[Show Markdown]").first.click(timeout=30_000)
            page.get_by_text("Readiness on").first.wait_for(timeout=30_000)
            page.get_by_text("adoption vs month 1").first.wait_for(timeout=30_000)
            browser.close()
    finally:
        web.terminate()
        web.wait(timeout=30)
