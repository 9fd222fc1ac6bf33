"""The policy as a Dagster resource, so every asset and check of a workflow reads the same rules.

Layers: the engine's defaults, the task's defaults (`defaults`), the workflow's policy.yaml
(`workflow_file`), then the home's `workflows/<name>/policy.yaml` (or `path` when given).
"""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from checks.policy import Policy, build_policy, read_layer

POLICY_FILE = "policy.yaml"


def home_policy_file(home: str | Path, workflow: str) -> Path:
    return Path(home) / "workflows" / workflow / POLICY_FILE


class PolicyResource(ConfigurableResource):
    workflow: str
    home: str | None = None
    path: str | None = None  # an explicit override file instead of the home's
    workflow_file: str | None = None
    defaults: dict = Field(default_factory=dict, description="the task's defaults")
    label_lag_days: int | None = None

    def load(self) -> Policy:
        runtime = None
        if self.path:
            runtime = self.path
        elif self.home and home_policy_file(self.home, self.workflow).is_file():
            runtime = home_policy_file(self.home, self.workflow)
        return build_policy(
            [self.defaults, read_layer(self.workflow_file)],
            label_lag_days=self.label_lag_days,
            runtime_layer=read_layer(runtime),
        )
