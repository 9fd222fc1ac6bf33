"""The reply workflow's PipelineComponent on a real SQLite source: a simulated day end to end
(source -> context -> deploy -> serve -> stage arrays -> review items), the world's effects
coming from the source's world table only, prompts, a failing chat server, task success."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from tests.resources.test_generators import chat_server  # noqa: F401 - a fixture
from workflows.reply_suggestions.component import COMPONENT, CONTEXT_COLUMNS
from workflows.reply_suggestions.config import PipelineConfig
from workflows.reply_suggestions.simulation import PROMPTS, ReplySimulation, source
from workflows.reply_suggestions.simulation.incidents import Incident

SEED = 7
START = dt.date(2026, 3, 2)
PROVIDER_DAY = START + dt.timedelta(days=2)
END = PROVIDER_DAY + dt.timedelta(days=1)
ROWS = 40
INCIDENTS = [Incident("provider_update", PROVIDER_DAY, {"share": 0.3, "days": 1})]


@pytest.fixture(scope="module")
def sim_url(tmp_path_factory) -> str:
    """A simulated source: tickets, KB and the world table (the provider update)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('sim') / 'desk.db'}"
    ReplySimulation(rows_per_day=ROWS).write_source(url, SEED, START, END, INCIDENTS)
    return url


@pytest.fixture(scope="module")
def plain_url(tmp_path_factory) -> str:
    """The same days landed without a world table: a source as a real desk's would be."""
    url = f"sqlite:///{tmp_path_factory.mktemp('plain') / 'desk.db'}"
    source.write_days(url, SEED, START, END, INCIDENTS, rows_per_day=ROWS)
    return url


@pytest.fixture(scope="module")
def deployed(sim_url):
    return COMPONENT.deploy(COMPONENT.launch_config(), COMPONENT.context(sim_url, START))


