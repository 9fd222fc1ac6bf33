"""The source text of a scaffolded workflow's files, from its plan.

Written as ruff formats it (double quotes, 100 columns, sorted imports), so a generated
workflow committed as it is keeps `make lint` clean; `create.py` runs ruff format over it
as well where ruff is installed. Every inferred rule is preceded by a `# review:` comment
saying what it was inferred from.
"""

from __future__ import annotations

import json
import keyword
import re
import textwrap

import pandera.pandas as pa

from checks.contract_inference import ColumnRule
from checks.policy import GateRules
from orchestration.scaffold.plan import Plan

WIDTH = 100
MISSING = "(missing)"  # what a NULL category becomes in the features
_MODEL_NAMES = set(dir(pa.DataFrameModel))  # a field of that name would shadow pandera's own
_ANNOTATION = {
    "str": "Series[str]",
    "int": "Series[int]",
    "float": "Series[float]",
    "bool": "Series[bool]",
    "timestamp": "Series[pd.Timestamp]",
    "any": "Series",
}


def q(text: str) -> str:
    """A Python string literal in double quotes."""
    return json.dumps(text, ensure_ascii=False)


def literal(value) -> str:
    if isinstance(value, str):
        return q(value)
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(float(value))
    return repr(value)


def attribute(column: str) -> str:
    """The pandera field name of a column (an `alias` carries the real name when they differ:
    not an identifier, a keyword, or a name pandera's model already uses)."""
    name = re.sub(r"\W", "_", column).strip("_") or "column"
    if not name[0].isalpha():
        name = f"c_{name}"
    if keyword.iskeyword(name) or name in _MODEL_NAMES:
        name += "_"
    return name


def constant(column: str) -> str:
    name = attribute(column).upper()
    return f"{name}_VALUES" if name == "MISSING" else name


def review(lines: list[str] | tuple[str, ...], indent: int) -> list[str]:
    """`# review:` comments, wrapped to the line width."""
    pad = " " * indent
    out = []
    for text in lines:
        wrapped = textwrap.wrap(text, WIDTH - indent - len("# review: "), break_on_hyphens=False)
        out.append(f"{pad}# review: {wrapped[0]}")
        out += [f"{pad}#   {w}" for w in wrapped[1:]]
    return out


def _call(head: str, args: list[str], indent: int, tail: str = "") -> list[str]:
    """`head(args)tail` on one line when it fits, else one argument per line."""
    pad = " " * indent
    one = f"{pad}{head}({', '.join(args)}){tail}"
    if len(one) <= WIDTH or not args:
        return [one]
    return [f"{pad}{head}(", *[f"{pad}    {a}," for a in args], f"{pad}){tail}"]


def _list(items: list[str]) -> str:
    """A list literal on one line (the caller checks the width)."""
    return "[" + ", ".join(items) + "]"


def _text(head: str, text: str, indent: int, tail: str = ",") -> list[str]:
    """`head<string>tail`, the string cut into implicitly joined parts when too long."""
    pad = " " * indent
    one = f"{pad}{head}{q(text)}{tail}"
    if len(one) <= WIDTH:
        return [one]
    parts = textwrap.wrap(text, WIDTH - indent - 8, drop_whitespace=False)
    return [f"{pad}{head}(", *[f"{pad}    {q(p)}" for p in parts], f"{pad}){tail}"]


def _docstring(text: str, indent: int) -> list[str]:
    pad = " " * indent
    one = f'{pad}"""{text}"""'
    if len(one) <= WIDTH:
        return [one]
    wrapped = textwrap.wrap(text, WIDTH - indent - 3)
    return [f'{pad}"""{wrapped[0]}', *[f"{pad}{w}" for w in wrapped[1:]], f'{pad}"""']


def _field(rule: ColumnRule, isin: str | None, indent: int = 4) -> list[str]:
    name = attribute(rule.name)
    annotation = _ANNOTATION[rule.dtype]
    if rule.coerce:
        annotation = "Series[float]"  # NULLs make the integers float64: accepted, coerced
    args = []
    if rule.unique:
        args.append("unique=True")
    if isin is not None:
        args.append(f"isin={isin}")
    if rule.ge is not None:
        args.append(f"ge={literal(rule.ge)}")
    if rule.le is not None:
        args.append(f"le={literal(rule.le)}")
    if rule.nullable or rule.dtype == "any":
        args.append("nullable=True")
    if rule.coerce:
        args.append("coerce=True")
    if name != rule.name:
        args.append(f"alias={q(rule.name)}")
    pad = " " * indent
    if not args:
        return [f"{pad}{name}: {annotation}"]
    return _call(f"{name}: {annotation} = pa.Field", args, indent)


