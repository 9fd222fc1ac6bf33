"""A staged pipeline's versions in the registry: register, load and serve, promote, roll back.

A version is a configuration (``configuration/config.json``), the context it was deployed on
(``configuration/context.json``: the knowledge base its index is built from, so a rollback
serves the old index exactly) and its lineage. Its prompt template is a version of the
workflow's prompt in MLflow's prompt registry; the model version's tags record the prompt's URI
and change summary. The prompt alias ``champion`` follows the model's ``champion`` alias: every
promotion and rollback moves both, prompt first (serving reads the template from the model
version, so a crash between the two moves leaves the served pipeline consistent and the
``prompt_alias`` check names the stray alias).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd

from assets.pipeline_task import StagedPipeline
from resources.prompts import PromptStore
from resources.registry import ModelRegistry, RegisteredVersion
from resources.snapshots import content_hash

log = logging.getLogger(__name__)

CHAMPION_ALIAS = "champion"
CHALLENGER_ALIAS = "challenger"
PROMPT_ALIAS = "champion"  # the prompt version the champion serves
CONFIG = "config.json"
CONTEXT = "context.json"
LINEAGE = "lineage.json"
TAG = "afterlaunch."
KIND_TAG = TAG + "kind"


def _records(frame: pd.DataFrame) -> list[dict]:
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].map(lambda t: None if pd.isna(t) else t.isoformat())
    return out.astype(object).where(out.notna(), None).to_dict("records")


def register(
    task: StagedPipeline,
    registry: ModelRegistry,
    config: Mapping,
    context: pd.DataFrame,
    *,
    as_of: date,
    summary: str,
    actor: str,
    parent: str | None,
    run_name: str,
) -> RegisteredVersion:
    """Register ``config`` deployed on ``context`` as a new version (no alias moves). Its
    prompt becomes a new prompt version unless the parent already serves the same text."""
    if not summary.strip():
        raise ValueError("a new pipeline version needs a change summary")
    comp = task.component
    prompts = PromptStore(registry.tracking_uri)
    template = comp.prompt_template(config)
    prompt_version = None
    if parent is not None:
        tags = registry.version_tags(parent)
        parent_config = registry.load_configuration(parent, CONFIG)
        if comp.prompt_template(parent_config) == template:
            prompt_version = tags.get(TAG + "prompt_version")
    if prompt_version is None:
        prompt_version = prompts.register(comp.prompt_name, template, summary).version
    config = comp.with_prompt(config, template, prompt_version)
    comp.deploy(config, context)  # refuse what cannot serve before anything is registered
    rows = _records(context)
    lineage = {
        "parent_version": parent,
        "context_as_of": as_of.isoformat(),
        "context_hash": content_hash(context),
        "config_hash": comp.config_hash(config),
        "prompt": {"name": comp.prompt_name, "version": prompt_version},
        "registered_by": actor,
        "change_summary": summary,
    }
    prompt_uri = f"prompts:/{comp.prompt_name}/{prompt_version}"
    version = registry.register_configuration(
        artifacts={CONFIG: dict(config), CONTEXT: {"rows": rows}, LINEAGE: lineage},
        params=comp.describe(config),
        run_tags={TAG + "registered_by": actor},
        version_tags={
            KIND_TAG: task.kind,
            TAG + "config_hash": lineage["config_hash"],
            TAG + "context_hash": lineage["context_hash"],
            TAG + "context_as_of": lineage["context_as_of"],
            TAG + "prompt_uri": prompt_uri,
            TAG + "prompt_version": str(prompt_version),
            TAG + "change_summary": summary[:4000],
            TAG + "parent_version": parent or "",
            TAG + "registered_by": actor,
        },
        run_name=run_name,
        description=summary,
    )
    log.info("registered pipeline version %s (%s): %s", version.version, prompt_uri, summary)
    return version


@dataclass(frozen=True)
class Served:
    version: str
    config: dict
    deployed: Any


_DEPLOYED: dict[tuple[str, str, str], Served] = {}


def load(task: StagedPipeline, registry: ModelRegistry, version: str) -> Served:
    """A version ready to serve: its configuration on its own context (built once per
    process: a version never changes)."""
    key = (registry.tracking_uri, registry.model_name, str(version))
    if key not in _DEPLOYED:
        config = registry.load_configuration(version, CONFIG)
        rows = registry.load_configuration(version, CONTEXT)["rows"]
        deployed = task.component.deploy(config, pd.DataFrame.from_records(rows))
        _DEPLOYED[key] = Served(str(version), config, deployed)
    return _DEPLOYED[key]


def prompt_of(registry: ModelRegistry, version: str) -> str:
    return registry.version_tags(version)[TAG + "prompt_version"]


def move_champion(
    task: StagedPipeline,
    registry: ModelRegistry,
    version: str,
    *,
    actor: str,
    reason: str,
    at: datetime,
) -> dict:
    """The champion alias (and the prompt's) to ``version``; the challenger alias is freed
    when it pointed there. Returns the moves as a record."""
    prompts = PromptStore(registry.tracking_uri)
    prompt = prompt_of(registry, version)
    prompt_move = prompts.set_alias(task.component.prompt_name, PROMPT_ALIAS, prompt)
    move = registry.move_alias(CHAMPION_ALIAS, version, actor=actor, reason=reason, at=at)
    if registry.version_for_alias(CHALLENGER_ALIAS) == str(version):
        registry.delete_alias(CHALLENGER_ALIAS)
    log.info(
        "champion %s -> %s, prompt %s -> %s (%s)",
        move.from_version,
        move.to_version,
        prompt_move.from_version,
        prompt_move.to_version,
        reason,
    )
    return {
        **move.as_dict(),
        "prompt": {"from": prompt_move.from_version, "to": prompt_move.to_version},
    }


def prompt_alias_state(task: StagedPipeline, registry: ModelRegistry) -> dict:
    """Where the prompt alias points against what the champion serves."""
    champion = registry.version_for_alias(CHAMPION_ALIAS)
    if champion is None:
        return {"champion": None, "expected": None, "alias": None, "consistent": True}
    expected = prompt_of(registry, champion)
    try:
        held = PromptStore(registry.tracking_uri).load(task.component.prompt_name, PROMPT_ALIAS)
        alias = held.ref.version
    except Exception as exc:  # a missing alias is the finding, reported with its cause
        alias = f"unreadable ({type(exc).__name__}: {exc})"
    return {
        "champion": champion,
        "expected": expected,
        "alias": alias,
        "consistent": alias == expected,
    }