def serve(deployed, url: str, day: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = source.read_tickets(url, day)
    return rows, COMPONENT.serve(deployed, rows, day, url)


def faithfulness(deployed, url: str, day: dt.date) -> np.ndarray:
    rows, served = serve(deployed, url, day)
    arrays = COMPONENT.stage_arrays(served, rows, COMPONENT.context(url, day))
    return arrays["generation"]["faithfulness"]


def test_a_simulated_day_is_served_and_judged_end_to_end(sim_url, deployed):
    context = COMPONENT.context(sim_url, START)
    assert list(context.columns) == list(CONTEXT_COLUMNS) and len(context) == 40
    rows, served = serve(deployed, sim_url, START)
    assert len(rows) > 20
    assert served["ticket_id"].tolist() == rows["ticket_id"].tolist()  # one row each, in order
    assert served["served"].dtype == bool and served["served"].any()
    assert (served["kb_version"] == served["source_kb_version"]).all()  # index is current

    arrays = COMPONENT.stage_arrays(served, rows, COMPONENT.context(sim_url, START))
    assert set(arrays) == {"retrieval", "ranking", "generation", "validation"}
    assert all(len(v) == len(rows) for metrics in arrays.values() for v in metrics.values())
    assert np.nanmean(arrays["retrieval"]["recall_at_k"]) > 0.9

    items = COMPONENT.review_items(served, rows)
    assert list(items.columns) == ["item_id", "question", "output", "context", "faithfulness"]
    assert items["item_id"].tolist() == rows["ticket_id"].tolist()
    assert items["question"].tolist() == rows["question"].tolist()
    first = served.iloc[0]
    assert items["context"].iloc[0] == "\n\n".join(first["context_passages"])
    np.testing.assert_allclose(
        items["faithfulness"], arrays["generation"]["faithfulness"], equal_nan=True
    )


def test_the_served_frame_survives_parquet_and_judges_the_same(sim_url, deployed, tmp_path):
    rows, served = serve(deployed, sim_url, START)
    served.to_parquet(tmp_path / "served.parquet")
    back = pd.read_parquet(tmp_path / "served.parquet")
    context = COMPONENT.context(sim_url, START)
    before = COMPONENT.stage_arrays(served, rows, context)
    after = COMPONENT.stage_arrays(back, rows, context)
    for stage, metrics in before.items():
        for name, values in metrics.items():
            np.testing.assert_array_equal(values, after[stage][name], err_msg=f"{stage}.{name}")
    # The context is stored as JSON records: deploying from them builds the same index.
    again = COMPONENT.deploy(COMPONENT.launch_config(), pd.DataFrame(context.to_dict("records")))
    assert again.index.kb_version == deployed.index.kb_version


def test_the_provider_update_acts_on_its_day_only_and_only_through_the_world_table(
    sim_url, plain_url, deployed
):
    clean = faithfulness(deployed, sim_url, START)
    hit = faithfulness(deployed, sim_url, PROVIDER_DAY)
    after = faithfulness(deployed, sim_url, END)
    assert np.nanmean(hit) < np.nanmean(clean) - 0.05
    assert np.nanmean(after) > np.nanmean(hit) + 0.05
    _, served = serve(deployed, sim_url, PROVIDER_DAY)
    assert served["provider"].mean() > 0.1
    # The same day from a source without the world table: no simulated effect at all.
    plain = COMPONENT.deploy(COMPONENT.launch_config(), COMPONENT.context(plain_url, START))
    _, served_plain = serve(plain, plain_url, PROVIDER_DAY)
    assert not served_plain[["provider", "padded", "regressed_ranker"]].any().any()
    assert np.nanmean(faithfulness(plain, plain_url, PROVIDER_DAY)) == 1.0


def test_with_prompt_replaces_the_prompt_and_refuses_a_template_without_the_question():
    launch = COMPONENT.launch_config()
    template = PROMPTS["clarified"][0]
    changed = COMPONENT.with_prompt(launch, template, "4")
    assert changed["prompt"] == {"name": "reply_suggestion", "version": "4", "template": template}
    assert {k: v for k, v in changed.items() if k != "prompt"} == {
        k: v for k, v in launch.items() if k != "prompt"
    }
    assert COMPONENT.prompt_template(changed) == template
    assert COMPONENT.config_hash(changed) != COMPONENT.config_hash(launch)
    assert COMPONENT.config_hash(launch) == PipelineConfig().content_hash()
    with pytest.raises(ValueError, match="lacks placeholder"):
        COMPONENT.with_prompt(launch, "Reply to the customer kindly.", "5")


def test_describe_gives_flat_short_strings():
    described = COMPONENT.describe(COMPONENT.launch_config())
    assert all(isinstance(v, str) and 0 < len(v) < 250 for v in described.values())
    assert described["retriever.k1"] == "1.5" and described["retriever.top_k"] == "5"
    assert described["ranker.weights"] == "bm25=1,category=0.3,title=0.3"
    assert (described["prompt"], described["prompt.version"]) == ("reply_suggestion", "1")
    assert (described["generator"], described["generator.version"]) == ("template", "1")


def test_the_clarified_prompt_serves_as_the_launch_prompt_and_the_refined_one_does_not(
    sim_url, deployed
):
    rows, base = serve(deployed, sim_url, START)
    context = COMPONENT.context(sim_url, START)
    base_arrays = COMPONENT.stage_arrays(base, rows, context)
    launch = COMPONENT.launch_config()
    for name in ("clarified", "refined"):
        # The engine gives a prompt its own version number: the world keys on the text.
        config = COMPONENT.with_prompt(launch, PROMPTS[name][0], "7")
        challenger = COMPONENT.deploy(config, context)
        served = COMPONENT.serve(challenger, rows, START, sim_url)
        arrays = COMPONENT.stage_arrays(served, rows, context)
        same = served["reply"].equals(base["reply"]) and all(
            np.array_equal(arrays[s][m], base_arrays[s][m], equal_nan=True)
            for s in base_arrays
            for m in base_arrays[s]
        )
        assert same is (name == "clarified"), name


def test_a_chat_server_failing_every_call_gives_per_row_errors(
    sim_url,
    chat_server,  # noqa: F811 - the imported fixture
    monkeypatch,
):
    chat_server.behaviour = "500"
    monkeypatch.setenv("AFTERLAUNCH_GENERATOR_URL", chat_server.url)
    monkeypatch.setenv("AFTERLAUNCH_GENERATOR_MODEL", "reply-model")
    monkeypatch.delenv("AFTERLAUNCH_GENERATOR_API_KEY", raising=False)
    config = PipelineConfig().as_dict()
    config["generator"] = {"name": "openai_compatible", "version": "reply-model"}
    context = COMPONENT.context(sim_url, START)
    deployed = COMPONENT.deploy(config, context)
    rows = source.read_tickets(sim_url, START)
    served = COMPONENT.serve(deployed, rows, START, sim_url)
    asked = served["context_ids"].map(len) > 0
    assert len(served) == len(rows) and asked.sum() == len(chat_server.requests) > 0
    assert served.loc[asked, "error"].str.contains("HTTP 500").all()
    assert served.loc[asked, "reply"].isna().all() and not served["served"].any()
    arrays = COMPONENT.stage_arrays(served, rows, context)
    assert np.isnan(arrays["generation"]["faithfulness"]).all()
    items = COMPONENT.review_items(served, rows)
    assert (items["output"] == "").all() and items["faithfulness"].isna().all()
    # A configuration naming another model than the environment's is refused at deploy.
    config["generator"]["version"] = "another-model"
    with pytest.raises(ValueError, match="another-model"):
        COMPONENT.deploy(config, context)


def test_task_success_counts_sent_as_success_and_leaves_unknown_or_unshown_rows_out():
    served = pd.DataFrame(
        {
            "ticket_id": ["a", "b", "c", "d", "e"],
            "served": [True, True, True, True, False],
        }
    )
    labels = pd.DataFrame(
        {
            "ticket_id": ["a", "b", "c", "e"],
            "verdict": ["sent", "edited", "discarded", "sent"],
            "decided_at": pd.to_datetime(["2026-03-03"] * 4),
        }
    )
    got = COMPONENT.task_success(served, labels)
    np.testing.assert_array_equal(got, [1.0, 0.0, 0.0, np.nan, np.nan])
    bad = labels.assign(verdict=["sent", "maybe", "sent", "sent"])
    with pytest.raises(ValueError, match="maybe"):
        COMPONENT.task_success(served, bad)


def test_slices_name_the_edge_case_and_language_masks(sim_url):
    rows = source.read_tickets(sim_url, START)
    slices = COMPONENT.slices(rows)
    assert set(slices) == {"edge_case", "language_en", "language_de", "language_fr"}
    np.testing.assert_array_equal(slices["edge_case"], rows["edge_case"].to_numpy())
    assert sum(slices[f"language_{c}"].sum() for c in ("en", "de", "fr")) == len(rows)
