"""Four eyes on a promotion: whose yes counts.

The one who registered a version never approves its promotion, and when the policy lists the
promotion approvers (`approvers.promotion`), only they may. Names are compared as people type
them: case and repeated spaces do not make another person. A refusal says who may approve.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

POLICY_LIST = "approvers.promotion"


def same_name(a: str, b: str) -> bool:
    """Whether two typed names are the same person's (case and spacing aside)."""
    return _norm(a) == _norm(b)


def who_may_approve(allowed: Sequence[str], registered_by: Collection[str]) -> str:
    """One clause naming who may approve a version `registered_by` registered, given the
    policy's list `allowed` (empty: anyone else)."""
    authors = _names(registered_by)
    if not allowed:
        if not authors:
            return "anyone may approve it"
        return f"anyone but {_join(authors)} may approve it ({POLICY_LIST} lists no one)"
    may = [name for name in allowed if _norm(name) not in {_norm(a) for a in authors}]
    if not may:
        return (
            f"no one may: {POLICY_LIST} lists only {_join(list(allowed))}, who registered it; "
            f"add another approver to {POLICY_LIST} in the workflow's policy"
        )
    return f"{_join(may)} may approve it ({POLICY_LIST})"


def approval_refusal(
    approver: str, registered_by: Collection[str], allowed: Sequence[str]
) -> str | None:
    """Why `approver` may not approve the promotion of a version registered by
    `registered_by` (every name recorded as registering it) when the policy's promotion
    approvers are `allowed`; None when the approval counts."""
    if any(same_name(approver, author) for author in _names(registered_by)):
        return (
            f"{approver.strip()} registered this version, and the one who registered a version "
            f"cannot approve its promotion (four eyes): {who_may_approve(allowed, registered_by)}"
        )
    if allowed and not any(same_name(approver, name) for name in allowed):
        return (
            f"{approver.strip()} is not a promotion approver in the policy: "
            f"{who_may_approve(allowed, registered_by)}"
        )
    return None


def _norm(name: str) -> str:
    return " ".join(name.split()).casefold()


def _names(names: Collection[str]) -> list[str]:
    """The distinct non-blank names, first spelling kept, in order."""
    seen: dict[str, str] = {}
    for name in names:
        if name and name.strip():
            seen.setdefault(_norm(name), name.strip())
    return list(seen.values())


def _join(names: Sequence[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
