"""`afterlaunch schema map | backfill | show`: the command line of the schema layer
(orchestration/schema.py). Kept apart so that building the parser imports nothing heavy."""

from __future__ import annotations

import argparse

# checks/schema_mapping.KNOWN_TYPES, named here without importing pandas for every command
# (tests/checks/test_schema_mapping.py keeps the two equal).
TYPES = ("integer", "float", "string", "datetime", "boolean")
BACKFILL_JOBS = ("raw_ingestion", "daily_ingestion", "daily_production")


def _mapping_line(m) -> str:
    return (
        f"schema v{m.version} from {m.effective_from}: {m.describe()} "
        f"(by {m.actor} at {m.at}: {m.reason})"
    )


def cmd_schema(args: argparse.Namespace) -> int:
    from dagster import DagsterInstance

    from orchestration.catalog import definitions
    from orchestration.cli import EXIT_STEP_FAILED, _activate, _ingest_verdict
    from orchestration.runner import RunOutcome, run_job
    from orchestration.schema import backfill, mapping_store, record_mapping

    home, wf = _activate(args)
    instance = DagsterInstance.get()
    if args.schema_command == "show":
        found = mapping_store(home.root, wf).read()
        print(f"schema v1: the contract {wf.contracts.raw.Config.name} as declared")
        for m in found:
            print(_mapping_line(m))
        return 0
    from checks.schema_mapping import MappingRefused, parse_pairs

    try:
        if args.schema_command == "map":
            renames = parse_pairs(args.rename or [], "--rename", "UPSTREAM_COLUMN")
            retypes = parse_pairs(args.retype or [], "--retype", "TYPE")
            mapping = record_mapping(
                home.root, wf, instance, renames, retypes, args.reason, args.actor, args.start
            )
            print(f"recorded {_mapping_line(mapping)}")
            if not args.backfill:
                print("re-ingest the blocked partitions through it: afterlaunch schema backfill")
                return 0
        defs = definitions(wf)

        def run(job: str, partition: str, tags: dict) -> RunOutcome:
            return run_job(defs, instance, job, partition, tags=tags)

        mapping, outcomes = backfill(
            home.root, wf, instance, run, job=getattr(args, "job", None), since=None
        )
    except MappingRefused as refused:
        raise SystemExit(f"schema mapping refused: {refused}") from None
    codes = set()
    job_assets = {}
    for outcome in outcomes:
        if outcome.job not in job_assets:
            selected = defs.resolve_job_def(outcome.job).asset_layer.selected_asset_keys
            job_assets[outcome.job] = sorted("/".join(k.path[1:]) for k in selected)
        code, verdict = _ingest_verdict(outcome, job_assets[outcome.job])
        mapped = [c.description for c in outcome.checks if c.check == "raw_schema"]
        print(f"{outcome.partition} {verdict or 'rebuilt'}: {'; '.join(mapped)}")
        codes.add(code)
    if not outcomes:
        print(f"no partition blocked by the contract since {mapping.effective_from}")
    return EXIT_STEP_FAILED if EXIT_STEP_FAILED in codes else max(codes, default=0)


def add_parser(sub, with_home) -> None:
    """`afterlaunch schema map | backfill | show` (called from cli.build_parser)."""
    p = sub.add_parser(
        "schema",
        help="map an upstream rename/retype back to the contract; re-ingest what it blocked",
        description="The contract never changes: a mapping reads what upstream now sends back "
        "into it, as the next raw-contract version, from a partition on.",
    )
    verbs = p.add_subparsers(dest="schema_command", required=True)
    m = with_home(verbs.add_parser("map", help="record a mapping (the next schema version)"))
    m.add_argument(
        "--rename",
        action="append",
        metavar="CONTRACT=UPSTREAM",
        help="the contract's column name = the name upstream now sends, e.g. "
        "message_length=msg_len: rows arriving with msg_len are renamed back to "
        "message_length (the contract keeps its name). Repeat for several",
    )
    m.add_argument(
        "--retype",
        action="append",
        metavar="COLUMN=TYPE",
        help="convert the contract column COLUMN back to the contract's type TYPE (one of "
        f"{', '.join(TYPES)}), e.g. message_length=integer for text like '523 chars'; "
        "cells that cannot be read become nulls the contract then reports",
    )
    m.add_argument("--reason", required=True, help="why (recorded with the version)")
    m.add_argument(
        "--from",
        dest="start",
        metavar="DATE",
        help="first day it applies to (default: the first day of the run of recent "
        "partitions in which the source sent what the rules are for)",
    )
    m.add_argument(
        "--actor", help="who records it (default: $AFTERLAUNCH_ACTOR, else your user name)"
    )
    m.add_argument(
        "--backfill", action="store_true", help="then re-ingest the partitions it unblocks"
    )
    m.set_defaults(func=cmd_schema)
    b = with_home(
        verbs.add_parser(
            "backfill",
            help="re-run the daily job on the partitions the contract blocked since the "
            "latest mapping took effect",
        )
    )
    b.add_argument(
        "--job",
        choices=BACKFILL_JOBS,
        help="default: the job this home's days run (daily_production once a champion serves)",
    )
    b.set_defaults(func=cmd_schema)
    s = with_home(verbs.add_parser("show", help="every recorded schema version"))
    s.set_defaults(func=cmd_schema)
