"""The hallucination review list of one workflow: served outputs sampled every day with their
automatic faithfulness score, and the verdicts of the people who read them.

One SQLite file per workflow, in the workflow's folder of the home (:func:`reviews_path`). Two
tables, both written only by appending (triggers refuse UPDATE and DELETE):

* ``review_samples``: one row per (partition, item_id). A sample is never edited: adding the
  same item again with the same content is skipped (the daily asset may run twice), with other
  content it is refused.
* ``review_verdicts``: one row per verdict. A person who changes their mind records another
  verdict; the latest recorded (highest ``seq``) counts and the earlier one stays. Recording
  order rather than ``at`` decides, since a simulated clock may give two verdicts one instant.

Times are stored in UTC with microseconds, so that text order is time order.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

log = logging.getLogger(__name__)

VERDICTS = ("supported", "unsupported", "unsure")
REVIEWS_FILE = "sample_reviews.sqlite"
SAMPLES = "review_samples"
VERDICT_TABLE = "review_verdicts"
ITEM_COLUMNS = ("item_id", "question", "output", "context", "faithfulness")
SAMPLE_COLUMNS = (
    "partition",
    "item_id",
    "question",
    "output",
    "context",
    "faithfulness",
    "version",
    "sampled_at",
)
LATEST_COLUMNS = ("verdict", "reviewer", "note", "reviewed_at", "verdicts")
_BUSY_TIMEOUT_S = 30
_BEGIN_OPTION = "afterlaunch_sqlite_begin"

_SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS {SAMPLES} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        partition TEXT NOT NULL,
        item_id TEXT NOT NULL,
        question TEXT NOT NULL,
        output TEXT NOT NULL,
        context TEXT NOT NULL,
        faithfulness REAL,
        version TEXT,
        sampled_at TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        UNIQUE (partition, item_id))""",
    f"""CREATE TABLE IF NOT EXISTS {VERDICT_TABLE} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        partition TEXT NOT NULL,
        item_id TEXT NOT NULL,
        verdict TEXT NOT NULL CHECK (verdict IN ({", ".join(repr(v) for v in VERDICTS)})),
        reviewer TEXT NOT NULL,
        note TEXT NOT NULL,
        at TEXT NOT NULL,
        FOREIGN KEY (partition, item_id) REFERENCES {SAMPLES} (partition, item_id))""",
    f"CREATE INDEX IF NOT EXISTS {VERDICT_TABLE}_sample ON {VERDICT_TABLE} (partition, item_id)",
    *(
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        for table in (SAMPLES, VERDICT_TABLE)
        for op in ("UPDATE", "DELETE")
    ),
)

# The latest verdict of every reviewed sample, beside the count of its verdicts.
_LATEST = f"""
    SELECT v.partition, v.item_id, v.verdict, v.reviewer, v.note, v.at AS reviewed_at,
           n.verdicts
    FROM {VERDICT_TABLE} v
    JOIN (SELECT partition, item_id, MAX(seq) AS last, COUNT(*) AS verdicts
          FROM {VERDICT_TABLE} GROUP BY partition, item_id) n
      ON v.seq = n.last"""


class SampleReviewsError(RuntimeError):
    """The review list cannot be read or written as it must be."""


def reviews_path(home_root: str | Path, workflow: str) -> Path:
    """The review list of `workflow` in the home: ``<home>/workflows/<workflow>/``
    ``sample_reviews.sqlite`` (beside the workflow's audit log and approvals)."""
    return Path(home_root) / "workflows" / workflow / REVIEWS_FILE


def utc_text(moment: datetime, what: str) -> str:
    """`moment`, an aware datetime, as the stored UTC text; a ValueError naming `what`
    otherwise."""
    if not isinstance(moment, datetime):
        raise ValueError(f"{what} must be a datetime, not {moment!r}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} {moment.isoformat()} has no timezone (it must be aware)")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _text(value: Any, what: str, item: str, *, allow_empty: bool = True) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, Sequence | np.ndarray) and all(isinstance(v, str) for v in value):
        # A list of passages reads as one text, passages apart.
        text = "\n\n".join(value)
    else:
        raise ValueError(f"sample {item}: {what} must be text, not {type(value).__name__}")
    if not allow_empty and not text.strip():
        raise ValueError(f"sample {item}: {what} is empty")
    return text


