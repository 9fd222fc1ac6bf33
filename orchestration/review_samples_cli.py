"""`afterlaunch review-samples [list] | mark | counts | work`: the hallucination review list a
person works through (the daily hallucination_sample asset fills it; resources/sample_reviews.py
keeps it).

Identity is `resources.approvals.acting_person` (`--actor`, else `$AFTERLAUNCH_ACTOR`, else the
OS user); nothing is authenticated. Verdicts are stamped with the clock resource's now.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    import pandas as pd

    from resources.sample_reviews import SampleReviews

HELP = "the sampled outputs awaiting a person's faithfulness verdict: list, mark, counts, work"
USAGE = """\
afterlaunch review-samples [--workflow W] [list] [--limit N]
       afterlaunch review-samples mark PARTITION ITEM_ID supported|unsupported|unsure
                                  [--note T] [--actor A]
       afterlaunch review-samples counts [--since PARTITION] [--json]
       afterlaunch review-samples work [--limit N] [--actor A]"""
NO_SAMPLES = "no samples yet: the daily hallucination_sample asset writes them"
# What `work` reads: one letter per item, optionally followed by a note.
ANSWERS = {"s": "supported", "u": "unsupported", "?": "unsure"}
_CONTEXT_CHARS = 240  # `list` shows the context's beginning; `work` shows it whole


def _store(args: argparse.Namespace) -> tuple[SampleReviews, str]:
    """The chosen workflow's review list, and the workflow's name; a SystemExit when there is
    none yet (opening it would create an empty file that hides the cause)."""
    from orchestration.cli import _activate
    from resources.sample_reviews import SampleReviews, reviews_path

    home, wf = _activate(args)
    path = reviews_path(home.root, wf.name)
    if not path.is_file():
        raise SystemExit(f"{wf.name}: {NO_SAMPLES} (looked for {path})")
    return SampleReviews(path), wf.name


def _score(value: float) -> str:
    return "unscored" if value != value else f"{value:.2f}"  # NaN: not judged


def _short(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def item_lines(sample: pd.Series, *, full: bool = False) -> list[str]:
    """The lines that show one sample: its key and score, then question, output and context
    (the context cut short unless `full`)."""
    version = f"  version {sample['version']}" if sample["version"] else ""
    lines = [
        f"{sample['partition']}  {sample['item_id']}  faithfulness "
        f"{_score(sample['faithfulness'])}{version}"
    ]
    for name in ("question", "output", "context"):
        text = sample[name] if full or name != "context" else _short(sample[name], _CONTEXT_CHARS)
        body = textwrap.indent(text.strip() or "(empty)", " " * 14).lstrip()
        lines.append(f"    {name + ':':<9} {body}")
    return lines


def count_lines(workflow: str, counts: dict) -> list[str]:
    """`counts` for a person."""
    mean, agreement = counts["mean_faithfulness"], counts["agreement"]
    return [
        f"review list of {workflow}: {counts['sampled']} sampled, {counts['reviewed']} "
        f"reviewed, {counts['pending']} pending",
        f"    verdicts: {counts['supported']} supported, {counts['unsupported']} unsupported, "
        f"{counts['unsure']} unsure",
        "    mean faithfulness of the sampled: "
        + ("none scored" if mean is None else f"{mean:.3f} ({counts['scored']} scored)"),
        "    agreement with the automatic score: "
        + (
            "nothing to compare yet"
            if agreement is None
            else f"{agreement:.0%} of {counts['compared']} (supported <-> faithfulness 1)"
        ),
    ]


def cmd_list(args: argparse.Namespace) -> int:
    store, name = _store(args)
    with store:
        pending = store.pending(args.limit)
        counts = store.counts()
    if pending.empty:
        print(f"{name}: nothing waiting for review ({counts['sampled']} sampled, all reviewed)")
        return 0
    for _, sample in pending.iterrows():
        print("\n".join(item_lines(sample)))
    print(
        f"{len(pending)} shown of {counts['pending']} pending ({counts['sampled']} sampled)\n"
        "mark one: afterlaunch review-samples mark PARTITION ITEM_ID "
        "supported|unsupported|unsure\ngo through them: afterlaunch review-samples work"
    )
    return 0


def cmd_mark(args: argparse.Namespace) -> int:
    from resources.approvals import acting_person
    from resources.clock import ClockResource

    store, name = _store(args)
    actor = acting_person(args.actor)
    with store:
        try:
            store.record(
                args.partition, args.item_id, args.verdict, actor, ClockResource().now(), args.note
            )
        except ValueError as err:
            raise SystemExit(f"{name}: {err}") from err
    print(f"{args.partition} {args.item_id}: {args.verdict} by {actor}")
    return 0


def cmd_counts(args: argparse.Namespace) -> int:
    store, name = _store(args)
    with store:
        counts = store.counts(since=args.since)
    if args.json:
        print(json.dumps({"workflow": name, **counts}, indent=2))
    else:
        print("\n".join(count_lines(name, counts)))
    return 0


def work(
    store: SampleReviews,
    actor: str,
    now,
    answers: TextIO,
    out: TextIO,
    limit: int | None = None,
) -> tuple[int, int]:
    """Show each pending sample on `out` and record the verdict read from `answers`: `s`,
    `u` or `?` (a note may follow the letter), `q` or the end of input to stop. Returns
    (verdicts recorded, samples still pending)."""
    recorded = 0
    for _, sample in store.pending(limit).iterrows():
        print("\n".join(item_lines(sample, full=True)), file=out)
        while True:
            print("verdict [s]upported, [u]nsupported, [?] unsure, [q]uit: ", end="", file=out)
            out.flush()
            line = answers.readline()
            letter, _, note = line.strip().partition(" ")
            if not line or letter.lower() == "q":
                return recorded, len(store.pending())
            if letter.lower() in ANSWERS:
                break
            print(f"\n{letter or '(nothing)'!r} is not an answer: type s, u, ? or q", file=out)
        verdict = ANSWERS[letter.lower()]
        store.record(sample["partition"], sample["item_id"], verdict, actor, now(), note.strip())
        recorded += 1
        print(f"\n  -> {verdict}\n", file=out)
    return recorded, len(store.pending())


def cmd_work(args: argparse.Namespace) -> int:
    from resources.approvals import acting_person
    from resources.clock import ClockResource

    store, name = _store(args)
    actor = acting_person(args.actor)
    with store:
        if store.pending(1).empty:
            print(f"{name}: nothing waiting for review")
            return 0
        recorded, left = work(store, actor, ClockResource().now, sys.stdin, sys.stdout, args.limit)
    print(f"\n{name}: {recorded} verdict(s) recorded by {actor}; {left} still pending")
    return 0


def _home_options(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """--home, --create and --workflow after the verb too; SUPPRESS keeps the values given
    before the verb (a verb's default would overwrite them)."""
    p.add_argument(
        "--home",
        default=argparse.SUPPRESS,
        help="state folder (default: $AFTERLAUNCH_HOME or .afterlaunch)",
    )
    p.add_argument(
        "--create",
        action="store_true",
        default=argparse.SUPPRESS,
        help="make the home if the folder is not one yet (otherwise refused)",
    )
    p.add_argument(
        "--workflow",
        default=argparse.SUPPRESS,
        help="the workflow (default: the only one, or $AFTERLAUNCH_WORKFLOW)",
    )
    return p


def _verb(verbs, name: str, help: str) -> argparse.ArgumentParser:
    # Its own prog: a verb's usage line would otherwise start with the whole USAGE text.
    return verbs.add_parser(name, help=help, prog=f"afterlaunch review-samples {name}")


def _limit(p: argparse.ArgumentParser, default) -> None:
    p.add_argument("--limit", type=_positive, default=default, help="at most N items")


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"--limit is a positive number, not {text!r}")
    return int(text)


