"""The rainfall workflow's Dagster code location (to be listed in workspace.yaml)."""

from orchestration.definitions import build_definitions
from workflows.rainfall.workflow import WORKFLOW

defs = build_definitions(WORKFLOW)