def _score(value: Any, item: str) -> float | None:
    """The faithfulness as stored: a share in [0, 1], or None when it was not judged."""
    if value is None or value is pd.NA:
        return None
    try:
        score = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"sample {item}: faithfulness {value!r} is not a number") from exc
    if math.isnan(score):
        return None
    if not 0.0 <= score <= 1.0:
        raise ValueError(f"sample {item}: faithfulness {score} lies outside [0, 1]")
    return score


def _version(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return str(value)


def sample_rows(partition: str, items: pd.DataFrame) -> list[dict[str, Any]]:
    """The stored columns (without seq and sampled_at) of every item, validated, with the hash
    of the content that makes a sample what it is."""
    if not isinstance(partition, str) or not partition.strip():
        raise ValueError(f"the partition must be a non-empty string, not {partition!r}")
    missing = [c for c in ITEM_COLUMNS if c not in items.columns]
    if missing:
        raise ValueError(f"review items lack the columns {', '.join(missing)}")
    has_version = "version" in items.columns
    rows = []
    for record in items.to_dict("records"):
        item_id = record["item_id"]
        if item_id is None or not str(item_id).strip():
            raise ValueError(f"review items of {partition} hold an empty item_id")
        item = f"{partition}/{item_id}"
        row = {
            "partition": partition,
            "item_id": str(item_id),
            "question": _text(record["question"], "question", item),
            "output": _text(record["output"], "output", item),
            "context": _text(record["context"], "context", item),
            "faithfulness": _score(record["faithfulness"], item),
            "version": _version(record["version"]) if has_version else None,
        }
        content = [row[c] for c in ("question", "output", "context", "faithfulness", "version")]
        row["content_hash"] = hashlib.sha256(
            json.dumps(content, ensure_ascii=False).encode()
        ).hexdigest()
        rows.append(row)
    return rows


def agrees(verdict: str, faithfulness: float | None) -> bool | None:
    """Whether a person's verdict matches the automatic score (faithfulness 1 <-> supported);
    None when one of the two says nothing (an `unsure` verdict, an unscored sample)."""
    if verdict == "unsure" or faithfulness is None or math.isnan(faithfulness):
        return None
    return (verdict == "supported") == (faithfulness == 1.0)


def review_counts(frame: pd.DataFrame) -> dict[str, Any]:
    """The figures of :meth:`SampleReviews.counts` from a :meth:`SampleReviews.samples`
    frame. ``agreement`` is the share of ``compared`` samples (reviewed as supported or
    unsupported, with a score) whose verdict matches the score; None when there is none."""
    verdicts = frame["verdict"]
    reviewed = int(verdicts.notna().sum())
    scores = frame["faithfulness"].astype(float)
    matches = [agrees(v, s) for v, s in zip(verdicts, scores, strict=True) if isinstance(v, str)]
    compared = [m for m in matches if m is not None]
    return {
        "sampled": len(frame),
        "reviewed": reviewed,
        "pending": len(frame) - reviewed,
        **{v: int((verdicts == v).sum()) for v in VERDICTS},
        "scored": int(scores.notna().sum()),
        "mean_faithfulness": float(scores.mean()) if scores.notna().any() else None,
        "compared": len(compared),
        "agreement": sum(compared) / len(compared) if compared else None,
    }


class SampleReviews:
    """The review list in one SQLite file (created, with its tables, on first use)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._engine: sa.Engine | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ public API

    def add_samples(self, partition: str, items: pd.DataFrame, at: datetime) -> int:
        """Add the sampled `items` of `partition`; the number of rows added. The same
        (partition, item_id) with the same content is skipped; with other content, a
        ValueError naming it (a sample is never edited)."""
        sampled_at = utc_text(at, "the sampling time")
        rows = sample_rows(partition, items)
        added = 0
        with self._write() as conn:
            stored = {
                r.item_id: r.content_hash
                for r in conn.execute(
                    sa.text(f"SELECT item_id, content_hash FROM {SAMPLES} WHERE partition = :p"),
                    {"p": partition},
                )
            }
            for row in rows:
                known = stored.get(row["item_id"])
                if known == row["content_hash"]:
                    continue
                if known is not None:
                    raise ValueError(
                        f"sample {partition}/{row['item_id']} is already in the review list "
                        f"{self.path} with other content: a sample is never edited (sample it "
                        "under another item_id)"
                    )
                conn.execute(
                    sa.text(
                        f"INSERT INTO {SAMPLES} ({', '.join(SAMPLE_COLUMNS)}, content_hash) "
                        f"VALUES ({', '.join(':' + c for c in SAMPLE_COLUMNS)}, :content_hash)"
                    ),
                    {**row, "sampled_at": sampled_at},
                )
                stored[row["item_id"]] = row["content_hash"]
                added += 1
        log.info(
            "review list %s: %d of %d samples of %s added", self.path, added, len(rows), partition
        )
        return added

    def samples(self, partition: str | None = None) -> pd.DataFrame:
        """Every sample (of one partition), by partition then sampling order, with its latest
        verdict: ``verdict, reviewer, note, reviewed_at`` (None when not reviewed) and
        ``verdicts``, how many were recorded."""
        where = "WHERE s.partition = :p" if partition is not None else ""
        query = f"""
            SELECT {", ".join("s." + c for c in SAMPLE_COLUMNS)},
                   l.verdict, l.reviewer, l.note, l.reviewed_at, COALESCE(l.verdicts, 0) AS verdicts
            FROM {SAMPLES} s LEFT JOIN ({_LATEST}) l
              ON l.partition = s.partition AND l.item_id = s.item_id
            {where}
            ORDER BY s.partition, s.seq"""
        return self._frame(query, {"p": partition})

    def pending(self, limit: int | None = None) -> pd.DataFrame:
        """The samples nobody has reviewed yet, oldest partition first (at most `limit`)."""
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be a positive number, not {limit}")
        query = f"""
            SELECT {", ".join("s." + c for c in SAMPLE_COLUMNS)}
            FROM {SAMPLES} s
            WHERE NOT EXISTS (SELECT 1 FROM {VERDICT_TABLE} v
                              WHERE v.partition = s.partition AND v.item_id = s.item_id)
            ORDER BY s.partition, s.seq""" + (" LIMIT :n" if limit is not None else "")
        return self._frame(query, {"n": limit}, SAMPLE_COLUMNS)

    def record(
        self,
        partition: str,
        item_id: str,
        verdict: str,
        reviewer: str,
        at: datetime,
        note: str = "",
    ) -> None:
        """Append `reviewer`'s `verdict` on one sample; it supersedes any earlier one (which
        is kept). An unknown sample or verdict is a ValueError that says so."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
        if not isinstance(reviewer, str) or not reviewer.strip():
            raise ValueError(f"a verdict needs the reviewer's name, not {reviewer!r}")
        if not isinstance(note, str):
            raise ValueError(f"a verdict's note must be text, not {type(note).__name__}")
        moment = utc_text(at, "the verdict's time")
        with self._write() as conn:
            found = conn.execute(
                sa.text(f"SELECT 1 FROM {SAMPLES} WHERE partition = :p AND item_id = :i"),
                {"p": partition, "i": str(item_id)},
            ).first()
            if found is None:
                raise ValueError(
                    f"no sample {item_id!r} of partition {partition!r} in the review list "
                    f"{self.path}: see `afterlaunch review-samples list`"
                )
            conn.execute(
                sa.text(
                    f"INSERT INTO {VERDICT_TABLE} (partition, item_id, verdict, reviewer, note, "
                    "at) VALUES (:p, :i, :v, :r, :n, :at)"
                ),
                {
                    "p": partition,
                    "i": str(item_id),
                    "v": verdict,
                    "r": reviewer.strip(),
                    "n": note,
                    "at": moment,
                },
            )
        log.debug(
            "review list %s: %s/%s %s by %s", self.path, partition, item_id, verdict, reviewer
        )

    def counts(self, since: str | None = None) -> dict[str, Any]:
        """sampled, reviewed, pending, supported, unsupported, unsure (latest verdicts),
        scored and mean_faithfulness of the sampled, compared and agreement (see
        :func:`review_counts`), over the partitions from `since` on (every one by default)."""
        frame = self.samples()
        if since is not None:
            frame = frame[frame["partition"] >= since]
        return review_counts(frame)

    def verdict_history(self, partition: str, item_id: str) -> pd.DataFrame:
        """Every verdict recorded on one sample, in recording order."""
        return self._frame(
            f"SELECT seq, verdict, reviewer, note, at FROM {VERDICT_TABLE} "
            "WHERE partition = :p AND item_id = :i ORDER BY seq",
            {"p": partition, "i": str(item_id)},
        )

    def close(self) -> None:
        """Dispose of the engine (a later call creates a new one)."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    def __enter__(self) -> SampleReviews:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _ready_engine(self) -> sa.Engine:
        with self._lock:
            if self._engine is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                engine = sa.create_engine(
                    f"sqlite:///{self.path}",
                    connect_args={"timeout": _BUSY_TIMEOUT_S, "check_same_thread": False},
                )
                sa.event.listen(engine, "connect", _sqlite_connect)
                sa.event.listen(engine, "begin", _sqlite_begin)
                try:
                    with engine.connect() as conn:
                        conn = conn.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
                        with conn.begin():
                            for statement in _SCHEMA:
                                conn.execute(sa.text(statement))
                except sa.exc.SQLAlchemyError as exc:
                    engine.dispose()
                    raise self._failure("open", exc) from exc
                self._engine = engine
            return self._engine

    def _write(self):
        """One transaction holding SQLite's write lock from its BEGIN: the check of what is
        stored and the append it allows cannot interleave with another writer's."""
        return _WriteTransaction(self)

    def _frame(
        self, query: str, params: dict, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        engine = self._ready_engine()
        try:
            with engine.connect() as conn:
                result = conn.execute(sa.text(query), params)
                names = list(result.keys())
                rows = [tuple(r) for r in result]
        except sa.exc.SQLAlchemyError as exc:
            raise self._failure("read", exc) from exc
        frame = pd.DataFrame(rows, columns=list(columns or names))
        if "faithfulness" in frame.columns:
            frame["faithfulness"] = pd.to_numeric(frame["faithfulness"]).astype(float)
        return frame

    def _failure(self, what: str, exc: Exception) -> SampleReviewsError:
        cause = f"{type(exc).__name__}: {getattr(exc, 'orig', None) or exc}"
        if "locked" in cause or "busy" in cause:
            return SampleReviewsError(f"the review list {self.path} is busy ({cause}): retry")
        return SampleReviewsError(
            f"cannot {what} the review list {self.path} ({cause}): a damaged file is restored "
            "from a backup, never re-created empty over recorded verdicts"
        )


class _WriteTransaction:
    def __init__(self, store: SampleReviews):
        self.store = store
        self.conn: sa.Connection | None = None

    def __enter__(self) -> sa.Connection:
        engine = self.store._ready_engine()
        self.conn = engine.connect().execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        try:
            self.transaction = self.conn.begin()
        except sa.exc.SQLAlchemyError as exc:
            self.conn.close()
            raise self.store._failure("write to", exc) from exc
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                self.transaction.commit()
            else:
                self.transaction.rollback()
        except sa.exc.SQLAlchemyError as failure:
            raise self.store._failure("write to", failure) from failure
        finally:
            self.conn.close()
        if isinstance(exc, sa.exc.SQLAlchemyError):
            raise self.store._failure("write to", exc) from exc
        return False


def _sqlite_connect(dbapi_connection, _record) -> None:
    # The driver's own transaction handling is off so that `begin` below decides the BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")  # readers beside the one writer
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_S * 1000}")
    finally:
        cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")