def _header(text: str) -> list[str]:
    """A module docstring, wrapped (the quotes count towards the width)."""
    paragraphs = text.split("\n\n")
    paragraphs[0] = '"""' + paragraphs[0]
    lines: list[str] = []
    for paragraph in paragraphs:
        lines += [*textwrap.wrap(paragraph, WIDTH, break_on_hyphens=False), ""]
    lines.pop()
    if len(lines[-1]) + 3 <= WIDTH:
        lines[-1] += '"""'
    else:
        lines.append('"""')
    return lines


def _config(name: str) -> list[str]:
    return [
        "",
        "    class Config:",
        f"        name = {q(name)}",
        "        strict = True  # an unexpected column is a schema change, not noise",
        "        coerce = False  # coercion would hide a retyped column",
    ]


# --- contracts.py -------------------------------------------------------------------------


def contracts_py(plan: Plan) -> str:
    r = plan.request
    first, last = plan.span
    lines = _header(
        f"The data contracts of workflow {r.name}, inferred by `afterlaunch init` from the "
        f"newest {plan.n_rows:,} rows of table {r.table} ({first:%Y-%m-%d} .. {last:%Y-%m-%d})."
        "\n\nReview every `# review:` line: each says what a rule was inferred from. Tighten "
        "or loosen the rule to what the source promises; the raw contract blocks a partition "
        "that breaks it."
    )
    lines += [
        "",
        "from __future__ import annotations",
        "",
        "import pandas as pd",
        "import pandera.pandas as pa",
        "from pandera.typing import Series",
        "",
    ]
    for rule in plan.categorical:
        values = [literal(v) for v in rule.isin]
        lines += review(rule.review[-1:], 0)
        one = f"{constant(rule.name)} = {_list(values)}"
        if len(one) <= WIDTH:
            lines.append(one)
        else:
            lines += [f"{constant(rule.name)} = [", *[f"    {v}," for v in values], "]"]
    lines += [f"MISSING = {q(MISSING)}  # what a NULL category becomes in the features", "", ""]
    lines += [
        "class RawContract(pa.DataFrameModel):",
        *_docstring(f"One row per {r.id} of table {r.table}, as the source holds it.", 4),
        "",
    ]
    for rule in plan.rules:
        lines += review(rule.review, 4)
        lines += _field(rule, constant(rule.name) if rule.categorical else None)
    lines += _config(f"{r.name}_raw/1")
    lines += ["", ""]
    lines += [
        "class LabelContract(pa.DataFrameModel):",
        *_docstring(f"One row per {r.label} that became known: which {r.id}, and when.", 4),
        "",
    ]
    for rule in plan.label_rules:
        isin = _list([literal(v) for v in rule.isin]) if rule.isin else None
        lines += review(rule.review, 4)
        lines += _field(rule, isin)
    lines += _config(f"{r.name}_labels/1")
    lines += ["", ""]
    lines += [
        "class FeatureContract(pa.DataFrameModel):",
        *_docstring(
            f"Feature set v1: one row per {r.id}, no NULLs (the model cannot take them).", 4
        ),
        "",
    ]
    lines += _field(ColumnRule(r.id, "str", unique=True), None)  # v1 reads the id as text
    lines += _field(ColumnRule(r.time, "timestamp"), None)
    for rule in plan.categorical:
        isin = constant(rule.name)
        if rule.nullable:
            isin = f"[*{isin}, MISSING]"
        lines += _field(ColumnRule(rule.name, "str"), isin)
    for rule in plan.numeric:
        lines += _field(ColumnRule(rule.name, "float"), None)
        if rule.nullable:
            lines += _field(ColumnRule(f"{rule.name}_missing", "float"), "[0.0, 1.0]")
    lines += _config(f"{r.name}_features/1")
    return "\n".join(lines) + "\n"


