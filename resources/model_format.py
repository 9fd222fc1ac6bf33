"""How a model is stored in the registry and read back: skops only, with the project's allow-list.

A pickle (MLflow's default for scikit-learn) runs code when it is loaded. skops rebuilds only
the types it is told to trust, so the list of trusted types decides what a stored model can
make this process do. That list is the project's own (:data:`TRUSTED_TYPES`), never the one a
version's MLmodel file carries: whoever can write a version can write its MLmodel too.

MLflow 3.17 facts relied on (mlflow/sklearn/__init__.py, mlflow/environment_variables.py):

* ``mlflow.sklearn.load_model`` takes the serialization format and ``skops_trusted_types`` from
  the MLmodel file, so the registry never calls it: it reads the MLmodel itself
  (:func:`stored_format`) and loads the skops file with :func:`load_skops`.
* ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION`` defaults to true; ``_load_model_from_local_file``
  (behind ``mlflow.sklearn.load_model`` and the pyfunc loader, skops included) refuses every
  format when it is false. :func:`forbid_pickle_loading` sets it false for the process, so no
  MLflow loader deserializes a model here either.
* The sklearn flavor of an MLmodel names the model file (``pickled_model``) and its
  ``serialization_format``; when that key is absent MLflow loads the file as a pickle.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import skops.io
import yaml
from mlflow.environment_variables import MLFLOW_ALLOW_PICKLE_DESERIALIZATION

SKOPS = "skops"
MLMODEL = "MLmodel"
SKLEARN_FLAVOR = "sklearn"

# Classes inside the project's fitted pipelines that skops does not trust by default, reviewed
# here once. A type outside this list is refused at registration and at load, whatever the
# caller or the artifact says. Tree-based types hold raw node arrays that scikit-learn indexes
# without bounds checks: a crafted file can crash the process when it predicts, but rebuilding
# them runs no code of the file's choosing.
TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.tree._tree.Tree",  # decision trees (a model registered by hand in a simulation)
)

_PLAIN_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class UnsafeModel(ValueError):
    """A stored model is in a format, or holds a type, that the project does not load."""


@dataclass(frozen=True)
class StoredFormat:
    format: str  # the serialization format the MLmodel records ("skops", "cloudpickle", ...)
    file: str | None  # the model file inside the artifact folder (None: no sklearn flavor)


def forbid_pickle_loading() -> None:
    """Turn MLflow's pickle gate off for this process (and the processes it starts)."""
    os.environ[MLFLOW_ALLOW_PICKLE_DESERIALIZATION.name] = "false"


def stored_format(mlmodel_text: str, what: str) -> StoredFormat:
    """The serialization format and model file an MLmodel file records. Parsed with
    ``yaml.safe_load``: the file is as untrusted as the model."""
    try:
        document = yaml.safe_load(mlmodel_text)
    except yaml.YAMLError as exc:
        raise UnsafeModel(f"{what}: its {MLMODEL} file is not valid YAML ({exc})") from None
    flavors = document.get("flavors") if isinstance(document, dict) else None
    if not isinstance(flavors, dict):
        raise UnsafeModel(f"{what}: its {MLMODEL} file lists no flavors")
    sklearn = flavors.get(SKLEARN_FLAVOR)
    if not isinstance(sklearn, dict):
        found = ", ".join(sorted(map(str, flavors))) or "none"
        return StoredFormat(f"no {SKLEARN_FLAVOR} flavor (flavors: {found})", None)
    if "serialization_format" not in sklearn:
        return StoredFormat("pickle (none recorded: MLflow's default)", None)
    file = sklearn.get("pickled_model")
    return StoredFormat(str(sklearn["serialization_format"]), None if file is None else str(file))


def require_skops(stored: StoredFormat, what: str) -> str:
    """The skops file name of ``stored``; anything else is refused, naming the format found."""
    if stored.format != SKOPS:
        raise UnsafeModel(
            f"{what} is stored in the {stored.format!r} format: only {SKOPS} models are "
            "loaded (any other format can run code when it is read); register it again "
            "through the project"
        )
    if stored.file is None or not _PLAIN_FILE.match(stored.file):
        raise UnsafeModel(
            f"{what}: its {MLMODEL} file names the model file {stored.file!r}, not a plain "
            "file name inside the model's folder"
        )
    return stored.file


def _outside_the_list(untrusted: list[str], what: str) -> list[str]:
    outside = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if outside:
        raise UnsafeModel(
            f"{what} holds types outside the project's skops allow-list: {', '.join(outside)}; "
            "review them and add them to TRUSTED_TYPES in resources/model_format.py if they "
            "are safe to rebuild"
        )
    return sorted(untrusted)


def types_to_trust(model: Any, what: str) -> list[str]:
    """The types of ``model`` that skops does not trust by default, each checked against the
    project's list (refused by name otherwise). Serializes in memory; nothing is written."""
    return _outside_the_list(skops.io.get_untrusted_types(data=skops.io.dumps(model)), what)


def load_from_repository(repository, dst: str, what: str) -> Any:
    """The model in an MLflow model folder (an artifact repository): its MLmodel file is
    downloaded and read first, and only a skops file named there is downloaded and loaded."""
    mlmodel = repository.download_artifacts(MLMODEL, dst_path=dst)
    with open(mlmodel, encoding="utf-8") as f:
        stored = stored_format(f.read(), what)
    file = require_skops(stored, what)
    return load_skops(repository.download_artifacts(file, dst_path=dst), what)


def load_skops(path: str | os.PathLike, what: str) -> Any:
    """Load a skops file with the project's allow-list. The untrusted types are read from the
    file's schema first (which constructs nothing) so that a refusal names them; skops then
    refuses them again itself while loading."""
    with open(path, "rb") as handle:
        data = handle.read()
    _outside_the_list(skops.io.get_untrusted_types(data=data), what)
    return skops.io.loads(data, trusted=list(TRUSTED_TYPES))
