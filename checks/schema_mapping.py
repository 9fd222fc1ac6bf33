"""Schema mappings: how an upstream rename or retype is absorbed without touching the contract.

The contract a model was built on never changes. When the source starts sending a column
under a new name (or a number as text), a person records a mapping: a new version of the raw
contract's *reading*, not of the contract. Version 1 is the contract as the workflow declares
it; each recorded mapping is the next version and holds every rule in force from its
effective partition on (a later version supersedes an earlier one, it does not add to it).

Direction, always: the contract keeps its name (CONTRACT), upstream now sends another
(UPSTREAM), and the mapping renames UPSTREAM back to CONTRACT. A rename is written
``CONTRACT=UPSTREAM`` (``message_length=msg_len``). A retype rule converts a contract column
back to the contract's own logical type (``message_length=integer`` for "523 chars").

Plain functions: parse the rules, judge a mapping against the contract and what the source
sent, apply it to a frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd

# The logical types the schema check speaks (checks/schema_change.logical_type).
KNOWN_TYPES = ("integer", "float", "string", "datetime", "boolean")
FIRST_VERSION = 1  # the contract as declared; the first recorded mapping is version 2
# A number at the start of a text cell, optionally followed by a unit ("523", "523 chars").
_NUMBER = r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


class MappingRefused(ValueError):
    """A mapping that cannot be recorded or applied as written; the message says why."""


@dataclass(frozen=True)
class SchemaMapping:
    """One recorded version of the raw contract's reading."""

    version: int
    renames: dict[str, str]  # contract name -> the name upstream sends now
    retypes: dict[str, str]  # contract name -> the logical type to convert it back to
    effective_from: str  # the first partition it applies to
    reason: str
    actor: str
    at: str  # ISO instant, from the workflow clock
    contract: str  # the contract it reads for (its Config.name)

    def describe(self) -> str:
        """The rules in the direction they act: "msg_len -> message_length"."""
        parts = [f"{upstream} -> {contract}" for contract, upstream in self.renames.items()]
        parts += [f"{column} as {kind}" for column, kind in self.retypes.items()]
        return ", ".join(parts)

    def as_record(self) -> dict:
        return {
            "version": self.version,
            "renames": dict(self.renames),
            "retypes": dict(self.retypes),
            "effective_from": self.effective_from,
            "reason": self.reason,
            "actor": self.actor,
            "at": self.at,
            "contract": self.contract,
        }


def parse_pairs(items: Iterable[str], what: str, value_name: str) -> dict[str, str]:
    """``["a=b", ...]`` as a dict; a malformed item or a key given twice is refused."""
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise MappingRefused(
                f"{what} {item!r} must be written CONTRACT_COLUMN={value_name}, both non-empty"
            )
        if key in pairs:
            raise MappingRefused(f"{what}: column {key!r} is given twice ({pairs[key]}, {value})")
        pairs[key] = value
    return pairs


def validate_mapping(
    renames: Mapping[str, str],
    retypes: Mapping[str, str],
    contract: Mapping[str, str],
    observed: Mapping[str, str] | None,
    observed_in: str = "the source",
) -> None:
    """Refuse, naming every problem in one sentence each, a mapping that would not bring what
    the source sends back to the contract.

    `contract`: column -> logical type as the contract declares it; `observed`: column ->
    logical type as the source sent it (None when nothing was ingested to compare with);
    `observed_in` names where it was seen (a partition)."""
    problems: list[str] = []
    if not renames and not retypes:
        problems.append("a mapping needs at least one --rename or --retype rule")
    upstream_names: dict[str, str] = {}
    for name, upstream in renames.items():
        if name not in contract:
            hint = (
                f" (it is written CONTRACT=UPSTREAM: did you mean {upstream}={name}?)"
                if upstream in contract
                else ""
            )
            problems.append(f"rename {name}={upstream}: {name!r} is not a contract column{hint}")
            continue
        if upstream == name:
            problems.append(f"rename {name}={upstream}: a column renamed to itself")
            continue
        if upstream in contract:
            problems.append(
                f"rename {name}={upstream}: {upstream!r} is itself a contract column; renaming "
                "it would leave the contract without it"
            )
        if upstream in upstream_names:
            problems.append(
                f"renames {upstream_names[upstream]}={upstream} and {name}={upstream} would "
                f"both take {upstream!r}: the mapped frame would hold duplicate columns"
            )
        upstream_names[upstream] = name
        if observed is not None:
            if upstream not in observed:
                problems.append(
                    f"rename {name}={upstream}: {observed_in} sends no column {upstream!r} "
                    f"(it sends {', '.join(sorted(observed))})"
                )
            elif name in observed:
                problems.append(
                    f"rename {name}={upstream}: {observed_in} sends both {name!r} and "
                    f"{upstream!r}; renaming would create a duplicate column"
                )
    for name, kind in retypes.items():
        if kind not in KNOWN_TYPES:
            problems.append(
                f"retype {name}={kind}: unknown type {kind!r}; one of {', '.join(KNOWN_TYPES)}"
            )
            continue
        if name not in contract:
            problems.append(f"retype {name}={kind}: {name!r} is not a contract column")
            continue
        if contract[name] != kind:
            problems.append(
                f"retype {name}={kind}: the contract declares {name} {contract[name]}; a retype "
                f"converts back to the contract's type, never away from it"
            )
        sent_as = renames.get(name, name)
        if observed is not None and sent_as not in observed:
            problems.append(f"retype {name}={kind}: {observed_in} sends no column {sent_as!r}")
    if problems:
        raise MappingRefused("; ".join(problems))


