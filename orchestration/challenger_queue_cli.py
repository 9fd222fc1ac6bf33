"""`afterlaunch queue`: the challengers waiting behind a rollout, and every step each went
through (the records are `assets.challenger_queue`'s append-only file in the home)."""

from __future__ import annotations

import argparse

HELP = "show the challenger queue: who waits behind a rollout, since when, and what became of it"


def cmd_queue(args: argparse.Namespace) -> int:
    from assets.challenger_queue import ChallengerQueue, QueueCorrupt, lines, queue_path
    from orchestration.cli import _activate

    home, wf = _activate(args)
    try:
        entries = ChallengerQueue(queue_path(home.workflow_root(wf.name))).entries()
    except QueueCorrupt as err:
        raise SystemExit(str(err)) from err
    print("\n".join(lines(entries)))
    return 0


def arguments(p: argparse.ArgumentParser) -> None:
    p.set_defaults(func=cmd_queue)
