"""`afterlaunch init`: refuse with one sentence and nothing written, or write the whole
workflow folder, pin its feature set, list its code location, and say what to type next."""

from __future__ import annotations

import importlib
import logging
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from assets.partitions import naive
from checks.contract import validate_against
from orchestration.scaffold import workspace
from orchestration.scaffold.plan import Plan, build_plan
from orchestration.scaffold.render import render
from orchestration.scaffold.request import InitRefused, InitRequest
from orchestration.scaffold.sample import Sample, read_sample
from resources.source import mask_url

log = logging.getLogger("afterlaunch")
PROJECT = Path(__file__).resolve().parents[2]  # beside workspace.yaml


def _package():
    package = importlib.import_module("workflows")
    package.extend_search_path()
    return package


def _refuse_existing(request: InitRequest) -> None:
    if request.folder.exists():
        raise InitRefused(
            f"a workflow {request.name} already exists ({request.folder}): choose another name"
        )
    if not request.workspace.is_file():
        raise InitRefused(f"--workspace {request.workspace} is not a file")
    if workspace.listed(request.workspace, request.name):
        raise InitRefused(
            f"workflow {request.name} is already listed in {request.workspace}: choose another "
            "name, or remove its entry"
        )
    found = [Path(p) / request.name for p in _package().__path__]
    taken = [p for p in found if (p / "workflow.py").exists()]
    if taken:
        raise InitRefused(f"a workflow {request.name} already exists ({taken[0]})")


def _refuse_featureless(plan: Plan) -> None:
    if not plan.categorical and not plan.numeric:
        raise InitRefused(
            f"table {plan.request.table} has no column a model can learn from: no numeric "
            f"column and no text column with a closed list of values besides {plan.request.id}"
        )


def _ruff() -> str | None:
    found = shutil.which("ruff")
    beside = Path(sys.executable).with_name("ruff")
    return found or (str(beside) if beside.exists() else None)