def add_parser(sub, with_home) -> None:
    """`review-samples` and its verbs (called from cli.build_parser); without a verb, list."""
    p = with_home(sub.add_parser("review-samples", help=HELP, usage=USAGE, description=HELP))
    _limit(p, None)
    p.set_defaults(func=cmd_list)
    verbs = p.add_subparsers(dest="review_command", metavar="{list,mark,counts,work}")

    q = _home_options(_verb(verbs, "list", help="the pending samples, oldest first"))
    _limit(q, argparse.SUPPRESS)
    q.set_defaults(func=cmd_list)

    q = _home_options(_verb(verbs, "mark", help="record your verdict on one sample"))
    q.add_argument("partition", help="the day it was served (as listed)")
    q.add_argument("item_id", help="the sample's item id (as listed)")
    q.add_argument("verdict", choices=["supported", "unsupported", "unsure"])
    q.add_argument("--note", default="", help="why (recorded)")
    q.add_argument("--actor", help="who (default: $AFTERLAUNCH_ACTOR, else your user name)")
    q.set_defaults(func=cmd_mark)

    q = _home_options(_verb(verbs, "counts", help="sampled, reviewed, verdicts, agreement"))
    q.add_argument("--since", metavar="PARTITION", help="only the partitions from this one on")
    q.add_argument("--json", action="store_true", help="machine-readable")
    q.set_defaults(func=cmd_counts)

    q = _home_options(
        _verb(verbs, "work", help="go through the pending samples: answer s, u, ? or q")
    )
    _limit(q, argparse.SUPPRESS)
    q.add_argument("--actor", help="who (default: $AFTERLAUNCH_ACTOR, else your user name)")
    q.set_defaults(func=cmd_work)
