"""Secrets never print: one short run with a secret in every variable, then every output grepped.

The variables: the ticket workflow's source is a real Postgres database whose URL carries the
password as a `?password=` connection parameter; the MLflow store is another database of the
same cluster, its URL carrying the same password as `user:password@`; the alert webhook is a
local HTTP server whose URL has a secret token in its path and another in its query, and which
answers 500 (quoting the path it was sent to, as error pages do), so every send fails and lands
in the outbox.

The run: `afterlaunch simulate` (a day with a renamed column, so a blocking check fails),
`afterlaunch ingest` of that day and of a day that never landed (the source names the missing
table and where it looked), a version registered in the MLflow store, `afterlaunch promote`
of a version that does not exist, `afterlaunch status`, `afterlaunch mlflow-ui` (its exec
caught), two ticks of the alert sensor, and the missing day run once more as the demo runs it,
its outcome kept in a demo timeline.

Then grepped, for each secret (as written and URL-encoded): the captured logging (at INFO,
the level the CLI logs at) with the commands' stdout, stderr and any traceback; the argv
`mlflow-ui` would exec; every file of the home read as bytes (the Dagster event log and run
storage, sqlite included, and dumped row by row too; the MLflow artifacts; the alert outbox;
the timeline); every row of the MLflow store's tables; what reached the webhook.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import secrets
import sqlite3
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
import psycopg2
import pytest
from dagster import DagsterInstance, build_sensor_context
from psycopg2 import sql
from sklearn.linear_model import LogisticRegression

from orchestration.catalog import definitions
from orchestration.cli import main
from orchestration.home import ENV_VARS, activate, registry_for, resolve_home
from orchestration.runner import run_job
from orchestration.scenario import load_scenario
from orchestration.timeline import Timeline
from resources.alerts import AlertOutbox, outbox_path
from tests.support import reliability
from workflows.ticket_escalation.workflow import WORKFLOW as WF

DAY, MISSING, NEVER_RAN = "2026-01-02", "2026-01-03", "2026-01-04"
SCENARIO = f"""
start: "{DAY}"
days: 2
reference_days: 1
incidents:
  - {{kind: schema_change, day: 1, mode: rename, column: message_length, new_name: msg_len}}
"""


class _FailingHook:
    """A webhook that answers 500 to everything, quoting the path it was sent to."""

    def __init__(self, path: str):
        self.bodies: list[bytes] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                hook.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                self.send_response(500)
                self.end_headers()
                self.wfile.write(f"no channel at {self.path}".encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _FailingHook:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _command(out: io.StringIO, *argv: str) -> object:
    """Run one `afterlaunch` command in this process; what it printed, and the traceback of
    an exception it ended on (a shell would print it), go to `out`."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = main(list(argv))
        except SystemExit as stop:
            code = stop.code
        except Exception:
            code = traceback.format_exc()
    out.write(f"$ afterlaunch {' '.join(argv)}\n{stdout.getvalue()}{stderr.getvalue()}")
    out.write(f"{code}\n")
    return code


def _register_a_version(home) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    model = LogisticRegression().fit(frame, (frame["a"] > 0).astype(int))
    registry_for(home, WF).log_and_register(
        model=model,
        input_example=frame.head(5),
        params={"model_family": "logistic_regression"},
        metrics={"val_auc": 0.9},
        run_tags={"dagster.run_id": "run-1"},
        version_tags={"owner": "team:ml"},
        artifacts={"lineage.json": {"days": [DAY]}},
        run_name=f"challenger {DAY}",
    )


def _table_rows(connect) -> str:
    """Every row of every table of a Postgres database, as text."""
    with contextlib.closing(connect()) as db, db.cursor() as cur:
        cur.execute("select tablename from pg_tables where schemaname = 'public'")
        out = []
        for (table,) in cur.fetchall():
            cur.execute(sql.SQL("select t::text from {} t").format(sql.Identifier(table)))
            out += [row[0] for row in cur.fetchall()]
    return "\n".join(out)