# --- features.py --------------------------------------------------------------------------


def feature_names(plan: Plan) -> tuple[list[str], list[str]]:
    categorical = [r.name for r in plan.categorical]
    numeric = []
    for rule in plan.numeric:
        numeric.append(rule.name)
        if rule.nullable:
            numeric.append(f"{rule.name}_missing")
    return categorical, numeric


def _tuple(names: list[str], head: str) -> list[str]:
    items = [q(n) for n in names]
    one = f"{head} = ({', '.join(items)}{',' if len(items) == 1 else ''})"
    if len(one) <= WIDTH:
        return [one]
    return [f"{head} = (", *[f"    {i}," for i in items], ")"]


def features_py(plan: Plan) -> str:
    r = plan.request
    categorical, numeric = feature_names(plan)
    lines = _header(
        f"The feature sets of workflow {r.name}, versioned side by side.\n\nv1, written by "
        "`afterlaunch init`, passes the typed columns through: the id and the event time, the "
        "closed categories as text, the numbers as float64, a NULL number replaced by the "
        "sample's median beside a `<column>_missing` flag. Free-text columns are not features. "
        "The same function serves training and scoring. Each version's definitions hash is "
        "pinned in `features.lock.json`: to change the features, add v2 beside v1 and run "
        f"`afterlaunch feature-lock --workflow {r.name}`."
    )
    nullable_categories = any(rule.nullable for rule in plan.categorical)
    imports = ["FeatureContract", *(["MISSING"] if nullable_categories else [])]
    lines += [
        "",
        "from pathlib import Path",
        "",
        "import pandas as pd",
        "",
        "from assets.feature_sets import FeatureSet, FeatureSets",
        f"from workflows.{r.name}.contracts import {', '.join(imports)}",
        "",
    ]
    lines += _tuple(categorical, "CATEGORICAL")
    lines += _tuple(numeric, "NUMERIC")
    if plan.fills:
        lines += review(
            ["a NULL number becomes the sample's median (its `_missing` flag says it was NULL)"],
            0,
        )
        items = [f"{q(k)}: {literal(v)}" for k, v in plan.fills.items()]
        one = "FILL = {" + ", ".join(items) + "}"
        lines += [one] if len(one) <= WIDTH else ["FILL = {", *[f"    {i}," for i in items], "}"]
    lines += [
        "",
        "",
        "def v1(raw: pd.DataFrame) -> pd.DataFrame:",
        *_docstring(f"Raw rows -> {r.id}, {r.time} and the v1 features.", 4),
        "    features = pd.DataFrame(",
        "        {",
        f'            {q(r.id)}: raw[{q(r.id)}].astype("str"),',
        f'            {q(r.time)}: pd.to_datetime(raw[{q(r.time)}]).astype("datetime64[ns]"),',
    ]
    for rule in plan.categorical:
        text = f'raw[{q(rule.name)}].astype("str")' + (".fillna(MISSING)" if rule.nullable else "")
        lines.append(f"            {q(rule.name)}: {text},")
    for rule in plan.numeric:
        value = f'raw[{q(rule.name)}].astype("float64")'
        if rule.nullable:
            value += f".fillna(FILL[{q(rule.name)}])"
        lines.append(f"            {q(rule.name)}: {value},")
        if rule.nullable:
            flag = f'raw[{q(rule.name)}].isna().astype("float64")'
            lines.append(f"            {q(rule.name + '_missing')}: {flag},")
    lines += [
        "        },",
        "        index=raw.index,",
        "    )",
        "    return features.reset_index(drop=True)",
        "",
        "",
        "FEATURE_SETS = FeatureSets(",
        f"    workflow={q(r.name)},",
        '    current="1",',
        "    sets=[",
        "        FeatureSet(",
        '            "1",',
        "            v1,",
        "            categorical=CATEGORICAL,",
        "            numeric=NUMERIC,",
        "            contract=FeatureContract,",
        '            description="the typed columns passed through; a NULL number becomes the "',
        '            "sample\'s median beside a missing flag",',
        "        )",
        "    ],",
        '    lock_file=Path(__file__).with_name("features.lock.json"),',
        ")",
    ]
    return "\n".join(lines) + "\n"


