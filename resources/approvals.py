"""Approvals: who said yes to which gate verdict, kept by Afterlaunch itself.

An MLflow tag can be written by anyone with access to the registry, so a tag is never read as
an approval. Approvals live in one SQLite file per workflow, beside `registry.lock` in the
workflow's folder of the home. The table is append-only: triggers refuse every UPDATE and
DELETE, so a row, once written, says for good who approved which evaluation (the version, the
champion it was judged against, the test set and the verdict's time) and why. A new verdict
needs a new approval: an approval never carries over to another evaluation of the version.
"""

from __future__ import annotations

import getpass
import os
import sqlite3
from contextlib import closing
from dataclasses import astuple, dataclass, fields
from datetime import datetime
from pathlib import Path

APPROVALS_FILE = "approvals.sqlite"
# The person acting, when a command names none (see `acting_person`).
ACTOR_ENV = "AFTERLAUNCH_ACTOR"


class ApprovalStoreError(RuntimeError):
    """The approval store cannot be read or written as it must be."""


def acting_person(named: str | None = None) -> str:
    """Who is acting: the one seam where identity plugs in.

    Whoever the command or the run config names (`--actor`), else `$AFTERLAUNCH_ACTOR` (read
    at each call, so a shell or a daemon says who it acts for), else the OS user. Nothing is
    authenticated: the name is what every approval, promotion, rollback, flag flip and mapping
    records. Four eyes is enforced where an approval is recorded (the champion's `approve`:
    the one who registered a version cannot approve its promotion, and a non-empty
    `approvers.promotion` in the policy names who can)."""
    for candidate in (named, os.environ.get(ACTOR_ENV)):
        if candidate and candidate.strip():
            return candidate.strip()
    return getpass.getuser()


@dataclass(frozen=True)
class Approval:
    """One person's yes to one evaluation of one version."""

    version: str
    approver: str
    approved_at: str
    reason: str
    # The evaluation it approves: a later evaluation of the same version is not approved.
    champion_version: str | None
    test_set_version: str
    test_set_sha256: str
    verdict: str
    verdict_at: str


_COLUMNS = tuple(f.name for f in fields(Approval))
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS approvals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    {", ".join(f"{c} TEXT" + ("" if c == "champion_version" else " NOT NULL") for c in _COLUMNS)}
);
CREATE TRIGGER IF NOT EXISTS approvals_no_update BEFORE UPDATE ON approvals
BEGIN SELECT RAISE(ABORT, 'approvals are append-only'); END;
CREATE TRIGGER IF NOT EXISTS approvals_no_delete BEFORE DELETE ON approvals
BEGIN SELECT RAISE(ABORT, 'approvals are append-only'); END;
"""


def approvals_path(lock_path: str | Path) -> Path:
    """The store of the workflow whose registry lock is `lock_path` (the same folder)."""
    return Path(lock_path).parent / APPROVALS_FILE


class ApprovalStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def record(self, approval: Approval) -> Approval:
        """Append `approval` (the store is created on the first one)."""
        if not approval.approver.strip() or not approval.reason.strip():
            raise ApprovalStoreError(
                f"an approval of version {approval.version} needs an approver and a reason"
            )
        datetime.fromisoformat(approval.approved_at)  # a malformed time is refused, not kept
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            try:
                with conn:
                    conn.executescript(_SCHEMA)
                    self._check_columns(conn)
                    conn.execute(
                        f"INSERT INTO approvals ({', '.join(_COLUMNS)}) "
                        f"VALUES ({', '.join('?' for _ in _COLUMNS)})",
                        astuple(approval),
                    )
            except sqlite3.DatabaseError as exc:
                raise self._malformed(exc) from exc
        return approval

    def all(self) -> list[Approval]:
        """Every approval, oldest first ([] when none was ever recorded)."""
        if not self.path.exists():
            return []
        with self._connect() as conn:
            self._check_columns(conn)
            try:
                rows = conn.execute(
                    f"SELECT {', '.join(_COLUMNS)} FROM approvals ORDER BY id"
                ).fetchall()
            except sqlite3.DatabaseError as exc:
                raise self._malformed(exc) from exc
        return [Approval(*row) for row in rows]

    def for_evaluation(self, evaluation: dict) -> Approval | None:
        """The first approval of exactly this evaluation, if any."""
        wanted = evaluation_identity(evaluation)
        return next((a for a in self.all() if _identity(a) == wanted), None)

    def _connect(self) -> closing[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=30)
        except sqlite3.Error as exc:
            raise self._malformed(exc) from exc
        return closing(conn)

    def _check_columns(self, conn: sqlite3.Connection) -> None:
        try:
            present = {row[1] for row in conn.execute("PRAGMA table_info(approvals)")}
        except sqlite3.DatabaseError as exc:
            raise self._malformed(exc) from exc
        missing = sorted(set(_COLUMNS) - present)
        if missing:
            raise self._malformed(f"its approvals table lacks {', '.join(missing)}")

    def _malformed(self, cause: object) -> ApprovalStoreError:
        if isinstance(cause, sqlite3.OperationalError) and "locked" in str(cause):
            return ApprovalStoreError(f"the approval store {self.path} is busy ({cause}): retry")
        return ApprovalStoreError(
            f"the approval store {self.path} is not a valid approvals database ({cause}): "
            "restore it from a backup; it is never re-created empty over recorded approvals"
        )


def evaluation_identity(evaluation: dict) -> tuple:
    """What names one evaluation: the version, its champion, test set and verdict time."""
    return (
        evaluation["challenger_version"],
        evaluation.get("champion_version"),
        evaluation["test_set"]["version"],
        evaluation["test_set"]["sha256"],
        evaluation.get("evaluated_at"),
    )


def _identity(approval: Approval) -> tuple:
    return (
        approval.version,
        approval.champion_version,
        approval.test_set_version,
        approval.test_set_sha256,
        approval.verdict_at,
    )


# ---------------------------------------------------------------------- registry reviews


@dataclass(frozen=True)
class Review:
    """One person's registry review of one version: who looked, when, and what they found."""

    version: str
    reviewer: str
    reviewed_at: str
    note: str


