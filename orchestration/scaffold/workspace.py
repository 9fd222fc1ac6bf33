"""A workflow's code location in workspace.yaml: is it listed, and appending it.

The file is edited as text, not re-dumped, so its comments and layout stay as people wrote
them; the result is parsed again before it replaces the file, and must hold the old
locations plus the new one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from orchestration.scaffold.request import InitRefused

_LOAD_FROM = re.compile(r"^load_from:\s*(#.*)?$")
_ITEM = re.compile(r"^(\s*)- ")


def module_of(name: str) -> str:
    return f"workflows.{name}.definitions"


def _locations(text: str, path: Path) -> list[dict]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise InitRefused(f"{path} is not valid YAML: {err}") from None
    entries = (data.get("load_from") or []) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise InitRefused(f"{path}: load_from must be a list of code locations")
    return [e for e in entries if isinstance(e, dict)]


def _names(entry: dict) -> set[str]:
    found = set()
    for spec in entry.values():
        if isinstance(spec, dict):
            found |= {str(spec.get("location_name", "")), str(spec.get("module_name", ""))}
    return found - {""}


def listed(path: Path, name: str) -> bool:
    """Whether a location of that name, or that workflow's module, is already listed."""
    entries = _locations(path.read_text(), path)
    return any({name, module_of(name)} & _names(e) for e in entries)


def _entry(name: str, indent: str) -> list[str]:
    return [
        f"{indent}- python_module:",
        f"{indent}    module_name: {module_of(name)}",
        f"{indent}    location_name: {name}",
    ]


def with_location(text: str, name: str) -> str:
    """The workspace text with the workflow's location added at the end of `load_from`."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _LOAD_FROM.match(line)), None)
    if start is None:
        tail = [] if not lines or lines[-1].strip() == "" else [""]
        return "\n".join([*lines, *tail, "load_from:", *_entry(name, "  ")]) + "\n"
    end, indent = start, None
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not (line[0].isspace() or line.startswith("-")):
            break  # the next top-level key
        end = i
        match = _ITEM.match(line)
        if indent is None and match:
            indent = match.group(1)
    new = _entry(name, indent if indent is not None else "  ")
    return "\n".join([*lines[: end + 1], *new, *lines[end + 1 :]]) + "\n"


def append_location(path: Path, name: str) -> None:
    """Add the location, or refuse with nothing changed."""
    text = path.read_text()
    before = _locations(text, path)
    updated = with_location(text, name)
    after = _locations(updated, path)
    added = [e for e in after if e not in before]
    if after[: len(before)] != before or len(added) != 1 or name not in _names(added[0]):
        raise InitRefused(
            f"could not add location {name} to {path} without disturbing it: add "
            f"`- python_module: {{module_name: {module_of(name)}, location_name: {name}}}` "
            "under load_from by hand"
        )
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(updated)
    os.replace(partial, path)  # a crash mid-write leaves the old file whole
