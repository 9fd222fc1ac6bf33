"""The ticket workflow's Dagster code location (listed in workspace.yaml)."""

from orchestration.definitions import build_definitions
from workflows.ticket_escalation.workflow import WORKFLOW

defs = build_definitions(WORKFLOW)
