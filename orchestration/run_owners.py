"""Which process runs a run, and the runs whose process is gone.

A run executed in this process (the CLI, the demo) stays STARTED forever in Dagster's run
storage if the process is killed: nothing else knows it died. So every run we start carries its
owner as tags (host, pid and the process's start time, which tells a live process from a new one
that reused the pid), and :func:`fail_orphaned_runs` marks those whose owner is gone as failed,
saying why. Runs without the tags (launched by the daemon) are left to Dagster's run monitoring.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

HOST, PID, STARTED_AT = "afterlaunch/host", "afterlaunch/pid", "afterlaunch/process_start"
_ACTIVE = [DagsterRunStatus.STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.NOT_STARTED]


def _process_start(pid: int) -> str | None:
    """Clock ticks after boot at which ``pid`` started (field 22 of /proc/PID/stat), or None
    when no such process exists."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    return stat.rsplit(")", 1)[1].split()[19]


def owner_tags() -> dict[str, str]:
    pid = os.getpid()
    return {HOST: socket.gethostname(), PID: str(pid), STARTED_AT: _process_start(pid) or ""}


def _gone(tags: dict[str, str]) -> str | None:
    """Why the run's owner is gone (None if it may still be running or we cannot tell)."""
    if tags.get(HOST) != socket.gethostname() or not tags.get(PID, "").isdigit():
        return None
    pid = int(tags[PID])
    started = _process_start(pid)
    if started is None:
        return f"its process (pid {pid} on {tags[HOST]}) no longer exists"
    if tags.get(STARTED_AT) and started != tags[STARTED_AT]:
        return f"its process (pid {pid} on {tags[HOST]}) exited; the pid now belongs to another"
    return None


def fail_orphaned_runs(instance: DagsterInstance) -> list[str]:
    """Mark failed every unfinished run whose owning process died; one sentence per run."""
    said = []
    for run in instance.get_runs(RunsFilter(statuses=_ACTIVE)):
        reason = _gone(run.tags)
        if reason is None:
            continue
        message = f"run {run.run_id[:8]} of {run.job_name} was left {run.status.value}: {reason}"
        instance.report_run_failed(run, message=f"{message}; marked failed by afterlaunch repair")
        said.append(f"{message}: marked failed")
    return said
