"""The reply-suggestions workflow's Dagster code location (listed in workspace.yaml)."""

from orchestration.definitions import build_definitions
from workflows.reply_suggestions.workflow import WORKFLOW

defs = build_definitions(WORKFLOW)
