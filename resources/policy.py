"""The policy as a Dagster resource, so every asset and check reads the same rules."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource

from checks.policy import Policy, load_policy

POLICY_FILE = "policy.yaml"


class PolicyResource(ConfigurableResource):
    """Documented defaults, overridden by `path`, or else by `<home>/policy.yaml` if present."""

    home: str | None = None
    path: str | None = None

    def load(self) -> Policy:
        if self.path:
            return load_policy(self.path)
        if self.home and (Path(self.home) / POLICY_FILE).is_file():
            return load_policy(Path(self.home) / POLICY_FILE)
        return load_policy(None)
