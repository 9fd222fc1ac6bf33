"""A home that was copied or moved: notice it, and make its MLflow store name its own folder.

MLflow stores absolute artifact locations in its database (an experiment's artifact_location,
a run's artifact_uri, a logged model's artifact_location, a model version's storage_location)
and accepts no relative ones: it resolves a relative artifact root against the working
directory. A copied home's store therefore still names the original's artifact folder: the copy
would log its new runs and models there and load its versions from there (and fail once the
original is gone). So the home records the root it was last activated at (RECORD, the only
place a home names its own location, and read only to notice a move); activated from another
root it is a copy or a move, and every location under the old root in its own MLflow database
is rewritten to the new root, once, in one transaction, and logged. Artifacts are left as they
are (immutable: the MLflow files inside them record their first location for information only;
loading reads the database's locations).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

log = logging.getLogger("afterlaunch.home")

RECORD = "afterlaunch-home.json"
MLFLOW_DB = Path("mlflow") / "mlflow.db"  # the home's own MLflow store (when no URI is set)


def recorded_root(root: Path) -> Path | None:
    """The root the home at `root` was last activated at, or None (no record yet)."""
    path = root / RECORD
    if not path.exists():
        return None
    try:
        return Path(json.loads(path.read_text())["root"])
    except (ValueError, KeyError, TypeError) as err:
        raise SystemExit(
            f"{path} is not a home record ({err!r}): remove it and run again"
        ) from None


def record_root(root: Path) -> None:
    (root / RECORD).write_text(json.dumps({"root": str(root)}, indent=2) + "\n")


def follow_move(root: Path, old_root: Path) -> int:
    """Rewrite the home's MLflow locations under `old_root` to `root`; the count of values
    rewritten (0 without an MLflow database of its own)."""
    database = root / MLFLOW_DB
    if not database.exists():
        return 0
    changed = rewrite_prefixes(database, _prefixes(old_root, root))
    log.info(
        "home %s was copied or moved from %s: %d MLflow location%s in %s now name this home",
        root,
        old_root,
        changed,
        "" if changed == 1 else "s",
        database,
    )
    return changed


def _prefixes(old: Path, new: Path) -> list[tuple[str, str]]:
    # MLflow writes file:// URIs (pathlib's as_uri, percent-encoded); plain paths for safety.
    return [(old.as_uri(), new.as_uri()), (str(old), str(new))]


def rewrite_prefixes(database: Path, prefixes: list[tuple[str, str]]) -> int:
    """In every text column of every table, replace each old prefix (the whole value, or
    followed by '/') with its new one; one transaction. The count of values rewritten."""
    connection = sqlite3.connect(database, timeout=60, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")  # one writer: a concurrent activation waits
        changed = 0
        for table, column in _text_columns(connection):
            for old, new in prefixes:
                changed += connection.execute(
                    f'UPDATE "{table}" SET "{column}" = CASE WHEN "{column}" = ?1 THEN ?2 '
                    f'ELSE ?2 || substr("{column}", length(?1) + 1) END '
                    f'WHERE "{column}" = ?1 OR substr("{column}", 1, length(?1) + 1) = ?1 || \'/\'',
                    (old, new),
                ).rowcount
        connection.execute("COMMIT")
        return changed
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    finally:
        connection.close()


def _text_columns(connection: sqlite3.Connection) -> list[tuple[str, str]]:
    tables = [
        name
        for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return [
        (table, column)
        for table in tables
        for _, column, declared, *_ in connection.execute(f'PRAGMA table_info("{table}")')
        if any(kind in declared.upper() for kind in ("CHAR", "TEXT", "CLOB"))
    ]
