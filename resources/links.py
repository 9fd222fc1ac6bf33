"""Links into the Dagster UI and the MLflow UI, for alerts, metadata, tags and the timeline.

The base URLs come from the environment (``AFTERLAUNCH_DAGSTER_URL``, ``AFTERLAUNCH_MLFLOW_URL``):
where a person's browser reaches the two UIs is a deployment's setting, not the code's. An empty
base gives no link (``None``), never a made-up host.
"""

from __future__ import annotations

from urllib.parse import quote

from dagster import ConfigurableResource
from pydantic import Field

DAGSTER_URL_ENV = "AFTERLAUNCH_DAGSTER_URL"
MLFLOW_URL_ENV = "AFTERLAUNCH_MLFLOW_URL"
# Where `afterlaunch ui` and `afterlaunch mlflow-ui` serve unless told otherwise.
DEFAULT_DAGSTER_URL = "http://127.0.0.1:3000"
DEFAULT_MLFLOW_URL = "http://127.0.0.1:5000"


def _base(url: str) -> str | None:
    return url.rstrip("/") or None


def _asset_path(asset: str) -> str:
    # Asset keys arrive as "wf/asset" (the event log's user string) or as a list of parts.
    parts = asset.split("/") if isinstance(asset, str) else list(asset)
    return "/".join(quote(p, safe="") for p in parts)


class UiLinks(ConfigurableResource):
    """Base URLs of the two UIs; every method returns None when its base is not set."""

    dagster_url: str = Field(default="", description="from AFTERLAUNCH_DAGSTER_URL")
    mlflow_url: str = Field(default="", description="from AFTERLAUNCH_MLFLOW_URL")

    def run(self, run_id: str | None) -> str | None:
        base = _base(self.dagster_url)
        return f"{base}/runs/{run_id}" if base and run_id else None

    def asset(self, asset: str, partition: str | None = None) -> str | None:
        base = _base(self.dagster_url)
        if base is None:
            return None
        url = f"{base}/assets/{_asset_path(asset)}"
        return f"{url}?partition={quote(partition)}" if partition else url

    def check(self, asset: str, check: str) -> str | None:
        """The check's page: its evaluations over partitions, newest first."""
        base = _base(self.dagster_url)
        if base is None:
            return None
        return f"{base}/assets/{_asset_path(asset)}?view=checks&checkDetail={quote(check)}"

    def model_version(self, model_name: str, version: str | None) -> str | None:
        base = _base(self.mlflow_url)
        if base is None or version is None:
            return None
        return f"{base}/#/models/{quote(model_name, safe='')}/versions/{version}"
