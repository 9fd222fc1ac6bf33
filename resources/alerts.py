"""Alert delivery: a durable outbox in the home folder and a Slack-compatible webhook.

An alert is written to the outbox before anything is sent, and leaves the pending state only
when the webhook answered 2xx: a webhook that is down loses nothing, the next tick retries.

A webhook URL is a secret (its path or query is the credential): it lives only in its
environment variable. Every message this module raises or stores is masked first
(:func:`resources.masking.mask`), with the URL's own secrets blanked wherever they appear (an
HTTP library quotes the path without the host).
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import requests
from dagster import ConfigurableResource
from pydantic import Field

from resources.masking import mask

SCHEMA = """
create table if not exists alerts (
    id integer primary key autoincrement,
    key text unique not null,
    owner text not null,
    severity text not null,
    delivery text not null,
    created_at text not null,
    payload text not null,
    attempts integer not null default 0,
    last_error text,
    delivered_at text
)
"""


def outbox_path(home: str | Path, workflow: str) -> Path:
    """Where a workflow's outbox lives: `<home>/workflows/<name>/alerts/outbox.sqlite`."""
    return Path(home) / "workflows" / workflow / "alerts" / "outbox.sqlite"


class AlertDeliveryError(RuntimeError):
    pass


def _stored(payload: dict) -> str:
    """The payload as the outbox keeps it: JSON, with any URL in its texts masked."""
    return mask(json.dumps(payload, sort_keys=True))


@dataclass(frozen=True)
class Alert:
    id: int
    key: str
    owner: str
    severity: str
    delivery: str
    created_at: str
    payload: dict
    attempts: int
    last_error: str | None
    delivered_at: str | None


class AlertOutbox:
    """SQLite file of every alert raised, delivered or not."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def add(
        self, key: str, owner: str, severity: str, delivery: str, created_at: str, payload: dict
    ) -> bool:
        """False when an alert with this key exists already (a re-read check is not new)."""
        with closing(self._connect()) as db, db:
            cursor = db.execute(
                "insert or ignore into alerts (key, owner, severity, delivery, created_at, payload)"
                " values (?, ?, ?, ?, ?, ?)",
                (key, owner, severity, delivery, created_at, _stored(payload)),
            )
            return cursor.rowcount == 1

    def _select(self, where: str, args: tuple = ()) -> list[Alert]:
        with closing(self._connect()) as db:
            rows = db.execute(
                "select id, key, owner, severity, delivery, created_at, payload, attempts, "
                f"last_error, delivered_at from alerts where {where} order by id",
                args,
            ).fetchall()
        return [Alert(*r[:6], json.loads(r[6]), *r[7:]) for r in rows]

    def pending(self) -> list[Alert]:
        return self._select("delivered_at is null")

    def delivered_since(self, at: str) -> list[Alert]:
        return self._select("delivered_at >= ?", (at,))

    def all(self) -> list[Alert]:
        return self._select("1 = 1")

    def mark_delivered(self, ids: list[int], at: str) -> None:
        with closing(self._connect()) as db, db:
            db.executemany(
                "update alerts set delivered_at = ?, attempts = attempts + 1 where id = ?",
                [(at, i) for i in ids],
            )

    def mark_failed(self, ids: list[int], error: str) -> None:
        with closing(self._connect()) as db, db:
            db.executemany(
                "update alerts set attempts = attempts + 1, last_error = ? where id = ?",
                [(mask(error)[:500], i) for i in ids],
            )


class AlertWebhook(ConfigurableResource):
    """Where alerts go: an incoming-webhook URL taking Slack's JSON (`text` plus `blocks`).
    Empty: alerts go to the log only (and are still kept in the outbox)."""

    url: str = Field(default="", description="webhook URL; from AFTERLAUNCH_ALERT_WEBHOOK")
    timeout_s: float = 5.0

    @property
    def configured(self) -> bool:
        return bool(self.url)

    @property
    def masked_url(self) -> str:
        return mask(self.url, self.url)

    def _masked(self, text: str) -> str:
        return mask(text, self.url)

    def send(self, message: dict) -> None:
        try:
            response = requests.post(self.url, json=message, timeout=self.timeout_s)
        except requests.RequestException as err:
            # Not chained: the library's exception quotes the URL's secret path and query.
            raise AlertDeliveryError(
                f"webhook {self.masked_url} unreachable: "
                + self._masked(f"{type(err).__name__}: {err}")
            ) from None
        if not 200 <= response.status_code < 300:
            raise AlertDeliveryError(
                f"webhook {self.masked_url} answered HTTP {response.status_code}: "
                + self._masked(response.text[:200])
            )