def rules_apply(
    renames: Mapping[str, str], retypes: Mapping[str, str], observed: Mapping[str, str]
) -> bool:
    """True when what the source sent (`observed`: column -> logical type) is what the rules
    are for: every renamed column arrives under its upstream name, every retyped one under
    another type than the one it is converted to."""
    if any(upstream not in observed for upstream in renames.values()):
        return False
    for name, kind in retypes.items():
        sent = observed.get(renames.get(name, name))
        if sent is None or sent == kind:
            return False
    return bool(renames or retypes)


@dataclass
class MappedFrame:
    frame: pd.DataFrame
    applied: list[str] = field(default_factory=list)  # "msg_len -> message_length", ...
    skipped: list[str] = field(default_factory=list)  # rules that did not apply, and why
    unparsed: dict[str, int] = field(default_factory=dict)  # retyped column -> cells lost

    @property
    def changed(self) -> bool:
        return bool(self.applied)


def apply_mapping(
    df: pd.DataFrame, mapping: SchemaMapping, dtypes: Mapping[str, str]
) -> MappedFrame:
    """`df` read through `mapping`: renamed back to the contract's names (in place, so the
    column order stays the source's) and retyped to the contract's dtype (`dtypes`: column ->
    the contract's dtype, e.g. ``int64``). A rule the frame gives no occasion for is skipped
    and said so (a partition sent before the change); a cell a retype cannot read becomes
    null and is counted, so the contract, which judges the result, names it."""
    out = MappedFrame(df)
    renames = {}
    for name, upstream in mapping.renames.items():
        if upstream in df.columns and name not in df.columns:
            renames[upstream] = name
            out.applied.append(f"{upstream} -> {name}")
        elif upstream in df.columns:
            out.skipped.append(f"{upstream} -> {name}: both sent, left as sent")
        else:
            out.skipped.append(f"{upstream} -> {name}: no {upstream} sent")
    frame = df.rename(columns=renames) if renames else df
    for name, kind in mapping.retypes.items():
        if name not in frame.columns:
            out.skipped.append(f"{name} as {kind}: no {name} sent")
            continue
        converted, lost = _convert(frame[name], kind, dtypes.get(name))
        if converted is None:
            out.skipped.append(f"{name} as {kind}: already {kind}")
            continue
        frame = frame.copy() if frame is df else frame
        frame[name] = converted
        out.applied.append(f"{name} as {kind}")
        if lost:
            out.unparsed[name] = lost
    out.frame = frame
    return out


def _convert(s: pd.Series, kind: str, dtype: str | None) -> tuple[pd.Series | None, int]:
    """`s` as `kind` (the contract's `dtype` where it can hold the values), and how many
    non-null cells could not be read; None when `s` already has that type."""
    from checks.schema_change import logical_type  # within checks/: no Dagster, no workflow

    if logical_type(s.dtype) == kind:
        return None, 0
    present = s.notna()
    if kind in ("integer", "float"):
        text = s if pd.api.types.is_numeric_dtype(s) else s.astype("str").str.extract(_NUMBER)[0]
        values = pd.to_numeric(text.where(present), errors="coerce")
        lost = int((present & values.isna()).sum())
        if kind == "float":
            return values.astype(dtype or "float64"), lost
        fractional = int((values.notna() & (values != values.round())).sum())
        if lost or fractional or values.isna().any():
            # Nulls or fractions cannot be a plain integer column: left as floats, which the
            # contract then refuses by its dtype, naming the column.
            return values.astype("float64"), lost + fractional
        return values.astype(dtype or "int64"), 0
    if kind == "string":
        return s.astype("str").where(present, None).astype("str"), 0
    if kind == "datetime":
        values = pd.to_datetime(s.where(present), errors="coerce", utc=False)
        if dtype and dtype.startswith("datetime64"):
            values = values.astype(dtype)
        return values, int((present & values.isna()).sum())
    # boolean
    words = s.astype("str").str.strip().str.lower()
    values = pd.Series(pd.NA, index=s.index, dtype="boolean")
    values[words.isin(_TRUE) & present] = True
    values[words.isin(_FALSE) & present] = False
    lost = int((present & values.isna()).sum())
    return (values.astype("bool") if not values.isna().any() else values), lost


def mapping_in_force(mappings: Iterable[SchemaMapping], partition: str) -> SchemaMapping | None:
    """The newest version whose effective partition is at or before `partition` (partition
    keys are ISO dates, so they order as text)."""
    found = [m for m in mappings if m.effective_from <= partition]
    return max(found, key=lambda m: m.version) if found else None