_REVIEW_COLUMNS = tuple(f.name for f in fields(Review))
_REVIEW_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    {", ".join(f"{c} TEXT NOT NULL" for c in _REVIEW_COLUMNS)}
);
CREATE TRIGGER IF NOT EXISTS reviews_no_update BEFORE UPDATE ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
CREATE TRIGGER IF NOT EXISTS reviews_no_delete BEFORE DELETE ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
"""


class ReviewStore:
    """Registry reviews, in the approvals file (`approvals_path`) as their own append-only
    table: a review is never edited; a second look is a second row."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._approvals = ApprovalStore(path)  # its connection and error wording

    def record(self, review: Review) -> Review:
        if not review.reviewer.strip() or not review.note.strip():
            raise ApprovalStoreError(
                f"a review of version {review.version} needs a reviewer and a note"
            )
        datetime.fromisoformat(review.reviewed_at)  # a malformed time is refused, not kept
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._approvals._connect() as conn:
            try:
                with conn:
                    conn.executescript(_REVIEW_SCHEMA)
                    conn.execute(
                        f"INSERT INTO reviews ({', '.join(_REVIEW_COLUMNS)}) "
                        f"VALUES ({', '.join('?' for _ in _REVIEW_COLUMNS)})",
                        astuple(review),
                    )
            except sqlite3.DatabaseError as exc:
                raise self._approvals._malformed(exc) from exc
        return review

    def all(self, version: str | None = None) -> list[Review]:
        """Every review (of `version`, if given), oldest first."""
        if not self.path.exists():
            return []
        with self._approvals._connect() as conn:
            try:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
                if "reviews" not in tables:
                    return []
                rows = conn.execute(
                    f"SELECT {', '.join(_REVIEW_COLUMNS)} FROM reviews ORDER BY id"
                ).fetchall()
            except sqlite3.DatabaseError as exc:
                raise self._approvals._malformed(exc) from exc
        found = [Review(*row) for row in rows]
        return [r for r in found if version is None or r.version == str(version)]

    def latest(self, version: str) -> Review | None:
        found = self.all(version)
        return found[-1] if found else None
