"""What `afterlaunch ui` starts: the command and the environment it adds.

On a demo home the days are simulated: the UI is opened at the simulated today (partitions end
there, "now" is that moment) with the webserver alone, so no daemon ticks the sensors and
schedules against the real clock. `live` (or a home no demo ran on) starts `dagster dev`: the
webserver and the daemon, on the real clock.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.demo import demo_clock
from orchestration.home import Home
from resources.clock import CALENDAR_END, SIMULATED_NOW
from resources.links import DAGSTER_URL_ENV, DEFAULT_DAGSTER_URL

WORKSPACE = Path(__file__).resolve().parent.parent / "workspace.yaml"


@dataclass(frozen=True)
class UiLaunch:
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)  # set on top of the activated home's
    note: str | None = None  # one line for the person who started it


def _tool(name: str) -> str:
    return shutil.which(name) or str(Path(sys.executable).with_name(name))


def ui_launch(home: Home, *, host: str, port: int, live: bool = False) -> UiLaunch:
    if not WORKSPACE.exists():
        raise SystemExit(f"no workspace.yaml beside the project ({WORKSPACE})")
    target = ["-w", str(WORKSPACE), "-p", str(port), "-h", host]
    env = {}
    if os.environ.get(DAGSTER_URL_ENV) in (None, "", DEFAULT_DAGSTER_URL):  # not a setting
        env[DAGSTER_URL_ENV] = f"http://{host}:{port}"
    simulated = None if live else demo_clock(home)
    if simulated is None:
        return UiLaunch([_tool("dagster"), "dev", *target], env)
    env[SIMULATED_NOW] = simulated.isoformat()
    env[CALENDAR_END] = simulated.date().isoformat()
    note = (
        f"demo home: today is the simulated {simulated.date()}; sensors and schedules are not "
        "ticking (--live runs the daemon on the real clock)"
    )
    return UiLaunch([_tool("dagster-webserver"), *target], env, note)
