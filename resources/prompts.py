"""Prompt templates in MLflow's prompt registry: versions with change summaries, and aliases.

A prompt is versioned beside the models: each :meth:`PromptStore.register` adds version N+1 of
a named template with the change summary that says why (MLflow keeps it as the version's
commit message), and a deployment names the version it serves through an alias
(``prompts:/NAME@champion``). Rolling back is moving the alias to an earlier version.

MLflow 3.17 facts this relies on:

* ``mlflow.genai.register_prompt`` / ``load_prompt`` / ``set_prompt_alias`` are fluent: they
  read the process-global tracking and registry URIs, so every call runs inside
  :func:`resources.registry._fluent_uris` (under its lock; the previous state is restored).
* ``load_prompt`` caches alias look-ups for 60 s by default: a moved alias would keep
  resolving to the old version. Every load here bypasses the cache (``cache_ttl_seconds=0``).
* Registering or loading tags the prompt with the active experiment's id on a background
  thread. Those threads are waited for before the call returns, so nothing writes to the
  store after it (or after a test's temporary store is gone).
* MLflow keeps no alias history: :meth:`PromptStore.set_alias` returns a
  :class:`PromptAliasMove` for the caller to record.

Every failure surfaces as :class:`PromptStoreError`, naming the password-masked URI and the
step; nothing falls back to a default template.
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import mlflow
import mlflow.genai
from mlflow import MlflowClient
from mlflow.entities.model_registry import PromptVersion
from mlflow.exceptions import MlflowException

from resources.masking import mask

# The one place the project scopes MLflow's process-global state, under its lock.
from resources.registry import _fluent_uris

log = logging.getLogger(__name__)

_LINK_THREAD_PREFIX = "link_prompt_to_experiment_thread"
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_VERSION = re.compile(r"^[1-9][0-9]*$")
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_PAGE = 100


class PromptStoreError(RuntimeError):
    """A prompt registry operation failed. The message names the (masked) URI and the step."""


@dataclass(frozen=True)
class PromptRef:
    name: str
    version: str
    uri: str  # prompts:/NAME/VERSION: what a pipeline version records


@dataclass(frozen=True)
class StoredPrompt:
    """One prompt version as the registry holds it."""

    ref: PromptRef
    template: str
    change_summary: str
    aliases: tuple[str, ...]

    @property
    def variables(self) -> set[str]:
        return template_variables(self.template)


@dataclass(frozen=True)
class PromptAliasMove:
    name: str
    alias: str
    from_version: str | None  # None: the alias is new
    to_version: str


def template_variables(template: str) -> set[str]:
    """The ``{{name}}`` variables of a template (MLflow's double-brace syntax)."""
    return set(_VARIABLE.findall(template))


def render(template: str, **values: str) -> str:
    """`template` with each ``{{name}}`` replaced by ``values[name]``. A variable without a
    value, or a value the template does not use, is an error (a silently empty question or a
    forgotten context would reach the generator unnoticed)."""
    wanted = template_variables(template)
    missing, unused = wanted - values.keys(), values.keys() - wanted
    if missing or unused:
        problems = []
        if missing:
            problems.append(f"no value for {', '.join(sorted(missing))}")
        if unused:
            problems.append(f"the template has no {', '.join(sorted(unused))}")
        raise ValueError(f"cannot render the prompt: {'; '.join(problems)}")
    return _VARIABLE.sub(lambda m: str(values[m.group(1)]), template)


def _stored(version: PromptVersion) -> StoredPrompt:
    if not isinstance(version.template, str):
        raise PromptStoreError(
            f"prompt {version.name!r} version {version.version} is a chat prompt; "
            "only text templates are stored here"
        )
    number = str(version.version)
    return StoredPrompt(
        ref=PromptRef(version.name, number, f"prompts:/{version.name}/{number}"),
        template=version.template,
        change_summary=version.commit_message or "",
        aliases=tuple(sorted(version.aliases or ())),
    )


class PromptStore:
    """Prompt templates in the MLflow prompt registry at `tracking_uri` (also the registry URI:
    ``sqlite:////abs/mlflow.db``, a Postgres URI or an MLflow server)."""

    def __init__(self, tracking_uri: str):
        if not tracking_uri:
            raise ValueError("PromptStore needs a tracking URI")
        self.tracking_uri = tracking_uri

    def __repr__(self) -> str:
        return f"PromptStore({mask(self.tracking_uri, self.tracking_uri)!r})"

    @contextmanager
    def _scoped(self, step: str) -> Iterator[None]:
        """The fluent API pointed at this store; MLflow's failures named; its background
        experiment-link threads waited for."""
        before = set(threading.enumerate())
        try:
            with _fluent_uris(self.tracking_uri, self.tracking_uri), warnings.catch_warnings():
                # mlflow.genai warns that the prompt API moved to mlflow.genai: it is used here.
                warnings.filterwarnings("ignore", category=FutureWarning, module="mlflow")
                try:
                    yield
                finally:
                    for thread in set(threading.enumerate()) - before:
                        if thread.name.startswith(_LINK_THREAD_PREFIX):
                            thread.join()
        except MlflowException as exc:
            where = mask(self.tracking_uri, self.tracking_uri)
            message = mask(exc.message, self.tracking_uri)
            raise PromptStoreError(f"{step} in {where} failed: {message}") from exc

    def _name(self, name: str) -> str:
        if not name or "/" in name or "@" in name:
            raise ValueError(f"a prompt name is non-empty, without '/' or '@': got {name!r}")
        return name

    def register(self, name: str, template: str, change_summary: str) -> PromptRef:
        """Add the next version of prompt `name` with `change_summary` (required: a version
        nobody can explain cannot be reviewed or rolled back with confidence)."""
        self._name(name)
        if not template.strip():
            raise ValueError(f"prompt {name!r}: the template is empty")
        if not change_summary.strip():
            raise ValueError(f"prompt {name!r}: a change summary is required")
        with self._scoped(f"registering prompt {name!r}"):
            version = mlflow.genai.register_prompt(
                name=name, template=template, commit_message=change_summary
            )
        ref = _stored(version).ref
        log.info("registered prompt %s: %s", ref.uri, change_summary)
        return ref

    def set_alias(self, name: str, alias: str, version: str | int) -> PromptAliasMove:
        """Point `alias` at `version` of prompt `name` (the version must exist)."""
        self._name(name)
        if not _ALIAS.match(alias) or alias == "latest":
            raise ValueError(f"prompt alias {alias!r} is not a valid alias name")
        number = str(version).strip()
        if not _VERSION.match(number):
            raise ValueError(f"a prompt version is a positive integer, got {version!r}")
        step = f"moving alias {alias!r} of prompt {name!r} to version {number}"
        with self._scoped(step):
            client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
            target = client.get_prompt_version(name, number)
            if target is None:
                raise PromptStoreError(f"{step}: prompt {name!r} has no version {number}")
            previous = _alias_version(client, name, alias)
            mlflow.genai.set_prompt_alias(name=name, alias=alias, version=int(number))
        log.info("prompt %s@%s: %s -> %s", name, alias, previous, number)
        return PromptAliasMove(name, alias, previous, number)

    def load(self, name: str, alias_or_version: str | int) -> StoredPrompt:
        """The version of prompt `name` that `alias_or_version` names (``"3"``, ``3`` or an alias
        such as ``"champion"``), read from the store now (never from MLflow's cache)."""
        self._name(name)
        key = str(alias_or_version).strip()
        uri = f"prompts:/{name}/{key}" if _VERSION.match(key) else f"prompts:/{name}@{key}"
        with self._scoped(f"loading {uri}"):
            version = mlflow.genai.load_prompt(uri, link_to_model=False, cache_ttl_seconds=0)
        if version is None:  # allow_missing is off: MLflow raises first; kept as a guard
            raise PromptStoreError(f"loading {uri}: not found")
        return _stored(version)

    def history(self, name: str) -> list[StoredPrompt]:
        """Every version of prompt `name`, oldest first, with its change summary and aliases."""
        self._name(name)
        versions: list[PromptVersion] = []
        with self._scoped(f"listing the versions of prompt {name!r}"):
            client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
            token = None
            while True:
                page = client.search_prompt_versions(name, max_results=_PAGE, page_token=token)
                versions.extend(page)
                token = page.token
                if not token:
                    break
            # Search results carry no aliases: read each version (a prompt has few).
            versions = [client.get_prompt_version(name, str(v.version)) for v in versions]
        return sorted((_stored(v) for v in versions), key=lambda p: int(p.ref.version))


def _alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    try:
        return str(client.get_prompt_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None  # the alias is new
        raise