# --- workflow.py --------------------------------------------------------------------------


def slice_name(column: str, value: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", f"{column}_{value}".lower()).strip("_")


def workflow_py(plan: Plan) -> str:
    r = plan.request
    binary = plan.task.kind == "binary"
    task_class = "BinaryClassification" if binary else "Regression"
    families = "CLASSIFIERS" if binary else "REGRESSORS"
    noun = "whether" if binary else "the"
    lines = _header(
        f"Workflow {r.name}: a model predicting {noun} {r.label} of each {r.id} of table "
        f"{r.table}, declared by `afterlaunch init` from a sample of {plan.n_rows:,} rows."
        "\n\nReview every `# review:` line (here, in contracts.py and in policy.yaml): each "
        "says what a choice was inferred from. Then say what the model decides in "
        "`description`, and who the owners are."
    )
    lines += [
        "",
        "from pathlib import Path",
        "",
        "import numpy as np",
        "import pandas as pd",
        "",
        f"from assets.model_family import {families}",
        "from assets.partitions import Partitioning",
        "from assets.workflow import Contracts, Entity, Fallback, Label, Owners, Slice, Source, "
        "Workflow",
        f"from checks.tasks import {task_class}",
        f"from workflows.{r.name}.contracts import LabelContract, RawContract",
        f"from workflows.{r.name}.features import FEATURE_SETS",
        "",
        "HERE = Path(__file__).resolve().parent",
        "",
    ]
    lines += review(
        [
            "one slice per category value holding 10% to 50% of the sampled rows, the rarest "
            "first, at most two per column and five in all: kinds of row the gate must not let "
            "a new model get worse on. Add the ones your domain knows are hard."
        ],
        0,
    )
    if plan.slices:
        lines.append("SLICES = (")
        for s in plan.slices:
            args = [
                q(slice_name(s.column, s.value)),
                q(f"{s.column} = {s.value} ({s.share:.0%} of the sample)"),
                f"lambda df: df[{q(s.column)}] == {q(s.value)}",
            ]
            lines += _call("Slice", args, 4, ",")
        lines.append(")")
    else:
        lines.append("SLICES = ()")
    if binary:
        served = f"the sample's majority class ({plan.fallback:g})"
    else:
        served = f"the sample's median {r.label} ({plan.fallback:g})"
    lines += [
        "",
        "",
        "def _fallback(raw: pd.DataFrame) -> np.ndarray:",
        *_docstring(f"What serves when the model is switched off: {served}.", 4),
        f"    return np.full(len(raw), {literal(plan.fallback)})",
        "",
        "",
        "WORKFLOW = Workflow(",
        f"    name={q(r.name)},",
    ]
    description = (
        f"Predicts {r.label} for each {r.id} (scaffolded by afterlaunch init: say what it decides)."
    )
    lines += _text("description=", description, 4)
    lines += review(["who hears about data checks, model checks and the business answers"], 4)
    lines += _call(
        "owners=Owners",
        [
            f"data_engineer={q(r.data_engineer)}",
            f"model_owner={q(r.model_owner)}",
            f"domain_owner={q(r.domain_owner)}",
        ],
        4,
        ",",
    )
    lines += review([f"start: {plan.start_review}"], 4)
    lines.append(
        f"    partitions=Partitioning({q(plan.partitions.cadence)}, "
        f"start={q(plan.partitions.start)}),"
    )
    source = [
        'layout="event_time"',
        f"table={q(r.table)}",
        f"labels_table={q(r.labels_table)}",
        f"url_env={q(r.url_env)}",
    ]
    excluded = [c for c in (r.label, r.label_time) if c and r.labels_in_rows]
    if excluded:
        one = "," if len(excluded) == 1 else ""  # a trailing comma would make ruff explode it
        source.append(f"exclude=({', '.join(q(c) for c in excluded)}{one})")
        lines += review(
            [
                f"{' and '.join(excluded)}: kept beside the rows in {r.table}, never read as "
                "raw input (the outcome would leak into the features)"
            ],
            4,
        )
    lines += _call("source=Source", source, 4, ",")
    lines.append(f"    entity=Entity(id={q(r.id)}, event_time={q(r.time)}),")
    lines += review([f"max_lag_days: {plan.lag_review}"], 4)
    known = q(r.label_time) if r.label_time else "None"
    lines.append(
        f"    label=Label(column={q(r.label)}, known_at={known}, max_lag_days={plan.lag_days}),"
    )
    lines += [
        "    contracts=Contracts(raw=RawContract, labels=LabelContract),",
        "    feature_sets=FEATURE_SETS,",
    ]
    if binary:
        lines += review(
            [f"{plan.task.review}; 0.5: a probability at or above it is a yes"],
            4,
        )
        lines.append("    task=BinaryClassification(threshold=0.5),")
    else:
        tolerance, why = plan.tolerance
        lines += review([f"tolerance: {why}"], 4)
        lines.append(f"    task=Regression(tolerance={literal(tolerance)}),")
    lines += [
        f"    model_families={families},",
        "    slices=SLICES,",
        *_call("fallback=Fallback", [q(served), "_fallback"], 4, ","),
    ]
    if plan.segments:
        lines += review(["the closed-category columns results are broken down by"], 4)
        segs = ", ".join(q(s) for s in plan.segments) + ("," if len(plan.segments) == 1 else "")
        lines.append(f"    segments=({segs}),")
    lines += ['    policy_file=HERE / "policy.yaml",', ")"]
    return "\n".join(lines) + "\n"


# --- policy.yaml, definitions.py, __init__.py -----------------------------------------------


def _yaml_value(value) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)  # YAML reads JSON; flow style for mappings and lists


