"""The evidence behind the gate's provenance, packaging and cost criteria, gathered from the
registry and from processes; the judgement is ``checks/provenance.py``.

* lineage: the version's tags against the tags its run's ``lineage.json`` gives;
* leakage: the entity ids its run recorded as its training set (``training_entities.json``,
  written by training and by anyone registering a model, see :func:`training_entities`);
* packaging: a fresh ``sys.executable`` loads the version from the registry alone (the URIs
  reach it through the environment, never the command line) with the project's safe loader
  and scores test rows; the MLmodel's signature and ``requirements.txt`` are read from the
  downloaded model folder, whose size is the artifact's size;
* cost: scoring time of the challenger and the champion on the test set, interleaved repeats.

Also :class:`Timed`, which times a served model's scoring for the ``predictions`` asset.

Run as ``python -m assets.gate_evidence VERSION IN.parquet OUT.json``, it is that fresh process.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from assets.lineage import manifest_hash, manifest_tags
from assets.models import ServedModel
from assets.workflow import Workflow
from checks import provenance
from checks.gate import Criterion
from checks.policy import GateRules
from resources import fresh_load
from resources.masking import mask
from resources.packages import installed_versions
from resources.registry import ModelRegistry

log = logging.getLogger("afterlaunch.gate_evidence")

LINEAGE_FILE = "lineage.json"
TRAINING_ENTITIES = "training_entities.json"
PACKAGING_ROWS = 5  # test rows the fresh process scores
_REQUIREMENTS = "requirements.txt"
_MLMODEL = "MLmodel"
_ERROR_CHARS = 600  # the tail of the fresh process's stderr shown in the criterion
_ROOT = Path(__file__).resolve().parent.parent


def training_entities(ids: Iterable, entity_column: str) -> dict:
    """The JSON artifact recording which entities a model was trained on (train and validation
    rows alike: both were seen while it was made)."""
    unique = sorted({str(i) for i in ids})
    return {"entity_column": entity_column, "count": len(unique), "ids": unique}


@dataclass
class Evidence:
    criteria: list[Criterion] = field(default_factory=list)
    figures: dict = field(default_factory=dict)  # the numbers, for the evaluation's metadata


# ---------------------------------------------------------------- lineage and leakage


def lineage_evidence(
    registry: ModelRegistry, version: str, artifacts: list[str]
) -> provenance.LineageEvidence:
    tags = registry.version_tags(version)
    if LINEAGE_FILE not in artifacts:
        return provenance.LineageEvidence(tags, None, None)
    manifest = registry.load_artifact_json(version, LINEAGE_FILE)
    try:
        expected = manifest_tags(manifest)
    except (KeyError, TypeError) as err:  # a file named lineage.json that is no manifest
        return provenance.LineageEvidence(tags, None, manifest_hash(manifest), f"lacks {err}")
    return provenance.LineageEvidence(tags, expected, manifest_hash(manifest))


def recorded_training_ids(
    registry: ModelRegistry, version: str, artifacts: list[str], entity_column: str
) -> list[str] | None:
    """The training entity ids the version's run recorded (None: it recorded none)."""
    if TRAINING_ENTITIES not in artifacts:
        return None
    record = registry.load_artifact_json(version, TRAINING_ENTITIES)
    ids, column = record.get("ids"), record.get("entity_column")
    if not isinstance(ids, list):
        raise ValueError(f"version {version}: {TRAINING_ENTITIES} holds no list of `ids`")
    if column != entity_column:
        raise ValueError(
            f"version {version}: {TRAINING_ENTITIES} records ids of {column!r}, the workflow's "
            f"entity is {entity_column!r}"
        )
    return [str(i) for i in ids]


# ---------------------------------------------------------------- packaging


