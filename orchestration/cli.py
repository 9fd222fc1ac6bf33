"""`afterlaunch`: the command line. Every command takes --home DIR."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

from orchestration.home import SourceUrlMissing, activate, resolve_home

log = logging.getLogger("afterlaunch")


def _workflow(args: argparse.Namespace):
    from orchestration.catalog import choose

    return choose(getattr(args, "workflow", None))


def _activate(args: argparse.Namespace):
    """The home and the chosen workflow, with this process pointed at both."""
    wf = _workflow(args)
    return _home(args, wf), wf


def _home(args: argparse.Namespace, wf=None):
    """The home, activated: a folder that is not one yet is refused unless --create says to
    make it (a mistyped --home would otherwise start an empty home and act on it)."""
    return activate(resolve_home(args.home), wf, create=args.create)


def _days(start: str, end: str | None) -> list[str]:
    first = date.fromisoformat(start)
    last = date.fromisoformat(end) if end else first
    if last < first:
        raise SystemExit(f"--end {last} lies before --start {first}")
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def cmd_demo(args: argparse.Namespace) -> int:
    from assets.pipeline_task import is_pipeline
    from orchestration.demo import run_demo, summary_lines
    from orchestration.scenario import load_scenario

    home = resolve_home(args.home)
    wf = _workflow(args)
    if wf.simulation is None:
        raise SystemExit(f"workflow {wf.name} has no simulation to run a demo on")
    scenario = load_scenario(wf.simulation, args.scenario, days=args.days, seed=args.seed)
    if is_pipeline(wf.task):
        from orchestration import pipeline_demo

        outcome = pipeline_demo.run_pipeline_demo(home, scenario, wf, json_path=args.json)
        print("\n".join(pipeline_demo.summary_lines(outcome)))
    else:
        result = run_demo(home, scenario, wf, json_path=args.json)
        print("\n".join(summary_lines(result)))
    print(f"\nhome: {home.root}\nopen the Dagster UI on it: afterlaunch ui --home {home.root}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from orchestration.scenario import load_scenario
    from resources.masking import mask

    home, wf = _activate(args)
    if wf.simulation is None:
        raise SystemExit(f"workflow {wf.name} has no simulated source")
    scenario = load_scenario(wf.simulation, args.scenario) if args.scenario else None
    incidents = scenario.incidents if scenario else []
    days = _days(args.start, args.end)
    url = home.source_url_for(wf)
    first, last = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    wf.simulation.write_source(url, args.seed, first, last, incidents)
    log.info("wrote %d days of %s source data to %s", len(days), wf.name, mask(url, url))
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    home, wf = _activate(args)
    from dagster import DagsterInstance

    from orchestration.catalog import definitions
    from orchestration.runner import run_job

    instance = DagsterInstance.get()
    if args.raw_only and args.score:
        raise SystemExit("--raw-only and --score exclude each other: a raw snapshot is not scored")
    # --score: the whole production day, as daily_production_schedule runs it.
    job = (
        "raw_ingestion"
        if args.raw_only
        else "daily_production"
        if args.score
        else "daily_ingestion"
    )
    parts = wf.partitions
    first = date.fromisoformat(args.start)
    last = date.fromisoformat(args.end) if args.end else first
    if last < first:
        raise SystemExit(f"--end {last} lies before --start {first}")
    from datetime import datetime

    days = parts.keys_between(
        datetime.combine(first, datetime.min.time()), datetime.combine(last, datetime.min.time())
    )
    defs = definitions(wf)
    selected = defs.resolve_job_def(job).asset_layer.selected_asset_keys
    assets = sorted("/".join(k.path[1:]) for k in selected)
    codes = set()
    for number, key in enumerate(days, 1):
        outcome = run_job(defs, instance, job, key)
        for check in outcome.checks:
            if check.level != "ok":
                print(f"{key} {check.check:<24} {check.level.upper():<5} {check.description}")
        code, verdict = _ingest_verdict(outcome, assets)
        if verdict:
            print(f"{key} {verdict}")
        log.info("%d/%d %s %s", number, len(days), key, "ok" if outcome.success else "FAILED")
        codes.add(code)
    log.info("home: %s", home.root)
    # A step's error outranks a stop by the data checks: it says the run itself broke.
    return EXIT_STEP_FAILED if EXIT_STEP_FAILED in codes else max(codes, default=0)


# `afterlaunch ingest` exit codes (2 is argparse's, for a mistyped command line).
EXIT_STEP_FAILED = 1  # a step failed by error (no batch landed, the source unreadable, ...)
EXIT_BLOCKED = 3  # the data checks failed with ERROR: nothing downstream was built


def _ingest_verdict(outcome, assets: list[str]) -> tuple[int, str]:
    """The exit code of one partition's run of the job building `assets` and, when not 0,
    the sentence that says why."""
    if outcome.success:
        return 0, ""
    if outcome.step_errors:
        errors = "; ".join(f"{step}: {reason}" for step, reason in outcome.step_errors.items())
        return EXIT_STEP_FAILED, f"FAILED (exit {EXIT_STEP_FAILED}): {errors}"
    stopped = sorted({c.check for c in outcome.checks if c.level == "error"})
    unbuilt = ", ".join(a for a in assets if a not in outcome.materialized) or "none"
    return EXIT_BLOCKED, (
        f"BLOCKED (exit {EXIT_BLOCKED}): ERROR {', '.join(stopped) or 'check'} stopped what is "
        f"downstream; not built: {unbuilt}"
    )


def cmd_reference(args: argparse.Namespace) -> int:
    return _run(args, "reference_refresh", {"reference_profile": {"end_date": args.end}})


def _registry(home, wf):
    from orchestration.home import registry_for

    return registry_for(home, wf)


def _store(home, wf):
    from resources.snapshots import SnapshotStore, snapshot_root

    return SnapshotStore(snapshot_root(home.root, wf.name))


def cmd_train(args: argparse.Namespace) -> int:
    return _run(
        args,
        "train_challenger",
        {
            "training_set": {"end_date": args.end},
            "challenger_model": {"change_summary": args.summary},
        },
    )


def cmd_retrain(args: argparse.Namespace) -> int:
    """The emergency path: retrain now, with the reason recorded as the change summary; then
    judge the new challenger at once (the challenger sensor would, if the daemon runs)."""
    reason = args.reason.strip()
    if not reason:
        raise SystemExit("--reason must say why (it becomes the model's change summary)")
    from resources.approvals import acting_person

    actor = acting_person()
    code = _run(
        args,
        "emergency_retraining",
        {
            "training_set": {"end_date": args.end},
            "challenger_model": {"change_summary": f"EMERGENCY: {reason}", "actor": actor},
        },
        tags={"afterlaunch/trigger": "emergency", "afterlaunch/reason": reason[:250]},
    )
    if code != 0 or args.no_evaluate:
        return code
    return _run(args, "evaluate_challenger", tags={"afterlaunch/trigger": "emergency"})


def cmd_reproduce(args: argparse.Namespace) -> int:
    from orchestration.reproduce import reproduce

    home, wf = _activate(args)
    result = reproduce(wf, args.version, _registry(home, wf), _store(home, wf))
    verdict = "reproduced exactly" if result.identical else "NOT reproduced"
    print(
        f"version {result.version}: {verdict} on {result.rows} rows "
        f"(largest difference in probability {result.max_abs_difference:.3g})"
    )
    return 0 if result.identical else 1


def cmd_explain(args: argparse.Namespace) -> int:
    from orchestration.explain import run_cli

    home, wf = _activate(args)
    return run_cli(args, home, wf)


def cmd_diff(args: argparse.Namespace) -> int:
    from orchestration.diff import run_cli

    home, wf = _activate(args)
    return run_cli(args, home, wf)


def _run(
    args: argparse.Namespace, job: str, ops: dict | None = None, tags: dict | None = None
) -> int:
    _, wf = _activate(args)
    from dagster import DagsterInstance

    from orchestration.catalog import definitions
    from orchestration.runner import run_job

    config = (
        {"ops": {wf.op(asset): {"config": c} for asset, c in (ops or {}).items()}} if ops else None
    )
    jobs = {j.name for j in definitions(wf).resolve_all_job_defs()}
    if job not in jobs:
        from assets.pipeline_task import is_pipeline

        kind = (
            "a staged pipeline (its commands: propose, rollback, status, review-samples, demo)"
            if is_pipeline(wf.task)
            else "a trained model"
        )
        raise SystemExit(f"workflow {wf.name} has no {job} job: it is {kind}")
    instance = DagsterInstance.get()
    outcome = run_job(definitions(wf), instance, job, None, run_config=config, tags=tags)
    for check in outcome.checks:
        print(f"{check.check:<24} {check.level.upper():<5} {check.description}")
    _print_materializations(instance, outcome.run_id)
    return 0 if outcome.success else 1


# What a person wants to read after each kind of run, from the run's own materializations.
_SUMMARY_KEYS = {
    "challenger_model": ["model_version", "alias_move_summary"],
    "challenger_evaluation": ["summary", "reasons"],
    "champion": ["summary"],
    "baseline_metrics": ["champion_version", "test_set_version"],
    "weekly_evaluation": ["task_success_this_week", "task_success_baseline"],
    "eval_test_set": ["eval_set_version", "dagster/row_count"],
    "rollout": ["summary"],
    "serving_flags": ["summary"],
    "pipeline_challenger": ["version", "prompt_uri", "change_summary"],
    "pipeline_gate": ["verdict", "action", "failing_thresholds"],
    "pipeline_rollback": ["from_version", "to_version", "prompt"],
}


def _print_materializations(instance, run_id: str) -> None:
    for record in instance.get_records_for_run(run_id).records:
        event = record.event_log_entry.dagster_event
        if not (event and event.is_step_materialization):
            continue
        materialization = event.step_materialization_data.materialization
        asset = materialization.asset_key.path[-1]
        for key in _SUMMARY_KEYS.get(asset, []):
            if key in materialization.metadata:
                value = materialization.metadata[key].value
                print(f"{asset}: {key}: {value}")


def _champion_summary(args: argparse.Namespace) -> None:
    home, wf = resolve_home(args.home), _workflow(args)
    registry = _registry(home, wf)
    print(
        f"champion: {registry.version_for_alias('champion')}, "
        f"previous: {registry.version_for_alias('previous')}"
    )


def _change_champion(args: argparse.Namespace, action: str, **config) -> int:
    """One run of change_champion that expects the champion serving when the command started
    (or `--expect-champion`): a change made meanwhile by someone else fails it, naming the
    champion found, instead of being silently undone."""
    from assets.decisions import NO_CHAMPION

    expected = args.expect_champion
    if expected is None:
        home, wf = _activate(args)
        expected = _registry(home, wf).version_for_alias("champion") or NO_CHAMPION
    log.info("%s expects @champion=%s", action, expected)
    from resources.approvals import acting_person

    # Named here, so the run records the person at this terminal wherever it executes.
    change = {"action": action, "reason": args.reason, "actor": acting_person(args.actor)}
    change.update(config)
    status = _run(args, "change_champion", {"champion": {**change, "expected_champion": expected}})
    _champion_summary(args)
    return status


EXPECT_HELP = (
    "the champion this decision replaces ('none': no champion yet); default: the one serving "
    "when the command starts. Another found under the lock refuses the change"
)


def cmd_promote(args: argparse.Namespace) -> int:
    _adopt_outside_move(args)
    return _change_champion(args, "promote", version=args.version)


def _adopt_outside_move(args: argparse.Namespace) -> None:
    """An @champion moved outside Afterlaunch to VERSION is adopted only through the gate: the
    audited aliases are put back first (recorded), then the normal promotion decides; a
    refusal leaves them audited."""
    from assets.alias_guard import alias_state, revert_aliases
    from checks.alias_audit import MOVED
    from resources.approvals import acting_person
    from resources.storage import HomeStorage

    home, wf = _activate(args)
    registry = _registry(home, wf)
    lock = HomeStorage(home=str(home.root), workflow=wf.name).lock_path
    finding, _ = alias_state(registry, lock)
    moved = [m for m in finding.moves if m.alias == "champion" and m.found == str(args.version)]
    if finding.status != MOVED or not moved:
        return
    reverted = revert_aliases(
        registry,
        lock_path=lock,
        actor=acting_person(args.actor),
        reason=f"adopting version {args.version} through the gate (afterlaunch promote)",
    )
    if reverted is not None:
        print(
            f"@champion was moved outside Afterlaunch to {args.version}: put back to the "
            f"audited {reverted.audited_champion}; the gate now decides on {args.version}"
        )


def cmd_revert_aliases(args: argparse.Namespace) -> int:
    """Put @champion and @previous back to what the audit trail records (after a move in the
    MLflow UI or API), under the promotion lock, recording who did it."""
    from assets.alias_guard import revert_aliases
    from assets.promotion import PromotionError
    from resources.approvals import acting_person
    from resources.storage import HomeStorage

    home, wf = _activate(args)
    try:
        reverted = revert_aliases(
            _registry(home, wf),
            lock_path=HomeStorage(home=str(home.root), workflow=wf.name).lock_path,
            actor=acting_person(args.actor),
            reason=args.reason,
        )
    except PromotionError as exc:
        raise SystemExit(f"revert-aliases refused: {exc}") from exc
    if reverted is None:
        print("the aliases already name what the audit trail records: nothing to revert")
    else:
        print(
            "reverted: " + ", ".join(f"@{m.alias} {m.found} -> {m.audited}" for m in reverted.moves)
        )
    _champion_summary(args)
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from assets.pipeline_task import is_pipeline

    if is_pipeline(_workflow(args).task):  # the champion's configuration and prompt aliases
        from resources.approvals import acting_person

        change = {
            "reason": args.reason,
            "to_version": args.to or "",
            "actor": acting_person(args.actor),
        }
        status = _run(args, "pipeline_rollback", {"pipeline_rollback": change})
        _champion_summary(args)
        return status
    return _change_champion(args, "rollback", to_version=args.to)


def cmd_propose(args: argparse.Namespace) -> int:
    """A new version of a staged pipeline: the champion's configuration with the prompt of
    --prompt-file, or (without it) re-deployed on today's context; the stage gate then judges
    it and a pass starts its rollout in shadow."""
    from assets.pipeline_task import is_pipeline
    from resources.approvals import acting_person

    wf = _workflow(args)
    if not is_pipeline(wf.task):
        raise SystemExit(
            f"workflow {wf.name} trains models: register a challenger with `afterlaunch retrain`"
        )
    template = ""
    if args.prompt_file:
        path = Path(args.prompt_file)
        if not path.is_file():
            raise SystemExit(f"prompt file not found: {path}")
        template = path.read_text(encoding="utf-8")
        if not template.strip():
            raise SystemExit(f"prompt file {path} is empty")
    change = {
        "change_summary": args.summary,
        "prompt_template": template,
        "actor": acting_person(args.actor),
    }
    return _run(args, "propose_challenger", {"pipeline_challenger": change})


def cmd_approve(args: argparse.Namespace) -> int:
    """Record the approval of VERSION's verdict awaiting approval, in Afterlaunch's own store,
    then promote it. A verdict that asked for no approval, or a stale one, is refused."""
    return _change_champion(args, "approve", version=args.version)


def cmd_repair(args: argparse.Namespace) -> int:
    """After a crash: fail the runs a dead process left STARTED, complete or revert an
    interrupted promote/rollback, record in Dagster what the registry holds."""
    from orchestration.repair import repair_workflow

    home, wf = _activate(args)
    for line in repair_workflow(home, wf):
        print(line)
    _champion_summary(args)
    return 0


def cmd_flag(args: argparse.Namespace) -> int:
    """Show the serving flag, or flip it: one run of set_serving_flag, applied by the next
    scoring run."""
    if args.state is None:
        from assets.serving import current_flag

        home, wf = _activate(args)
        flag = current_flag(_store(home, wf))
        if flag is None:
            print("serving flag: on (never flipped)")
        else:
            shown = f"pin {flag['version']}" if flag["state"] == "pin" else flag["state"]
            print(
                f"serving flag: {shown}, set by {flag['actor']} at {flag['at']}: {flag['reason']}"
            )
        return 0
    if args.state == "pin" and not args.version:
        raise SystemExit("afterlaunch flag pin needs a VERSION")
    if not args.reason:
        raise SystemExit("a flag change needs --reason: it is what the next person reads")
    from resources.approvals import acting_person

    change = {"state": args.state, "reason": args.reason, "actor": acting_person(args.actor)}
    if args.state == "pin":
        change["version"] = args.version
    return _run(args, "set_serving_flag", {"serving_flags": change})


def cmd_rollout(args: argparse.Namespace) -> int:
    """Show the rollout in progress (or the last one), or stop it by hand."""
    if args.action == "stop":
        from resources.approvals import acting_person

        change = {"action": "rollback", "reason": args.reason or "stopped by hand"}
        actor = acting_person(args.actor)
        return _run(args, "rollout_step", {"rollout": {**change, "actor": actor}})
    from assets.serving import current_rollout

    home, wf = _activate(args)
    store = _store(home, wf)
    record = current_rollout(store)
    if record is None:
        print("no rollout has been started")
        return 0
    print(
        f"rollout {record['id']}: version {record['version']} vs champion "
        f"{record['champion_version']}, {record['state']} at {record['fraction']:.0%}"
    )
    triggers = record["triggers"]
    print(
        f"  triggers agreed at the start: task success below {triggers['task_success_floor']:.3f}"
        f" (baseline {triggers['baseline_task_success']:.3f} - "
        f"{triggers['task_success_drop_points']:g} points) or error rate above "
        f"{triggers['max_error_rate']:.0%}"
    )
    for event in record["events"]:
        print(
            f"  {event['date']} {event['action']:<11} {event['state']:<11} "
            f"{event['fraction']:>4.0%}  {event['actor']}: {event['reason']}"
        )
    days = store.partitions("rollout_comparison")
    if days:
        latest = store.read("rollout_comparison", days[-1])
        if latest["rollout_id"] == record["id"]:
            print(f"  on the same traffic ({days[-1]}): {latest['proof']}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """The five questions, from the latest readiness_report (text, or --json); without
    --workflow in a deployment of several, every workflow on one screen."""
    import json

    from assets.pipeline_task import is_pipeline
    from orchestration.catalog import DEFAULT_ENV, load, workflow_names
    from orchestration.status import detail_lines, document, latest, overview_lines, pipeline_lines

    names = workflow_names()
    if not (args.workflow or os.environ.get(DEFAULT_ENV)) and len(names) > 1:
        home = _home(args)
        workflows = [load(name) for name in names]
        if args.json:
            found = [document(latest(home, wf)) for wf in workflows]
            print(json.dumps({"workflows": found}, indent=2, default=str))
        else:
            print("\n".join(overview_lines(home, workflows)))
        return 0
    home, wf = _activate(args)
    found = latest(home, wf)
    if found.report is None:
        print("no readiness report yet: it is refreshed by every daily_production run")
        return 1
    if args.json:
        print(json.dumps(document(found), indent=2, default=str))
    elif is_pipeline(wf.task):
        print("\n".join(pipeline_lines(found)))
    else:
        print("\n".join(detail_lines(home, found)))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    return _run(args, "evaluate_challenger")


def cmd_draw_test_set(args: argparse.Namespace) -> int:
    return _run(
        args, "draw_test_set", {"eval_test_set": {"version": args.version, "end_date": args.end}}
    )


def cmd_rebaseline(args: argparse.Namespace) -> int:
    return _run(args, "rebaseline")


def cmd_weekly(args: argparse.Namespace) -> int:
    return _run(args, "evaluate_weekly", {"weekly_evaluation": {"week_end": args.week_end}})


def cmd_feature_lock(args: argparse.Namespace) -> int:
    wf = _workflow(args)
    try:
        pins = wf.feature_sets.pin_all_current()
    except ValueError as err:
        raise SystemExit(str(err)) from None
    for pin in pins:
        print(f"{wf.name}: feature set v{pin.version} pinned at {pin.definitions_hash}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    home = _home(args)
    from orchestration.catalog import load, workflow_names

    for name in workflow_names():  # every location's source URL variable
        try:
            activate(home, load(name))
        except SourceUrlMissing as missing:
            # Dagster reads the variable when a run starts: the UI can open without it.
            log.warning("%s; its runs will fail until it is set", missing)
    from orchestration.ui import ui_launch

    launch = ui_launch(home, host=args.host, port=args.port, live=args.live)
    os.environ.update(launch.env)
    if launch.note:
        print(launch.note, flush=True)
    command = launch.command
    log.info("DAGSTER_HOME=%s; starting: %s", home.dagster_home, " ".join(command))
    os.execvpe(command[0], command, os.environ)
    return 0  # not reached


def cmd_mlflow_ui(args: argparse.Namespace) -> int:
    from resources.masking import mask

    home = _home(args)
    mlflow = shutil.which("mlflow") or str(Path(sys.executable).with_name("mlflow"))
    command = [mlflow, "ui", "--port", str(args.port), "--host", args.host]
    # The store's URI may hold a password: the child reads it from the environment (its
    # --backend-store-uri option's variable), never from argv, which `ps` shows to everyone.
    uri = home.mlflow_uri
    env = {**os.environ, "MLFLOW_BACKEND_STORE_URI": uri}
    log.info("starting: %s (store %s)", " ".join(command), mask(uri, uri))
    os.execvpe(command[0], command, env)
    return 0  # not reached


def cmd_init(args: argparse.Namespace) -> int:
    """Scaffold a workflow from a table of the team's own database: a sample read, a contract,
    task, label lag, features and policy inferred, the folder written, the location listed."""
    import orchestration
    from orchestration.scaffold import InitRequest, init_workflow
    from resources.clock import ClockResource

    project = Path(orchestration.__file__).resolve().parent.parent
    request = InitRequest(
        name=args.name,
        source_url=args.source_url,
        table=args.table,
        id=args.id,
        time=args.time,
        label=args.label,
        label_table=args.label_table,
        label_time=args.label_time,
        task=args.task,
        partitions=args.partitions,
        start=args.start,
        data_engineer=args.data_engineer or args.owner or "data engineer",
        model_owner=args.model_owner or args.owner or "model owner",
        domain_owner=args.domain_owner or args.owner or "domain owner",
        label_lag_days=args.label_lag_days,
        sample_rows=args.sample_rows,
        into=Path(args.into) if args.into else project / "workflows",
        workspace=Path(args.workspace) if args.workspace else project / "workspace.yaml",
    )
    print("\n".join(init_workflow(request, ClockResource().now())))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="afterlaunch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def with_home(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--home", help="state folder (default: $AFTERLAUNCH_HOME or .afterlaunch)")
        p.add_argument(
            "--create",
            action="store_true",
            help="make the home if the folder is not one yet (otherwise refused, so that a "
            "mistyped --home starts nothing; demo always makes its home)",
        )
        p.add_argument(
            "--workflow",
            help="the workflow (default: the only one, or $AFTERLAUNCH_WORKFLOW)",
        )
        return p

    p = with_home(sub.add_parser("demo", help="simulate production and run every check"))
    p.add_argument("--scenario", help="scenario YAML (default: the workflow's default scenario)")
    p.add_argument("--days", type=int, help="override the scenario's number of days")
    p.add_argument("--seed", type=int, help="override the scenario's seed")
    p.add_argument("--json", help="also write the timeline JSON to this path")
    p.set_defaults(func=cmd_demo)

    p = with_home(sub.add_parser("simulate", help="write simulated CRM batches to the source"))
    p.add_argument("--start", required=True)
    p.add_argument("--end")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--scenario", help="scenario YAML whose incidents to inject")
    p.set_defaults(func=cmd_simulate)

    p = with_home(
        sub.add_parser(
            "ingest",
            help="snapshot and check days of the source",
            epilog=f"exit status: 0 every day built (WARN checks allowed); {EXIT_STEP_FAILED} a "
            f"step failed by error; {EXIT_BLOCKED} an ERROR data check stopped what is "
            "downstream (the raw snapshot is kept). Each day that is not 0 prints why.",
        )
    )
    p.add_argument("--start", required=True)
    p.add_argument("--end")
    p.add_argument("--raw-only", action="store_true", help="no profile/drift (no reference yet)")
    p.add_argument(
        "--score",
        action="store_true",
        help="also compute features, score with the champion and refresh the readiness report "
        "(the daily_production job its schedule runs)",
    )
    p.set_defaults(func=cmd_ingest)

    p = with_home(sub.add_parser("reference", help="(re)build the reference profile"))
    p.add_argument("--end", help="last day of the reference window (default: newest)")
    p.set_defaults(func=cmd_reference)

    p = with_home(sub.add_parser("train", help="train a challenger and register it in MLflow"))
    p.add_argument("--end", help="last label day of the training window (default: newest)")
    p.add_argument("--summary", default="manual retraining", help="change summary (lineage)")
    p.set_defaults(func=cmd_train)

    p = with_home(sub.add_parser("retrain", help="emergency retraining, with a reason"))
    p.add_argument("--reason", required=True, help="why now (recorded as the change summary)")
    p.add_argument("--end", help="last label day of the training window (default: newest)")
    p.add_argument(
        "--no-evaluate", action="store_true", help="register only; leave the gate to the sensor"
    )
    p.set_defaults(func=cmd_retrain)

    p = with_home(sub.add_parser("reproduce", help="retrain a registered version from lineage"))
    p.add_argument("version", help="model version number in the registry")
    p.set_defaults(func=cmd_reproduce)

    p = with_home(sub.add_parser("explain", help="why one scored row got its output"))
    p.add_argument("entity_id", help="the entity's id (the workflow's entity id column)")
    p.add_argument("--date", help="the partition it was scored in (default: the newest)")
    p.add_argument("--json", action="store_true", help="machine-readable document")
    p.set_defaults(func=cmd_explain)

    p = with_home(sub.add_parser("diff", help="what changed between two registered versions"))
    p.add_argument("versions", nargs="*", metavar="VERSION", help="two versions: A B")
    p.add_argument("--launch", action="store_true", help="the first champion against today's")
    p.add_argument("--all", action="store_true", help="every row, not only the changes")
    p.add_argument("--json", action="store_true", help="machine-readable document")
    p.set_defaults(func=cmd_diff)

    p = with_home(sub.add_parser("promote", help="make VERSION champion (its gate said yes)"))
    p.add_argument("version")
    p.add_argument("--reason", default="manual promotion")
    p.add_argument("--actor", help="who (default: $AFTERLAUNCH_ACTOR, else your user name)")
    p.add_argument("--expect-champion", metavar="V", help=EXPECT_HELP)
    p.set_defaults(func=cmd_promote)

    p = with_home(
        sub.add_parser("revert-aliases", help="put aliases moved outside Afterlaunch back")
    )
    p.add_argument("--reason", default="an alias was moved outside Afterlaunch")
    p.add_argument("--actor", help="who (default: $AFTERLAUNCH_ACTOR, else your user name)")
    p.set_defaults(func=cmd_revert_aliases)

    p = with_home(
        sub.add_parser(
            "propose", help="a staged pipeline's new version (a prompt change or a re-deployment)"
        )
    )
    p.add_argument("--summary", required=True, help="what changed and why (the change summary)")
    p.add_argument(
        "--prompt-file", help="the new prompt template; none: re-deploy on today's context"
    )
    p.add_argument("--actor", help="who (default: $AFTERLAUNCH_ACTOR, else your user name)")
    p.set_defaults(func=cmd_propose)

    p = with_home(sub.add_parser("rollback", help="back to the previous champion"))
    p.add_argument("--to", help="roll back to this version instead of the previous champion")
    p.add_argument("--reason", default="manual rollback")
    p.add_argument("--actor", help="who (default: $AFTERLAUNCH_ACTOR, else your user name)")
    p.add_argument("--expect-champion", metavar="V", help=EXPECT_HELP)
    p.set_defaults(func=cmd_rollback)

    p = with_home(sub.add_parser("approve", help="approve VERSION (high-risk mode) and promote"))
    p.add_argument("version")
    p.add_argument("--reason", default="approved after review")
    p.add_argument(
        "--actor", help="who approves (default: $AFTERLAUNCH_ACTOR, else your user name)"
    )
    p.add_argument("--expect-champion", metavar="V", help=EXPECT_HELP)
    p.set_defaults(func=cmd_approve)

    p = with_home(
        sub.add_parser("repair", help="after a crash: make what serves and its record agree")
    )
    p.set_defaults(func=cmd_repair)

    p = with_home(sub.add_parser("flag", help="show or flip the serving flag: off | on | pin V"))
    p.add_argument("state", nargs="?", choices=["on", "off", "pin"])
    p.add_argument("version", nargs="?", help="with pin: the version to serve to everyone")
    p.add_argument("--reason", help="why (required to flip it)")
    p.add_argument("--actor", help="who (default: $AFTERLAUNCH_ACTOR, else your user name)")
    p.set_defaults(func=cmd_flag)
    p = with_home(sub.add_parser("rollout", help="show the rollout, or stop it by hand"))
    p.add_argument("action", nargs="?", choices=["status", "stop"], default="status")
    p.add_argument("--reason", help="why it is stopped")
    p.add_argument("--actor", help="who (default: $AFTERLAUNCH_ACTOR, else your user name)")
    p.set_defaults(func=cmd_rollout)
    from orchestration import challenger_queue_cli, review, runbook

    review.arguments(with_home(sub.add_parser("review", help=review.HELP)))
    runbook.arguments(with_home(sub.add_parser("runbook", help=runbook.HELP)))
    queue_help = challenger_queue_cli.HELP
    challenger_queue_cli.arguments(with_home(sub.add_parser("queue", help=queue_help)))
    p = with_home(sub.add_parser("status", help="the five readiness questions, answered"))
    p.add_argument("--json", action="store_true", help="machine-readable, with each source")
    p.set_defaults(func=cmd_status)
    p = with_home(sub.add_parser("evaluate", help="evaluate @challenger against @champion"))
    p.set_defaults(func=cmd_evaluate)

    p = with_home(sub.add_parser("draw-test-set", help="draw the evaluation test set"))
    p.add_argument("--version", default="1", help="bump for a new scope; re-record the baseline")
    p.add_argument("--end", help="last label day of the pool (default: newest)")
    p.set_defaults(func=cmd_draw_test_set)

    p = with_home(
        sub.add_parser(
            "rebaseline",
            help="re-record the champion's baseline on the "
            "current test set (after a test-set version bump)",
        )
    )
    p.set_defaults(func=cmd_rebaseline)

    p = with_home(sub.add_parser("weekly", help="run the weekly evaluation of the champion"))
    p.add_argument("--week-end", help="last label day of the week (default: newest)")
    p.set_defaults(func=cmd_weekly)

    p = with_home(sub.add_parser("feature-lock", help="pin every feature set version to its code"))
    p.set_defaults(func=cmd_feature_lock)

    p = with_home(sub.add_parser("ui", help="open the Dagster UI on this home"))
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument(
        "--live",
        action="store_true",
        help="on a demo home too: run the daemon (sensors, schedules) on the real clock",
    )
    p.set_defaults(func=cmd_ui)

    p = with_home(sub.add_parser("mlflow-ui", help="open the MLflow UI on this home's registry"))
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--host", default="127.0.0.1")
    p.set_defaults(func=cmd_mlflow_ui)

    from orchestration.schema_cli import add_parser as add_schema_parser

    add_schema_parser(sub, with_home)  # afterlaunch schema map | backfill | show
    from orchestration.approvals_cli import add_parsers as add_approvals_parsers

    add_approvals_parsers(sub, with_home)  # afterlaunch approvals | actions serve | audit verify
    from orchestration.review_samples_cli import add_parser as add_review_samples_parser

    add_review_samples_parser(sub, with_home)  # afterlaunch review-samples list|mark|counts|work

    p = sub.add_parser("init", help="scaffold a workflow from a table of your own database")
    p.add_argument("name", help="the workflow's name: lower case letters, digits and _")
    p.add_argument("--source-url", required=True, help="SQLAlchemy URL (never written to files)")
    p.add_argument("--table", required=True, help="the rows' table, cut on its event time")
    p.add_argument("--id", required=True, help="the entity id column")
    p.add_argument("--time", required=True, help="the event-time column")
    p.add_argument("--label", required=True, help="the label column")
    p.add_argument("--label-table", help="the labels' own table (default: the rows' table)")
    p.add_argument("--label-time", help="when each label became known (a column)")
    p.add_argument("--task", choices=["binary", "regression"], help="default: from the label")
    p.add_argument("--partitions", choices=["daily", "weekly", "monthly"], default="daily")
    p.add_argument("--start", help="first partition, YYYY-MM-DD (default: the sample's first)")
    p.add_argument("--owner", help="one name for all three owner roles")
    p.add_argument("--data-engineer")
    p.add_argument("--model-owner")
    p.add_argument("--domain-owner")
    p.add_argument(
        "--label-lag-days", type=int, help="without --label-time: days until a label is known (1)"
    )
    p.add_argument("--sample-rows", type=int, default=50_000, help="newest rows read (50,000)")
    p.add_argument("--into", help="parent folder of the new workflow (default: workflows/)")
    p.add_argument("--workspace", help="workspace.yaml to list it in (default: the project's)")
    p.set_defaults(func=cmd_init)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S"
    )
    # Dagster's own per-event logging would drown the progress lines.
    for noisy in ("dagster", "dagster.builtin", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