def _sqlite_rows(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return "\n".join(db.iterdump())


@pytest.fixture(scope="module")
def world(tmp_path_factory, postgres_cluster):
    root = tmp_path_factory.mktemp("secrets")
    pg = postgres_cluster
    password = pg.password
    source = pg.create_database("secrets_source")
    store = pg.create_database("secrets_mlflow")
    token, query_token = secrets.token_urlsafe(24), secrets.token_urlsafe(12)
    source_url = (
        f"postgresql+psycopg2://{pg.user}@{pg.host}:{pg.port}/{source.dbname}"
        f"?sslmode=disable&password={quote(password, safe='')}"
    )
    mlflow_uri = (
        f"postgresql+psycopg2://{pg.user}:{quote(password, safe='')}@{pg.host}:{pg.port}/"
        f"{store.dbname}"
    )
    (root / "scenario.yaml").write_text(SCENARIO)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setLevel(logging.INFO)
    root_logger = logging.getLogger()
    execs: list[tuple[str, list[str], dict]] = []
    with (
        _FailingHook(f"/hooks/{token}?token={query_token}") as hook,
        pytest.MonkeyPatch.context() as mp,
    ):
        for var in ENV_VARS:
            mp.setenv(var, "")
            mp.delenv(var)
        mp.setenv("AFTERLAUNCH_SOURCE_URL", source_url)
        mp.setenv("AFTERLAUNCH_MLFLOW_URI", mlflow_uri)
        mp.setenv("AFTERLAUNCH_ALERT_WEBHOOK", hook.url)
        mp.setattr(os, "execvpe", lambda file, argv, env: execs.append((file, argv, dict(env))))
        mp.setattr(root_logger, "level", logging.INFO)
        root_logger.addHandler(handler)
        try:
            home_dir = str(root / "home")
            home = activate(resolve_home(home_dir))  # a new home, as `--create` would make it
            ticket = ("--home", home_dir, "--workflow", WF.name)
            scenario = str(root / "scenario.yaml")
            codes = {
                "simulate": _command(
                    out, "simulate", *ticket, "--start", DAY, "--scenario", scenario
                ),
                "ingest": _command(
                    out, "ingest", *ticket, "--start", DAY, "--end", MISSING, "--raw-only"
                ),
            }
            _register_a_version(home)
            codes["promote"] = _command(out, "promote", "99", *ticket, "--reason", "try")
            codes["status"] = _command(out, "status", *ticket)
            codes["mlflow-ui"] = _command(out, "mlflow-ui", "--home", home_dir)

            defs = definitions(WF)
            activate(home, WF)  # as every command does, after mlflow-ui pointed at no workflow
            instance = DagsterInstance.get()
            sensor = next(
                s for s in defs.get_repository_def().sensor_defs if s.name == "alert_sensor"
            )
            cursor = None
            for _ in range(2):  # a retry fails as the first send did
                with build_sensor_context(
                    instance=instance,
                    cursor=cursor,
                    repository_def=defs.get_repository_def(),
                    resources=defs.resources,
                    sensor_name=sensor.name,
                ) as context:
                    cursor = sensor.evaluate_tick(context).cursor

            timeline = Timeline(
                load_scenario(WF.simulation, scenario),
                label_lag_days=WF.label.max_lag_days,
                partitions=WF.partitions,
            )
            outcome = run_job(defs, instance, "raw_ingestion", NEVER_RAN)
            timeline.record_run(outcome, timeline.number_of(NEVER_RAN))
            (home.reports / "timeline.json").write_text(
                json.dumps(timeline.as_json(), indent=2, default=str)
            )
        finally:
            root_logger.removeHandler(handler)
        mlflow_rows = _table_rows(
            lambda: psycopg2.connect(
                host=pg.host, port=pg.port, user=pg.user, password=password, dbname=store.dbname
            )
        )
    return {
        "home": home,
        "codes": codes,
        "secrets": {"database password": password, "webhook path token": token},
        "query_token": query_token,
        "printed": out.getvalue(),
        "execs": execs,
        "mlflow_uri": mlflow_uri,
        "mlflow_rows": mlflow_rows,
        "webhook_bodies": b"\n".join(hook.bodies),
        "outcome": outcome,
    }


def _places(world) -> dict[str, bytes]:
    """Every output of the run, by where it is."""
    home = world["home"]
    places = {
        "logs, stdout and stderr": world["printed"].encode(),
        "mlflow-ui argv": " ".join(a for _, argv, _ in world["execs"] for a in argv).encode(),
        "MLflow store tables": world["mlflow_rows"].encode(),
        "what reached the webhook": world["webhook_bodies"],
    }
    for path in sorted(p for p in home.root.rglob("*") if p.is_file()):
        name = str(path.relative_to(home.root))
        places[name] = path.read_bytes()
        if places[name].startswith(b"SQLite format 3"):
            places[f"{name} (rows)"] = _sqlite_rows(path).encode()
    return places


def _hits(world) -> dict[str, int]:
    secrets_ = {**world["secrets"], "webhook query token": world["query_token"]}
    hits = {}
    for where, content in _places(world).items():
        for what, secret in secrets_.items():
            forms = {secret, quote(secret, safe="")}
            found = sum(content.count(form.encode()) for form in forms)
            if found:
                hits[f"{what} in {where}"] = found
    return hits


def test_no_secret_is_printed_logged_or_stored_anywhere(world):
    hits = _hits(world)
    for where in _places(world):
        found = sum(n for place, n in hits.items() if place.endswith(f" in {where}"))
        reliability.record("secret_scan", where, ok=not found, hits=found)
    assert hits == {}, f"{sum(hits.values())} secret(s) found: {hits}"


def test_the_run_went_through_every_place_a_secret_could_leak(world):
    """The zero above means something: each leak-prone path ran, and says where, masked."""
    home, printed = world["home"], world["printed"]
    assert world["codes"]["simulate"] == 0 and world["codes"]["ingest"] == 1
    assert world["codes"]["promote"] not in (0, None)
    # The source is named in the logs, its password masked, its other parameters kept.
    assert "/secrets_source?sslmode=disable&password=***" in printed
    assert f"table crm_tickets_{MISSING.replace('-', '')} not found in postgresql" in printed
    # The Dagster event log holds the step failure that names the source.
    event_log = b"".join(
        content for where, content in _places(world).items() if where.startswith("dagster/")
    )
    assert b"/secrets_source?sslmode=disable&password=***" in event_log
    assert "not found in postgresql" in json.dumps(world["outcome"].step_errors)
    # Every alert failed at the webhook and stays in the outbox, the URL masked in its error.
    alerts = AlertOutbox(outbox_path(home.root, WF.name)).all()
    assert alerts and all(a.delivered_at is None and a.attempts == 2 for a in alerts)
    assert all("/hooks/***?token=***" in a.last_error and "500" in a.last_error for a in alerts)
    assert world["webhook_bodies"], "the webhook was never called"
    timeline = json.loads((home.reports / "timeline.json").read_text())
    assert [e["kind"] for e in timeline["events"]] == ["step_failed"]
    # MLflow's store was used: the version is in its tables.
    assert "challenger 2026-01-02" in world["mlflow_rows"]


def test_mlflow_ui_gets_the_store_through_the_environment_not_argv(world):
    [(file, argv, env)] = world["execs"]
    assert argv[0] == file and argv[1] == "ui"
    assert "--backend-store-uri" not in argv
    assert env["MLFLOW_BACKEND_STORE_URI"] == world["mlflow_uri"]