def policy_yaml(plan: Plan, version: str) -> str:
    r = plan.request
    per = f"{plan.rows_per_partition:,.0f}"
    head = (
        f"Policy of workflow {r.name} over the engine's defaults (checks/policy.py), written by "
        f"afterlaunch init for about {per} rows a {plan.partitions.cadence} partition in the "
        f"sample ({plan.labelled_share:.0%} of them labelled). A deployment's home may override "
        f"it again in <home>/workflows/{r.name}/policy.yaml.\n\nThe label lag, "
        f"{plan.lag_days} day(s) ({plan.lag_review}), is not set here: it lives in workflow.py, "
        "Label(max_lag_days=...), where the training cut-off, the label check, the readiness "
        "windows and the rollout length read it."
    )
    lines = []
    for paragraph in head.split("\n\n"):
        lines += ["# " + w for w in textwrap.wrap(paragraph, WIDTH - 2, break_on_hyphens=False)]
        lines.append("#")
    if plan.task.kind == "binary":
        floors = ", ".join(f"{k} {v:g}" for k, v in GateRules().floors.items())
        note = (
            f"the gate holds a first model to the engine's classifier floors ({floors}; "
            "log_loss and ece are ceilings): set gate.floors to what your model must meet"
        )
    else:
        note = (
            "a regression's gate has no floors by default: set gate.floors (mae, rmse are "
            "ceilings) once you know what error is acceptable"
        )
    wrapped = textwrap.wrap(note, WIDTH - 10)
    lines += [f"# review: {wrapped[0]}", *[f"#   {w}" for w in wrapped[1:]]]
    lines.append(f"version: {version}")
    for section, fields in plan.policy.items():
        lines.append(f"{section}:")
        for key, (value, why) in fields.items():
            if why:
                lines += ["  # " + w for w in textwrap.wrap(why, WIDTH - 4)]
            lines.append(f"  {key}: {_yaml_value(value)}")
    return "\n".join(lines) + "\n"


def definitions_py(plan: Plan) -> str:
    name = plan.request.name
    return (
        f'"""Workflow {name}\'s Dagster code location (listed in workspace.yaml)."""\n\n'
        "from orchestration.definitions import build_definitions\n"
        f"from workflows.{name}.workflow import WORKFLOW\n\n"
        "defs = build_definitions(WORKFLOW)\n"
    )


def render(plan: Plan, policy_version: str) -> dict[str, str]:
    """File name -> text, for every file of the workflow's folder but the lock file (the
    feature sets pin themselves once their module can be imported)."""
    return {
        "__init__.py": "",
        "contracts.py": contracts_py(plan),
        "features.py": features_py(plan),
        "workflow.py": workflow_py(plan),
        "policy.yaml": policy_yaml(plan, policy_version),
        "definitions.py": definitions_py(plan),
    }
