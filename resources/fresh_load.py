"""The packaging check's fresh process: load one registered version from the registry alone
and score the rows it is given.

`python -m resources.fresh_load VERSION ROWS.parquet OUT.json`, with the registry named by the
environment (`AFTERLAUNCH_GATE_*`). It imports MLflow, skops and pandas and nothing of Dagster
or of the project's assets: what a serving process needs, and seconds less per evaluation.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

ENV = {
    "tracking_uri": "AFTERLAUNCH_GATE_TRACKING_URI",
    "registry_uri": "AFTERLAUNCH_GATE_REGISTRY_URI",
    "model_name": "AFTERLAUNCH_GATE_MODEL_NAME",
}


def predict(model, features):
    """As the registry chose it for the signature: a classifier by its probabilities."""
    return (model.predict_proba if hasattr(model, "predict_proba") else model.predict)(features)


def main(argv: list[str]) -> int:
    version, given, answer = argv
    missing = [v for v in ENV.values() if not os.environ.get(v)]
    if missing:
        raise SystemExit(f"the packaging check's process needs {', '.join(missing)} set")
    import numpy as np
    import pandas as pd
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
    from mlflow.tracking import MlflowClient

    from resources import model_format

    model_format.forbid_pickle_loading()
    tracking, registry = os.environ[ENV["tracking_uri"]], os.environ[ENV["registry_uri"]]
    name = os.environ[ENV["model_name"]]
    client = MlflowClient(tracking_uri=tracking, registry_uri=registry)
    location = client.get_model_version_download_uri(name, version)
    repository = get_artifact_repository(location, tracking_uri=tracking, registry_uri=registry)
    with tempfile.TemporaryDirectory(prefix="afterlaunch-fresh-") as tmp:
        model = model_format.load_from_repository(repository, tmp, f"{name!r} version {version}")
    features = pd.read_parquet(given)
    outputs = np.asarray(predict(model, features), dtype="float64")
    Path(answer).write_text(json.dumps({"outputs": outputs.tolist()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
