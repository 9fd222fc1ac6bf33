"""A staged pipeline as a workflow's task: a model that is a configuration of stages (retrieve,
rank, generate, validate, ...) rather than one fitted estimator.

The engine serves it, measures every stage per example, gates a challenger stage by stage and
rolls it out like any model. The workflow supplies the code that knows its columns: a
:class:`PipelineComponent`. The deployed "model" is the component's configuration (a JSON
object) registered in MLflow beside the context it was deployed on (the knowledge base its
index was built from) and a prompt template kept in MLflow's prompt registry.

Per-example arrays are the common currency: ``stage_arrays`` returns ``{stage: {metric:
array}}`` with one value per served row (NaN: not judged for that row), so each stage metric
is bootstrappable and the paired gate compares champion and challenger row by row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd

from checks.stage_gate import StageSpec

KIND = "staged_pipeline"


class PipelineComponent(Protocol):
    """The workflow's pipeline code, as the engine calls it. Frames are the workflow's own;
    the engine only reads the columns named by the attributes below."""

    prompt_name: str  # the prompt's name in MLflow's prompt registry
    input_text: str  # column of the raw rows the pipeline answers (text drift)
    input_categories: str | None  # a closed-list column of the raw rows (topic mix), or None
    output_text: str  # column of the served frame holding the output text
    error_column: str  # column of the served frame: None, or why this row failed
    offered_column: str  # column of the served frame: True when the output was shown

    def launch_config(self) -> dict:
        """The first version's configuration (JSON-able; holds its prompt template)."""

    def config_hash(self, config: Mapping) -> str:
        """A stable content hash of a configuration."""

    def describe(self, config: Mapping) -> dict[str, str]:
        """Flat, short strings naming the configuration's parts (MLflow params and tags)."""

    def prompt_template(self, config: Mapping) -> str: ...

    def with_prompt(self, config: Mapping, template: str, prompt_version: str) -> dict:
        """The configuration with another prompt (a challenger's); raises ValueError naming
        the problem when the template cannot serve (a required field missing)."""

    def context(self, source_url: str, as_of: date) -> pd.DataFrame:
        """The context the pipeline answers from (a knowledge base) as the source has it at
        the end of ``as_of``: what a version is deployed on and what "now" is judged against."""

    def deploy(self, config: Mapping, context: pd.DataFrame) -> Any:
        """A servable pipeline: the configuration on this context (its index built)."""

    def serve(self, deployed: Any, rows: pd.DataFrame, day: date, source_url: str) -> pd.DataFrame:
        """One output row per input row, in order. A row that fails (a generator error, a
        timeout) is recorded in ``error_column`` and never raises: the others are served."""

    def stage_arrays(
        self, served: pd.DataFrame, rows: pd.DataFrame, context_now: pd.DataFrame
    ) -> dict[str, dict[str, np.ndarray]]:
        """Per stage, per metric, one value per served row (NaN: not judged), for every stage
        but the end-to-end one (its label comes later: :meth:`task_success`)."""

    def task_success(self, served: pd.DataFrame, labels: pd.DataFrame) -> np.ndarray:
        """Per served row: 1.0 / 0.0 from the label (a person's verdict), NaN when none is
        known yet or the row was not shown."""

    def labels(self, source_url: str, known_by: date) -> pd.DataFrame:
        """The labels the source holds, known by the end of ``known_by``."""

    def slices(self, rows: pd.DataFrame) -> dict[str, np.ndarray]:
        """Named boolean masks over the raw rows: the gate's slice guard."""

    def review_items(self, served: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
        """For the hallucination review: columns ``item_id, question, output, context,
        faithfulness`` (one row per served row, in order)."""


@dataclass(frozen=True)
class StagedPipeline:
    """The task of a workflow whose model is a staged pipeline."""

    stages: Sequence[StageSpec]
    component: PipelineComponent
    end_to_end: str = "end_to_end"  # the stage whose metric is task success from labels

    kind: ClassVar[str] = KIND
    success_metric: ClassVar[str] = "task_success"
    metric_names: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique, got {names}")
        if self.end_to_end not in names:
            raise ValueError(f"the end-to-end stage {self.end_to_end!r} is not among {names}")

    @property
    def default_policy(self) -> dict:
        return {}

    def stage(self, name: str) -> StageSpec:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"no stage {name!r}; stages: {[s.name for s in self.stages]}")


def is_pipeline(task: object) -> bool:
    return getattr(task, "kind", None) == KIND
