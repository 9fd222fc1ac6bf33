"""Prompt templates in MLflow's prompt registry, on a real SQLite store."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from resources.prompts import (
    PromptAliasMove,
    PromptRef,
    PromptStore,
    PromptStoreError,
    render,
    template_variables,
)

V1 = "Answer the customer from the articles.\nQuestion: {{question}}"
V2 = "Answer the customer from the articles in at most one sentence.\nQuestion: {{question}}"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> PromptStore:
    # One store for the module (creating MLflow's schema takes seconds); each test its own name.
    path = tmp_path_factory.mktemp("prompts") / "mlflow.db"
    return PromptStore(f"sqlite:///{path}")


def _two_versions(store: PromptStore, name: str) -> tuple[PromptRef, PromptRef]:
    return (
        store.register(name, V1, "first reply prompt"),
        store.register(name, V2, "shorter replies: at most one sentence"),
    )


def test_versions_keep_their_text_and_change_summary(store):
    v1, v2 = _two_versions(store, "reply_history")
    assert v1 == PromptRef("reply_history", "1", "prompts:/reply_history/1")
    assert v2 == PromptRef("reply_history", "2", "prompts:/reply_history/2")
    history = store.history("reply_history")
    assert [p.ref for p in history] == [v1, v2]
    assert [p.template for p in history] == [V1, V2]
    assert [p.change_summary for p in history] == [
        "first reply prompt",
        "shorter replies: at most one sentence",
    ]
    assert store.load("reply_history", 2).change_summary == "shorter replies: at most one sentence"
    assert history[0].variables == {"question"}
    # MLflow's experiment-link threads are done before the call returns.
    assert not [t for t in threading.enumerate() if t.name.startswith("link_prompt")]


def test_rolling_back_the_alias_restores_the_previous_text(store):
    _two_versions(store, "reply_rollback")
    first = store.set_alias("reply_rollback", "champion", 1)
    assert first == PromptAliasMove("reply_rollback", "champion", None, "1")
    assert store.load("reply_rollback", "champion").template == V1
    assert store.set_alias("reply_rollback", "champion", 2).from_version == "1"
    loaded = store.load("reply_rollback", "champion")
    assert (loaded.template, loaded.ref.version) == (V2, "2")
    # Roll back: moved seconds after the last load, the alias resolves to v1 (not a cached v2).
    back = store.set_alias("reply_rollback", "champion", "1")
    assert (back.from_version, back.to_version) == ("2", "1")
    rolled_back = store.load("reply_rollback", "champion")
    assert rolled_back.template == V1
    assert rolled_back.ref == PromptRef("reply_rollback", "1", "prompts:/reply_rollback/1")
    assert rolled_back.aliases == ("champion",)
    assert [p.aliases for p in store.history("reply_rollback")] == [("champion",), ()]


def test_an_alias_moved_by_another_process_is_seen_at_once(store):
    # A rollback runs in another process (a Dagster run): MLflow's in-process alias cache
    # (60 s by default) would keep serving the old version here.
    _two_versions(store, "reply_elsewhere")
    store.set_alias("reply_elsewhere", "champion", 2)
    assert store.load("reply_elsewhere", "champion").template == V2
    move = (
        "from resources.prompts import PromptStore; "
        f"PromptStore({store.tracking_uri!r}).set_alias('reply_elsewhere', 'champion', 1)"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", move], cwd=root, check=True, capture_output=True)
    assert store.load("reply_elsewhere", "champion").template == V1


def test_load_by_version_number_or_string(store):
    _two_versions(store, "reply_by_version")
    assert store.load("reply_by_version", 1).template == V1
    assert store.load("reply_by_version", "2").template == V2


def test_missing_versions_and_aliases_are_named_errors(store):
    _two_versions(store, "reply_missing")
    with pytest.raises(PromptStoreError, match=r"loading prompts:/reply_missing/7 in sqlite"):
        store.load("reply_missing", 7)
    with pytest.raises(PromptStoreError, match=r"prompts:/reply_missing@canary"):
        store.load("reply_missing", "canary")
    with pytest.raises(PromptStoreError, match="to version 9"):
        store.set_alias("reply_missing", "champion", 9)


def test_a_version_needs_a_change_summary_and_a_template(store):
    with pytest.raises(ValueError, match="change summary is required"):
        store.register("reply_invalid", V1, "  ")
    with pytest.raises(ValueError, match="template is empty"):
        store.register("reply_invalid", "", "empty")
    with pytest.raises(ValueError, match="not a valid alias"):
        store.set_alias("reply_invalid", "latest", 1)


def test_render_fills_every_variable_and_refuses_gaps():
    assert render(V1, question="Can I get a refund?").endswith("Question: Can I get a refund?")
    assert template_variables("{{ a }} and {{b}}") == {"a", "b"}
    with pytest.raises(ValueError, match="no value for question"):
        render(V1)
    with pytest.raises(ValueError, match="the template has no context"):
        render(V1, question="q", context="c")
