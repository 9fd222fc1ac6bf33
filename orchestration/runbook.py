"""`afterlaunch runbook`: the rollback and incident procedure of this deployment, generated from
its state, in Markdown, so anyone in the team can execute it without knowing the project.

Everything in it is read, nothing assumed: the champion and the version a rollback returns to
(the registry's aliases and the alias-move history), the owners (the workflow's declaration),
the serving flag, a rollout in progress and the challenger queue (the snapshot store and the
queue file), and, for every check the workflow's definitions declare, what it means (its
docstring), whether it blocks, the severities it has raised so far and who hears about it (the
policy's alert routes). Every command is printed with this home and workflow, and each one is
parsed by the CLI's own parser before it is written: a command the CLI no longer accepts fails
the generation instead of failing the person at 3 a.m.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the engine pulls in Dagster and MLflow: imported where used (fast CLI)
    from checks.policy import Policy
    from resources.snapshots import SnapshotStore

HELP = "write the rollback and incident runbook of this deployment (Markdown)"
HISTORY_SHOWN = 5


class RunbookError(RuntimeError):
    """The runbook cannot be written truthfully (named in the message)."""


@dataclass(frozen=True)
class Command:
    """One command the runbook tells a person to run, and what it does."""

    what: str
    argv: list[str]

    def line(self) -> str:
        return "afterlaunch " + shlex.join(self.argv)


def generate(home, wf, *, home_arg: str | None = None, now: datetime | None = None) -> str:
    """The runbook of `wf` in `home` as Markdown. `home_arg` is how the commands name the home
    (default: the home's folder as given)."""
    from dagster import DagsterInstance

    from assets.promotion import champion_history
    from orchestration.alerts import ROLES
    from orchestration.catalog import definitions
    from orchestration.definitions import policy_resource
    from orchestration.home import registry_for
    from resources.clock import ClockResource
    from resources.snapshots import SnapshotStore, snapshot_root

    now = now or ClockResource().now()
    registry = registry_for(home, wf)
    store = SnapshotStore(snapshot_root(home.root, wf.name))
    policy = policy_resource(wf, str(home.root)).load()
    champion = registry.version_for_alias("champion")
    previous = registry.version_for_alias("previous")
    history = champion_history(registry)
    where = ["--home", home_arg or str(home.root), "--workflow", wf.name]
    repo = definitions(wf).get_repository_def()
    instance = DagsterInstance.from_config(str(home.dagster_home))

    out = [
        f"# Runbook: {wf.name}",
        "",
        f"Generated {now.isoformat(timespec='minutes')} from this deployment's records "
        "(`afterlaunch runbook` writes it again; regenerate after every change of champion).",
        "",
        "## Who",
        "",
        "| role | who | hears about |",
        "| --- | --- | --- |",
    ]
    for role in ROLES:
        heard = [r.assets for r in policy.alerts.routes if r.owner in (role, _owner(wf, role))]
        names = ", ".join(a for assets in heard for a in assets) or "no alert route"
        out.append(f"| {role.replace('_', ' ')} | {_owner(wf, role)} | {names} |")
    out.append(f"| anything no route names | {policy.alerts.fallback_owner} | |")

    out += ["", "## What serves now", ""]
    out += _serving(wf, store, registry, champion, previous, history, policy, now, home)

    commands = _commands(wf, store, champion, previous, where, repo)
    _parse_all(commands)
    out += ["", "## Procedures", ""]
    for title, group in commands.items():
        out += [f"### {title}", ""]
        for command in group:
            out += [f"{command.what}:", "", "```sh", command.line(), "```", ""]

    out += ["## What each alert means and who gets it", ""]
    out += _alerts(wf, repo, instance, policy)
    return "\n".join(out).rstrip() + "\n"


def _owner(wf, role: str) -> str:
    return getattr(wf.owners, role)


def _serving(wf, store, registry, champion, previous, history, policy: Policy, now, home):
    from assets.challenger_queue import ChallengerQueue, queue_path
    from assets.serving import current_flag, current_rollout
    from checks.rollout import is_active
    from orchestration.review import champion_review, review_store

    lines = []
    if champion is None:
        lines.append("- **No champion** serves: the first model is promoted on the gate alone.")
    else:
        from assets.models import FEATURE_SET_TAG

        feature_set = registry.version_tags(champion).get(FEATURE_SET_TAG, "unrecorded")
        lines.append(f"- **Champion: version {champion}** (feature set {feature_set}).")
    if previous is None:
        lines.append("- **No previous version**: there is nothing to roll back to yet.")
    else:
        lines.append(
            f"- **Previous: version {previous}**: what `afterlaunch rollback` serves again."
        )
    flag = current_flag(store)
    if flag is None:
        lines.append("- Serving flag: on (never flipped).")
    else:
        shown = f"pin {flag['version']}" if flag["state"] == "pin" else flag["state"]
        lines.append(
            f"- Serving flag: **{shown}**, set by {flag['actor']} at {flag['at']}: {flag['reason']}"
        )
    record = current_rollout(store)
    if is_active(record):
        lines.append(
            f"- **Rollout in progress**: {record['id']}, version {record['version']} against "
            f"champion {record['champion_version']}, {record['state']} at "
            f"{record['fraction']:.0%}."
        )
    elif record is not None:
        lines.append(
            f"- Last rollout: {record['id']} ended {record['state']} on {record['ended']}."
        )
    waiting = ChallengerQueue(queue_path(home.workflow_root(wf.name))).open_entries()
    for entry in waiting:
        lines.append(
            f"- Challenger queue: version {entry.version} {entry.state} since {entry.since} "
            f"(`afterlaunch queue`)."
        )
    if champion is not None:
        age = champion_review(
            registry,
            review_store(home.root, wf.name),
            now,
            policy.registry.review_max_age_days,
        )
        lines.append(f"- Registry review: {age.description}.")
    if history:
        lines += ["", "Recent changes of champion (newest last):", ""]
        lines += ["| at | action | version | replaced | by | reason |", "| --- " * 6 + "|"]
        for change in history[-HISTORY_SHOWN:]:
            lines.append(
                f"| {change.get('at', '')[:16]} | {change.get('action')} | "
                f"{change.get('version')} | {change.get('previous_version') or 'none'} | "
                f"{change.get('actor')} | {_cell(change.get('reason', ''))} |"
            )
    return lines


def _commands(wf, store, champion, previous, where, repo) -> dict[str, list[Command]]:
    expect = ["--expect-champion", champion or "none"]
    back = previous or "VERSION"
    rollback = [
        Command(
            f"Roll back to the previous version ({back}); refused if the champion is no "
            f"longer {champion}, so two people cannot undo each other",
            ["rollback", *expect, "--reason", "incident: describe it", *where],
        ),
        Command(
            "Roll back to a version of your choice instead (it must have served before)",
            ["rollback", "--to", back, *expect, "--reason", "incident: describe it", *where],
        ),
        Command(
            "Stop a rollout in progress (the champion keeps serving everyone)",
            ["rollout", "stop", "--reason", "incident: describe it", *where],
        ),
    ]
    serving = [
        Command(
            "Switch the model off: the workflow's fallback rule serves from the next scoring run"
            + ("" if wf.fallback is not None else " (this workflow declares none: refused)"),
            ["flag", "off", "--reason", "incident: describe it", *where],
        ),
        Command(
            f"Pin one version for everyone (here the previous, {back})",
            ["flag", "pin", back, "--reason", "incident: describe it", *where],
        ),
        Command(
            "Switch the model back on", ["flag", "on", "--reason", "incident resolved", *where]
        ),
    ]
    passed = _latest_passed(store)
    promote = [
        Command(
            f"Promote a version whose gate said yes (here the latest that passed: "
            f"{passed or 'none yet'}), against the champion it was judged with",
            ["promote", passed or "VERSION", *expect, "--reason", "why now", *where],
        ),
    ]
    repair = [
        Command(
            "After a crash or a kill mid-change: complete or revert an interrupted promote or "
            "rollback, and fail the runs a dead process left started",
            ["repair", *where],
        ),
    ]
    look = [
        Command("The five readiness questions", ["status", *where]),
        Command("The rollout, its triggers and every move", ["rollout", *where]),
        Command("Challengers waiting behind a rollout", ["queue", *where]),
        Command(
            "Record that you reviewed the champion",
            ["review", champion or "VERSION", "--note", "what you checked", *where],
        ),
    ]
    schema = []
    if _has_command("schema"):
        schema.append(
            Command(
                "An upstream rename broke the raw contract: record the mapping (a new raw-contract "
                "version) so the blocked days can be re-ingested through it",
                [
                    "schema",
                    "map",
                    "--rename",
                    "OLD=NEW",
                    "--reason",
                    "upstream renamed OLD",
                    *where,
                ],
            )
        )
    groups = {
        "Roll back": rollback,
        "Switch the model off, pin, on": serving,
        "Promote": promote,
        "After a crash": repair,
        "Look before you act": look,
    }
    if schema:
        groups["Upstream schema change"] = schema
    return groups


def _parse_all(groups: dict[str, list[Command]]) -> None:
    from orchestration.cli import build_parser

    parser = build_parser()
    for group in groups.values():
        for command in group:
            try:
                parser.parse_args(command.argv)
            except SystemExit as err:
                raise RunbookError(
                    f"the runbook's command `{command.line()}` does not parse with this CLI"
                ) from err


def _has_command(name: str) -> bool:
    from orchestration.cli import build_parser

    for action in build_parser()._subparsers._group_actions:  # argparse keeps no public list
        if isinstance(action, argparse._SubParsersAction):
            return name in action.choices
    return False


def _latest_passed(store: SnapshotStore) -> str | None:
    from assets.names import EVALUATION

    for entry in reversed(store.versions(EVALUATION, None)):
        record = store.read(EVALUATION, None, entry["content_hash"])
        if record.get("verdict") == "promote":
            return record["challenger_version"]
    return None


def _alerts(wf, repo, instance, policy: Policy) -> list[str]:
    from assets.check_history import evaluations
    from orchestration.alerts import ROLES

    graph = repo.asset_graph
    keys = sorted(graph.asset_check_keys, key=lambda k: (k.asset_key.to_user_string(), k.name))
    seen: dict = {}
    for e in evaluations(instance, keys):
        if not e.passed:
            seen.setdefault((e.asset, e.check), set()).add(e.severity)
    lines = [
        "A failed check is an alert in the outbox; ERROR and WARN go where the route says "
        "(immediate: at once; digest: the next day's message; log: the log only).",
        "",
        "| check | what it means | blocks downstream | raised so far | ERROR goes to | "
        "WARN goes to |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for key in keys:
        spec = graph.get_check_spec(key)
        asset = key.asset_key.to_user_string()
        route = policy.alerts.route_for(asset.removeprefix(f"{wf.name}/"))
        owner = _owner(wf, route.owner) if route.owner in ROLES else route.owner
        raised = ", ".join(sorted(seen.get((asset, key.name), ()))) or "never"
        lines.append(
            f"| `{asset}.{key.name}` | {_cell(spec.description or 'no description')} | "
            f"{'yes' if spec.blocking else 'no'} | {raised} | {owner} ({route.errors}) | "
            f"{owner} ({route.warnings}) |"
        )
    return lines


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def cmd_runbook(args: argparse.Namespace) -> int:
    from orchestration.cli import _activate

    home, wf = _activate(args)
    text = generate(home, wf, home_arg=args.home)
    if args.output:
        path = Path(args.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"runbook written to {path}")
    else:
        print(text, end="")
    return 0


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", help="write the Markdown here (default: print it)")
    p.set_defaults(func=cmd_runbook)
