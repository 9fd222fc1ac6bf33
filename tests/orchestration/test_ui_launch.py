"""`afterlaunch ui` on a demo home opens at the simulated today and ticks nothing."""

from datetime import UTC, datetime

from assets.partitions import Partitioning
from orchestration.demo import demo_clock, record_demo_clock
from orchestration.home import Home
from orchestration.ui import ui_launch
from resources.clock import CALENDAR_END, SIMULATED_NOW


def test_a_calendar_end_makes_the_last_partition_the_day_before_it(monkeypatch):
    monkeypatch.setenv(CALENDAR_END, "2026-02-04")
    keys = Partitioning("daily", "2026-01-01").definition.get_partition_keys()
    assert (keys[0], keys[-1], len(keys)) == ("2026-01-01", "2026-02-03", 34)
    weekly = Partitioning("weekly", "2026-01-05").definition.get_partition_keys()
    assert weekly[-1] == "2026-01-26"  # the week of Feb 2 has not ended by Feb 4
    monkeypatch.delenv(CALENDAR_END)
    # Without it the calendar runs to the real date, far past the simulated one.
    assert len(Partitioning("daily", "2026-01-01").definition.get_partition_keys()) > 34


def test_ui_on_a_demo_home_starts_the_webserver_alone_at_the_simulated_today(tmp_path):
    home = Home(tmp_path)
    home.reports.mkdir()
    record_demo_clock(home, "rainfall", "2026-01-20T05:00:00+00:00")
    record_demo_clock(home, "ticket_escalation", "2026-02-04T05:00:00+00:00")
    assert demo_clock(home) == datetime(2026, 2, 4, 5, tzinfo=UTC)  # the later of the two
    launch = ui_launch(home, host="127.0.0.1", port=3111)
    assert launch.command[0].endswith("dagster-webserver") and "dev" not in launch.command
    assert launch.env[SIMULATED_NOW] == "2026-02-04T05:00:00+00:00"
    assert launch.env[CALENDAR_END] == "2026-02-04"
    assert launch.env["AFTERLAUNCH_DAGSTER_URL"] == "http://127.0.0.1:3111"
    assert "2026-02-04" in launch.note and "--live" in launch.note


def test_live_or_a_home_no_demo_ran_on_gets_the_daemon_and_the_real_clock(tmp_path):
    home = Home(tmp_path)
    home.reports.mkdir()
    plain = ui_launch(home, host="127.0.0.1", port=3000)
    assert plain.command[1] == "dev" and SIMULATED_NOW not in plain.env and plain.note is None
    record_demo_clock(home, "ticket_escalation", "2026-02-04T05:00:00+00:00")
    live = ui_launch(home, host="127.0.0.1", port=3000, live=True)
    assert live.command[1] == "dev" and CALENDAR_END not in live.env