def _format(folder: Path) -> None:
    """ruff format, with the project's settings, where ruff is installed (the text is
    written formatted already; this keeps it so whatever ruff's version)."""
    ruff = _ruff()
    if ruff is None:
        return
    config = PROJECT / "pyproject.toml"
    command = [ruff, "format", "--quiet", *(["--config", str(config)] if config.exists() else [])]
    result = subprocess.run(
        [*command, *sorted(str(p) for p in folder.glob("*.py"))],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        log.warning("ruff format left the generated files as written: %s", result.stderr.strip())


def _write(request: InitRequest, files: dict[str, str]) -> Path:
    """Write into a scratch folder beside the target, then move it into place whole."""
    request.into.mkdir(parents=True, exist_ok=True)
    scratch = request.into / f".{request.name}.init-tmp"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        for name, text in files.items():
            (scratch / name).write_text(text)
        _format(scratch)
        scratch.rename(request.folder)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return request.folder


def _forget(name: str) -> None:
    for module in [
        m for m in sys.modules if m == f"workflows.{name}" or m.startswith(f"workflows.{name}.")
    ]:
        del sys.modules[module]


def _load_and_pin(request: InitRequest, sample: Sample):
    """Import the new package, pin its feature set, and hold the contracts to the sample they
    came from (a rule that rejects its own sample is a bug here, not a finding)."""
    from orchestration.definitions import workflow_policy

    package = _package()
    into = str(request.into.resolve())
    if into not in package.__path__:
        package.__path__.append(into)  # this process only; the printed export does the rest
    importlib.invalidate_caches()
    try:
        features = importlib.import_module(f"workflows.{request.name}.features")
        features.FEATURE_SETS.pin_all_current()
        wf = importlib.import_module(f"workflows.{request.name}.workflow").WORKFLOW
        workflow_policy(wf)
    except (ImportError, ValueError, TypeError) as err:
        raise InitRefused(
            f"the generated workflow does not load ({type(err).__name__}: {err}): a bug in "
            "afterlaunch init; nothing was kept"
        ) from None
    fs = wf.feature_sets.current_set
    checks = [
        (wf.contracts.raw, sample.rows),
        (wf.contracts.labels, sample.labels),
        (fs.contract, fs.features(sample.rows)),
    ]
    for contract, frame in checks:
        report = validate_against(contract, frame)
        if not report.passed:
            raise InitRefused(
                f"the generated contract rejects its own sample ({report.summary()}): a bug in "
                "afterlaunch init; nothing was kept"
            )
    return wf


def init_workflow(request: InitRequest, now: datetime) -> list[str]:
    """Scaffold the workflow; returns the lines to print. Raises InitRefused (a SystemExit)
    with nothing written."""
    request.check()
    _refuse_existing(request)
    sample = read_sample(request)
    plan = build_plan(request, sample, naive(now))
    _refuse_featureless(plan)
    version = f"{request.name.replace('_', '-')}-init-{naive(now):%Y.%m.%d}"
    searched = str(request.into.resolve()) in _package().__path__  # before this process adds it
    folder = _write(request, render(plan, version))
    try:
        _load_and_pin(request, sample)
        workspace.append_location(request.workspace, request.name)
    except BaseException:
        _forget(request.name)
        shutil.rmtree(folder, ignore_errors=True)
        raise
    log.info("wrote %s and listed it in %s", folder, request.workspace)
    return summary(plan, searched)


def _export(request: InitRequest) -> str:
    masked = mask_url(request.source_url)
    hint = "   # your password in place of ***" if masked != request.source_url else ""
    return f"export {request.url_env}='{masked}'{hint}"


def summary(plan: Plan, searched: bool) -> list[str]:
    """What was inferred, what to review, and the commands to type next."""
    r = plan.request
    first, last = plan.span
    closed = ", ".join(f"{c.name} ({len(c.isin)})" for c in plan.categorical) or "none"
    nullable = ", ".join(c.name for c in plan.rules if c.nullable) or "none"
    free = [c.name for c in plan.rules if c.dtype == "str" and not c.categorical]
    free = [c for c in free if c != r.id]
    task = plan.task.kind
    if plan.tolerance:
        task += f" (tolerance {plan.tolerance[0]:g})"
    lines = [
        f"wrote {r.folder}/: __init__.py, contracts.py, features.py, features.lock.json, "
        "workflow.py, policy.yaml, definitions.py",
        f"listed code location {r.name} in {r.workspace}",
        "",
        f"inferred from the newest {plan.n_rows:,} rows of {r.table} "
        f"({first:%Y-%m-%d %H:%M} .. {last:%Y-%m-%d %H:%M}) in {mask_url(r.source_url)}:",
        f"  task        {task}: {plan.task.review}",
        f"  label lag   {plan.lag_days} day(s): {plan.lag_review}",
        f"  contract    {len(plan.rules)} columns; closed lists: {closed}; nullable: {nullable}"
        + (f"; free text (not features): {', '.join(free)}" if free else ""),
        f"  slices      {', '.join(f'{s.column}={s.value}' for s in plan.slices) or 'none'}",
        f"  partitions  {plan.partitions.cadence} from {plan.partitions.start}, about "
        f"{plan.rows_per_partition:,.0f} rows each",
    ]
    lines += [f"NOTE: {n}" for n in plan.notes]
    start, end = plan.history
    after = plan.partitions.shift(end, 1)
    w = f"--workflow {r.name}"
    lines += ["", "next:", f"  {_export(r)}"]
    if not searched:
        lines.append(f"  export AFTERLAUNCH_WORKFLOW_PATH={r.into.resolve()}")
    lines += [
        f"  review {r.folder / 'contracts.py'}: every '# review:' line says what a rule was "
        "inferred from (and workflow.py, policy.yaml)",
        f"  afterlaunch ingest {w} --raw-only --start {start} --end {end} --create",
        f"  afterlaunch reference {w} --end {end}",
        f"  afterlaunch draw-test-set {w} --end {end}",
        f"  afterlaunch train {w} --end {end}",
        f"  afterlaunch ingest {w} --score --start {after}   # a new partition: checks, drift, "
        "scores, readiness",
        "  afterlaunch ui   # or turn on daily_production_schedule: it does so for each one",
        *(
            []
            if r.workspace.resolve() == (PROJECT / "workspace.yaml").resolve()
            else [
                f"    (afterlaunch ui opens the project's workspace.yaml; this one: {r.workspace})"
            ]
        ),
        f"  afterlaunch weekly {w}",
        f"  afterlaunch status {w}",
    ]
    return lines
