"""Links both ways between the two UIs: Dagster metadata pointing at the MLflow version page,
MLflow version tags pointing at the Dagster run and asset. Nothing is linked when a base URL is
not set (`resources.links.UiLinks` gives None then)."""

from __future__ import annotations

from dagster import AssetKey, MetadataValue

from resources.links import UiLinks

RUN_URL_TAG = "dagster.run_url"
ASSET_URL_TAG = "dagster.asset_url"


def mlflow_version_metadata(links: UiLinks, model_name: str, version: str | None) -> dict:
    url = links.model_version(model_name, version)
    return {"mlflow_version": MetadataValue.url(url)} if url else {}


def dagster_tags(links: UiLinks, run_id: str, asset: AssetKey, prefix: str = "") -> dict[str, str]:
    """``prefix`` keeps a later change's links beside the registration's, never over them."""
    found = {
        prefix + RUN_URL_TAG: links.run(run_id),
        prefix + ASSET_URL_TAG: links.asset(asset.to_user_string()),
    }
    return {tag: url for tag, url in found.items() if url}


def link_change(links: UiLinks, registry, output, run_id: str, asset: AssetKey):
    """A champion change's output, with its MLflow version page linked in the metadata; the
    version is tagged with the run and asset that made it champion (``champion.dagster.*``,
    beside the ``dagster.*`` tags of the run that registered it)."""
    version = output.value["version"]
    tags = dagster_tags(links, run_id, asset, prefix="champion.")
    if tags:
        registry.set_version_tags(version, tags)
    extra = mlflow_version_metadata(links, registry.model_name, version)
    return output.with_metadata({**output.metadata, **extra}) if extra else output
