"""Stage 4, validation: block a reply the passages do not support or that breaks a rule.

The checks, all run (a verdict lists every reason, not just the first):

1. length: more than ``max_length`` characters;
2. forbidden phrases: a phrase of the rules as whole words, case-insensitive;
3. citation (when required): the reply must cite a passage as ``[n]``, and every ``[n]`` must
   name one of the passages given (1..len(passages));
4. claims: every claim of a kind in ``claim_kinds`` (``checks.stage_metrics.extract_claims``:
   numbers with their unit, named facts, sentences) must be supported by the passages
   (``claim_supported``). Citation markers are removed first: ``[2]`` is a reference, not a
   claim that something equals 2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from checks.stage_metrics import claim_supported, extract_claims, faithfulness
from workflows.reply_suggestions.config import ValidatorRules

_CITATION = re.compile(r"\[(\d+)\]")
_CITATION_WITH_SPACE = re.compile(r"\s*\[\d+\]")


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reasons: tuple[str, ...]


def citations(reply: str) -> list[int]:
    """The passage numbers the reply cites, in order of appearance."""
    return [int(n) for n in _CITATION.findall(reply)]


def strip_citations(reply: str) -> str:
    """The reply without its ``[n]`` markers (and the space before each)."""
    return _CITATION_WITH_SPACE.sub("", reply)


def reply_faithfulness(reply: str, passages: list[str]) -> float:
    """``checks.stage_metrics.faithfulness`` of the reply without its citation markers."""
    return faithfulness(strip_citations(reply), passages)


def validate(reply: str, passages: list[str], rules: ValidatorRules) -> Verdict:
    if not isinstance(reply, str) or not reply.strip():
        raise ValueError("validate needs a non-empty reply (a missing reply is not validated)")
    reasons: list[str] = []
    if len(reply) > rules.max_length:
        reasons.append(f"too long: {len(reply)} characters > {rules.max_length}")
    for phrase in rules.forbidden_phrases:
        words = r"\s+".join(re.escape(w) for w in phrase.split())
        if re.search(rf"(?<!\w){words}(?!\w)", reply, re.IGNORECASE):
            reasons.append(f"forbidden phrase: {phrase!r}")
    if rules.require_citation:
        cited = citations(reply)
        if not cited:
            reasons.append("no citation of a passage")
        bad = sorted({n for n in cited if not 1 <= n <= len(passages)})
        if bad:
            reasons.append(f"cites passage(s) {bad} but {len(passages)} were given")
    if rules.claim_kinds:
        for claim in extract_claims(strip_citations(reply)):
            if claim.kind in rules.claim_kinds and not claim_supported(claim, passages):
                reasons.append(f"unsupported {claim.kind} claim: {claim.text!r}")
    return Verdict(passed=not reasons, reasons=tuple(reasons))
