"""Reply suggestions: for each support ticket, a suggested reply written from the knowledge base.

The model is a four-stage pipeline (BM25 retrieval, a second-stage ranker, generation from a
prompt template, validation of every claim against the passages), registered in MLflow as a
configuration with its prompt in the prompt registry. Every stage has its metric, threshold and
check; the end-to-end label is what the support agent did with the suggestion (sent as is,
edited, discarded), known one to three days later.
"""

from pathlib import Path

from assets.partitions import Partitioning
from assets.pipeline_task import StagedPipeline
from assets.workflow import Contracts, Entity, Label, Owners, Source, Workflow
from workflows.reply_suggestions.component import COMPONENT
from workflows.reply_suggestions.contracts import RawTicketContract, VerdictContract
from workflows.reply_suggestions.evaluation import STAGE_SPECS
from workflows.reply_suggestions.simulation import ReplySimulation
from workflows.reply_suggestions.simulation.source import VERDICTS_TABLE
from workflows.reply_suggestions.simulation.tickets import TABLE_PREFIX

HERE = Path(__file__).resolve().parent

WORKFLOW = Workflow(
    name="reply_suggestions",
    description="Suggest a reply to each support ticket from the knowledge base.",
    owners=Owners(
        data_engineer="support data engineer",
        model_owner="reply suggestions owner",
        domain_owner="support desk lead",
    ),
    partitions=Partitioning("daily", start="2026-01-01"),
    source=Source(layout="day_tables", table=TABLE_PREFIX, labels_table=VERDICTS_TABLE),
    entity=Entity(id="ticket_id", event_time="created_at"),
    # The agent's verdict on the suggestion: one to three days after the ticket.
    label=Label(column="verdict", known_at="decided_at", max_lag_days=3),
    contracts=Contracts(raw=RawTicketContract, labels=VerdictContract),
    feature_sets=None,
    task=StagedPipeline(stages=STAGE_SPECS, component=COMPONENT),
    model_families={},
    policy_file=HERE / "policy.yaml",
    simulation=ReplySimulation(),
)
