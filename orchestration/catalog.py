"""The workflows of this deployment: each a package `workflows/<name>/` declaring WORKFLOW in
its `workflow.py` (in the repository's `workflows/` or a folder of $AFTERLAUNCH_WORKFLOW_PATH).
Commands pick one with `--workflow NAME`; without it, the only workflow, or the one named by
$AFTERLAUNCH_WORKFLOW."""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil

from dagster import Definitions

from assets.workflow import Workflow

DEFAULT_ENV = "AFTERLAUNCH_WORKFLOW"


def workflow_names() -> list[str]:
    # Found at run time, never imported by name: workflows stand above the engine.
    package = importlib.import_module("workflows")
    package.extend_search_path()  # $AFTERLAUNCH_WORKFLOW_PATH may have changed since import
    return sorted(
        {
            m.name
            for m in pkgutil.iter_modules(package.__path__)
            if m.ispkg and importlib.util.find_spec(f"workflows.{m.name}.workflow") is not None
        }
    )


def load(name: str) -> Workflow:
    known = workflow_names()
    if name not in known:
        raise SystemExit(f"no workflow {name!r}; this deployment has: {', '.join(known) or 'none'}")
    return importlib.import_module(f"workflows.{name}.workflow").WORKFLOW


def choose(name: str | None = None) -> Workflow:
    """--workflow NAME, else $AFTERLAUNCH_WORKFLOW, else the only workflow."""
    chosen = name or os.environ.get(DEFAULT_ENV)
    if chosen:
        return load(chosen)
    known = workflow_names()
    if len(known) != 1:
        raise SystemExit(
            f"this deployment has {len(known)} workflows ({', '.join(known)}): "
            f"choose one with --workflow NAME or ${DEFAULT_ENV}"
        )
    return load(known[0])


_BUILT: dict[int, Definitions] = {}


def definitions(wf: Workflow) -> Definitions:
    """The workflow's Definitions, built once per process (the same object its code location
    module holds when it is one of the shipped workflows)."""
    if id(wf) not in _BUILT:
        from orchestration.definitions import build_definitions

        _BUILT[id(wf)] = build_definitions(wf)
    return _BUILT[id(wf)]
