"""Shared pytest fixtures and the reliability figures printed at the end of a session."""

import os
import tempfile
from pathlib import Path

from tests.support import reliability
from tests.support.loop_scenario import loop_demo  # noqa: F401  (module fixture)
from tests.support.postgres import postgres_cluster  # noqa: F401  (session fixture)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "bad_input: the test feeds a bad input and expects a named refusal"
    )
    # Only the controller (or a run without workers) names the file; workers inherit it.
    if not hasattr(config, "workerinput"):
        fd, path = tempfile.mkstemp(prefix="afterlaunch-reliability-", suffix=".jsonl")
        os.close(fd)
        os.environ[reliability.ENV] = path
        config._reliability_log = Path(path)


_BAD_INPUTS = [0, 0]  # tests tried, refused as expected (from the tests' reports)


def pytest_runtest_logreport(report):
    # Runs in the controller for every worker's report too.
    if report.when == "call" and "bad_input" in report.keywords:
        _BAD_INPUTS[0] += 1
        _BAD_INPUTS[1] += report.passed


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    path = getattr(config, "_reliability_log", None)
    if path is None:
        return
    lines = reliability.summary(path)
    if hasattr(config, "workerinput"):
        return
    tried, refused = _BAD_INPUTS
    if tried:
        lines.insert(0, f"bad inputs tried: {tried}, refused with a named error: {refused}")
    if lines:
        terminalreporter.section("reliability")
        for line in lines:
            terminalreporter.write_line(line)
    path.unlink(missing_ok=True)


# With `--dist loadfile --no-loadscope-reorder` files start in collection order. The files
# whose module fixtures build a whole deployment start first, each on its own worker, so the
# suite lasts about as long as its longest file rather than whichever started last; files that
# read the session's shared loop demo start last, when it is built.
FIRST = (
    "tests/orchestration/test_demo_loop.py",
    "tests/assets/test_incidents.py",
    "tests/orchestration/test_init_workflow.py",
    "tests/assets/test_promotion_flow.py",
    "tests/workflows/rainfall/test_demo.py",
    "tests/orchestration/test_schema_backfill.py",
    "tests/orchestration/test_challenger_queue.py",
    "tests/orchestration/test_alias_bypass.py",
    "tests/orchestration/test_pipeline_demo.py",
)
# Files that wait for the shared loop demo: dispatched last, when it is built, so that no
# worker sits idle on its lock while other files could run.
LAST = (
    "tests/orchestration/test_demo_loop_live.py",
    "tests/orchestration/test_ui_story.py",
    "tests/orchestration/test_agent_actions_demo.py",
    "tests/orchestration/test_alert_context.py",
    "tests/assets/test_incident_timeline.py",
)


def pytest_collection_modifyitems(session, config, items):
    def rank(item) -> tuple[int, int]:
        path = item.nodeid.split("::")[0]
        if path in FIRST:
            return 0, FIRST.index(path)
        if path in LAST:
            return 2, LAST.index(path)
        return 1, 0

    items.sort(key=rank)  # stable: the rest keep their order
