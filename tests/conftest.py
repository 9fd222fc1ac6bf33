"""Shared pytest fixtures and the reliability figures printed at the end of a session."""

import os
import tempfile
from pathlib import Path

from tests.support import reliability
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