def signature_columns(mlmodel_text: str) -> list[str] | None:
    """The input column names of an MLmodel file's signature (None: no input signature)."""
    document = yaml.safe_load(mlmodel_text)
    signature = document.get("signature") if isinstance(document, dict) else None
    inputs = signature.get("inputs") if isinstance(signature, dict) else None
    if not inputs:
        return None
    columns = json.loads(inputs) if isinstance(inputs, str) else inputs
    return [str(c["name"]) for c in columns if isinstance(c, dict) and "name" in c]


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def fresh_process_outputs(
    registry: ModelRegistry, version: str, features: pd.DataFrame, timeout_s: float
) -> tuple[np.ndarray | None, str | None]:
    """Load ``version`` in a new interpreter from the registry alone and score ``features``:
    (its outputs, None), or (None, the error it reported)."""
    env = {
        **os.environ,
        fresh_load.ENV["tracking_uri"]: registry.tracking_uri,
        fresh_load.ENV["registry_uri"]: registry.registry_uri or registry.tracking_uri,
        fresh_load.ENV["model_name"]: registry.model_name,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")])),
    }
    with tempfile.TemporaryDirectory(prefix="afterlaunch-packaging-") as tmp:
        given, answer = Path(tmp) / "rows.parquet", Path(tmp) / "outputs.json"
        features.to_parquet(given, index=False)
        command = [sys.executable, "-m", "resources.fresh_load", version, str(given), str(answer)]
        try:
            done = subprocess.run(
                command,
                env=env,
                cwd=tmp,  # nothing of this process's working directory is borrowed
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired:
            return None, f"the fresh process did not finish within {timeout_s:g} s"
        if done.returncode != 0:
            lines = (done.stderr or done.stdout or "").strip().splitlines()
            last = next((ln for ln in reversed(lines) if ln.strip()), "no output")
            text = (done.stderr or "").strip()[-_ERROR_CHARS:]
            error = f"exit {done.returncode}: {last}" + (f"\n{text}" if text else "")
            # A traceback may quote a URI: its secrets never reach the evaluation's record.
            return None, mask(error, registry.tracking_uri, registry.registry_uri or "")
        return np.asarray(json.loads(answer.read_text())["outputs"], dtype="float64"), None


def packaging_evidence(
    wf: Workflow, registry: ModelRegistry, served: ServedModel, rows: pd.DataFrame, rules
) -> tuple[list[Criterion], dict]:
    features = served.features(rows.head(PACKAGING_ROWS)).reset_index(drop=True)
    outputs, error = fresh_process_outputs(
        registry, served.version, features, rules.packaging_timeout_s
    )
    difference = None
    if outputs is not None:
        here = np.asarray(fresh_load.predict(served.model, features), "float64")
        if here.shape != outputs.shape:
            error = f"it returned outputs of shape {outputs.shape}, this process {here.shape}"
        elif not np.array_equal(np.isnan(here), np.isnan(outputs)):
            error = "its undefined (NaN) outputs are not this process's"
        else:
            gap = np.abs(np.nan_to_num(here, nan=0.0) - np.nan_to_num(outputs, nan=0.0))
            difference = float(gap.max()) if gap.size else 0.0
    with tempfile.TemporaryDirectory(prefix="afterlaunch-model-folder-") as tmp:
        folder = registry.download_model_folder(served.version, tmp)
        columns = signature_columns((folder / _MLMODEL).read_text(encoding="utf-8"))
        requirements_file = folder / _REQUIREMENTS
        recorded = (
            provenance.parse_requirements(requirements_file.read_text(encoding="utf-8"))
            if requirements_file.exists()
            else {}
        )
        size = folder_bytes(folder)
    installed = installed_versions(recorded)
    criteria = [
        provenance.fresh_load(error, len(features), difference),
        provenance.signature(columns, served.feature_set.columns),
        provenance.requirements(recorded, installed),
    ]
    figures = {
        "fresh_process_rows": len(features),
        "fresh_process_error": error,
        "fresh_process_max_abs_difference": difference,
        "signature_columns": columns,
        "feature_set": served.feature_set.version,
        "feature_columns": list(served.feature_set.columns),
        "requirements": recorded,
        "installed": installed,
    }
    return criteria, {"figures": figures, "size_bytes": size}


def artifact_bytes(registry: ModelRegistry, version: str) -> int:
    with tempfile.TemporaryDirectory(prefix="afterlaunch-model-folder-") as tmp:
        return folder_bytes(registry.download_model_folder(version, tmp))


# ---------------------------------------------------------------- cost


def interleaved_seconds(
    wf: Workflow, models: Mapping[str, ServedModel], rows: pd.DataFrame, repeats: int
) -> dict[str, list[float]]:
    """Seconds each model takes to score ``rows`` (features included: serving computes them
    too), ``repeats`` times, interleaved and in alternating order so that a slow moment of the
    machine falls on both; one untimed warm-up call each first."""
    names = list(models)
    for name in names:
        models[name].outputs(wf, rows)
    timings: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        for name in names if repeat % 2 == 0 else reversed(names):
            start = time.perf_counter()
            models[name].outputs(wf, rows)
            timings[name].append(time.perf_counter() - start)
    return timings


# ---------------------------------------------------------------- all of it


def gate_evidence(
    wf: Workflow,
    registry: ModelRegistry,
    challenger: ServedModel,
    champion: ServedModel | None,
    eval_test_set: pd.DataFrame,
    rows: pd.DataFrame,
    rules: GateRules,
) -> Evidence:
    """The provenance, packaging and cost criteria of ``challenger`` on the test set (``rows``:
    its raw columns), with their figures."""
    version = challenger.version
    artifacts = registry.run_artifact_names(version)
    evidence = Evidence()

    found = lineage_evidence(registry, version, artifacts)
    evidence.criteria.append(provenance.lineage(found, rules))
    evidence.figures["lineage"] = {
        "problems": provenance.lineage_problems(found),
        "manifest_sha256": found.manifest_sha256,
        "run_artifacts": artifacts,
    }

    test_ids = eval_test_set[wf.entity.id].astype("str").tolist()
    trained_on = recorded_training_ids(registry, version, artifacts, wf.entity.id)
    evidence.criteria.append(provenance.leakage(test_ids, trained_on, rules))
    leaked = None if trained_on is None else len(set(test_ids) & set(trained_on))
    evidence.figures["leakage"] = {
        "test_entities": len(set(test_ids)),
        "training_entities": None if trained_on is None else len(set(trained_on)),
        "leaked_entities": leaked,
        "max_leaked_entities": rules.max_leaked_entities,
    }

    if rules.packaging:
        criteria, measured = packaging_evidence(wf, registry, challenger, rows, rules)
        evidence.criteria += criteria
        evidence.figures["packaging"] = measured["figures"]
        size = measured["size_bytes"]
    else:
        text = "packaging not checked (policy gate.packaging: false)"
        evidence.criteria.append(Criterion("packaging", None, None, None, text))
        evidence.figures["packaging"] = None
        size = artifact_bytes(registry, version)

    models = {"challenger": challenger, **({"champion": champion} if champion else {})}
    seconds = interleaved_seconds(wf, models, rows, rules.latency_repeats)
    ms = {name: provenance.ms_per_1000(s, len(rows)) for name, s in seconds.items()}
    evidence.criteria.append(provenance.latency(ms["challenger"], ms.get("champion"), rules))
    evidence.criteria.append(provenance.artifact_size(size, rules))
    evidence.figures["cost"] = {
        "rows": len(rows),
        "repeats": rules.latency_repeats,
        "challenger_ms_per_1000_rows": ms["challenger"],
        "champion_ms_per_1000_rows": ms.get("champion"),
        "latency_ratio": ms["challenger"] / ms["champion"] if "champion" in ms else None,
        "max_latency_ratio": rules.max_latency_ratio,
        "challenger_artifact_bytes": size,
        "champion_artifact_bytes": artifact_bytes(registry, champion.version) if champion else None,
        "max_artifact_mb": rules.max_artifact_mb,
    }
    log.info(
        "version %s: %s",
        version,
        "; ".join(f"{c.criterion} {c.passed}" for c in evidence.criteria),
    )
    return evidence


# ---------------------------------------------------------------- scoring latency in serving


class Timed:
    """A served model whose scoring time is added up (``seconds``, ``rows``): what the
    ``predictions`` asset records per serving version. Everything else is the model's own."""

    def __init__(self, served: ServedModel):
        self._served = served
        self.seconds = 0.0
        self.rows = 0

    def __getattr__(self, name):
        return getattr(self._served, name)

    def outputs(self, wf: Workflow, raw: pd.DataFrame) -> np.ndarray:
        start = time.perf_counter()
        out = self._served.outputs(wf, raw)
        self.seconds += time.perf_counter() - start
        self.rows += len(raw)
        return out

    def record(self, arm: str) -> dict:
        ms = self.seconds * 1e6 / self.rows if self.rows else None
        return {"arm": arm, "version": self.version, "rows": self.rows, "ms_per_1000_rows": ms}


# ---------------------------------------------------------------- the fresh process
