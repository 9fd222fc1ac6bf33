"""The home's embedded Dagster instance: the dagster.yaml under <home>/dagster, written so that
nothing in it names a folder by absolute path.

Dagster resolves run, schedule and compute-log storage under the instance folder itself; only
the event log is configured here (one consolidated SQLite database rather than one new database
per run: the demo makes a hundred short runs, and creating a schema for each was most of a
run's cost). Its `base_dir` is `{env: DAGSTER_HOME}` (a StringSource), read when the instance
loads: the absolute path written before sent a copied or restored home's check results and
champion changes into the original's event log, which the sensors read back.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("afterlaunch.home")

INSTANCE_YAML = "dagster.yaml"
EVENT_LOG_DB = "event_log.db"  # ConsolidatedSqliteEventLogStorage's file name in its base_dir
_HEADER = "# Embedded Dagster instance written by afterlaunch"

EMBEDDED_INSTANCE = f"""\
{_HEADER}: SQLite storage under this folder.
# Production uses the repository's dagster.yaml (Postgres) instead.
# No absolute path: the event log's folder is DAGSTER_HOME, read when the instance loads, so a
# copy of the home writes into its own folder, never into the original's.
telemetry:
  enabled: false
event_log_storage:
  module: dagster._core.storage.event_log
  class: ConsolidatedSqliteEventLogStorage
  config:
    base_dir:
      env: DAGSTER_HOME
"""

# What afterlaunch wrote before: the same instance with an absolute base_dir (<home>/dagster/
# history), recognised by its header so that it can be rewritten.
_LEGACY_INSTANCE = f"""\
{_HEADER}: SQLite storage under this folder.
# Production uses the repository's dagster.yaml (Postgres) instead.
telemetry:
  enabled: false
event_log_storage:
  module: dagster._core.storage.event_log
  class: ConsolidatedSqliteEventLogStorage
  config:
    base_dir: {{history}}
"""
_LEGACY_HISTORY = "history"  # the legacy event log folder, relative to the instance folder


class InstanceOutsideHome(SystemExit):
    """A dagster.yaml in a home names storage outside that home (or cannot be upgraded safely):
    running on it would read or write another home's records."""


def legacy_root(instance_dir: Path) -> Path | None:
    """The home root a legacy afterlaunch dagster.yaml was written for (its absolute base_dir
    was <root>/dagster/history), or None for any other file."""
    base_dir = _legacy_base_dir(instance_dir / INSTANCE_YAML)
    if base_dir is None:
        return None
    path = Path(base_dir)
    if path.name == _LEGACY_HISTORY and path.parent.name == instance_dir.name:
        return path.parent.parent
    return None


def ensure_instance(instance_dir: Path, home_root: Path) -> None:
    """Write the embedded instance if the folder has none; rewrite the legacy one afterlaunch
    wrote with an absolute path (moving its event log beside it); refuse any other file that
    names storage outside the home."""
    path = instance_dir / INSTANCE_YAML
    if not path.exists():
        path.write_text(EMBEDDED_INSTANCE)
        return
    text = path.read_text()
    if text == EMBEDDED_INSTANCE:
        return
    old_base_dir = _legacy_base_dir(path)
    if old_base_dir is not None:
        _upgrade_legacy(path, text, old_base_dir)
        return
    _refuse_outside(path, _load(path), home_root)


def _load(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise InstanceOutsideHome(f"{path} is not valid YAML ({err})") from None


def _legacy_base_dir(path: Path) -> str | None:
    if not path.exists() or not path.read_text().startswith(_HEADER):
        return None
    config = ((_load(path) or {}).get("event_log_storage") or {}).get("config") or {}
    base_dir = config.get("base_dir")
    return base_dir if isinstance(base_dir, str) and os.path.isabs(base_dir) else None


def _upgrade_legacy(path: Path, text: str, old_base_dir: str) -> None:
    legacy = yaml.safe_load(_LEGACY_INSTANCE.format(history=json.dumps(old_base_dir)))
    if yaml.safe_load(text) != legacy:
        raise InstanceOutsideHome(
            f"{path} was written by afterlaunch with an absolute event-log base_dir "
            f"({old_base_dir}) and edited since: set that base_dir to `{{env: DAGSTER_HOME}}` "
            f"and move {_LEGACY_HISTORY}/{EVENT_LOG_DB} beside the file by hand"
        )
    # The home's own copy of the event log (never the folder the old path names: in a copy of
    # a home that folder is the original's).
    old_db = path.parent / _LEGACY_HISTORY / EVENT_LOG_DB
    new_db = path.parent / EVENT_LOG_DB
    moved = old_db.exists()
    if moved:
        if new_db.exists():
            raise InstanceOutsideHome(
                f"{path.parent} holds two event logs, {old_db} and {new_db}: keep the one with "
                "this home's runs, remove the other, and run again"
            )
        for suffix in ("", "-wal", "-shm"):  # WAL mode: the journal travels with the database
            source = old_db.with_name(old_db.name + suffix)
            if source.exists():
                source.rename(new_db.with_name(new_db.name + suffix))
    path.write_text(EMBEDDED_INSTANCE)
    log.info(
        "rewrote %s: its event log folder was the absolute %s, now DAGSTER_HOME%s",
        path,
        old_base_dir,
        f" ({EVENT_LOG_DB} moved there)" if moved else "",
    )


def _paths_in(value: Any, where: str = "") -> list[tuple[str, str]]:
    """(key path, filesystem path) for every string in the config that names one absolutely:
    a plain path, a file:// URI or an SQLite URL."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _paths_in(v, f"{where}.{k}".lstrip("."))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _paths_in(v, f"{where}[{i}]")]
    if not isinstance(value, str):
        return []
    for prefix in ("sqlite:///", "file://"):
        if value.startswith(prefix):
            value = value[len(prefix) :]  # sqlite:////abs and file:///abs: an absolute path
            break
    return [(where, value)] if os.path.isabs(value) else []


def _refuse_outside(path: Path, config: Any, home_root: Path) -> None:
    for key, named in _paths_in(config):
        target = Path(named).resolve()
        if not target.is_relative_to(home_root):
            raise InstanceOutsideHome(
                f"{path} sets {key} to {named}, outside the home {home_root}: a home's storage "
                "must stay inside it (a copied home would write into the original); use "
                "`{env: DAGSTER_HOME}` or remove the file to get afterlaunch's embedded instance"
            )
