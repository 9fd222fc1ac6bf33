"""A deterministic simulated support-ticket CRM that lands one table per day in a SQL database.

The source system the project monitors: each day's export is its own table
``crm_tickets_YYYYMMDD`` (a landing-zone / sharded-table pattern, so one day's schema change is
confined to that day), ``crm_batches`` lists what landed and ``crm_outcomes`` holds whether a
ticket was escalated, known ``label_delay_days`` (+- up to one day) after the ticket.

Everything is a pure function of ``(seed, day, incidents)``: a day's rows are drawn from RNG
streams derived with ``numpy.random.SeedSequence([seed, day.toordinal()])``, so the same seed and
day give identical rows whichever other days were generated. Distributions are stationary across
days and weekdays; only the volume has weekly seasonality.

Generated frames use the dtypes the extraction resource returns for a clean day: ``str`` for text,
``int64``/``float64`` for numbers and ``datetime64[ns]`` (naive UTC) for ``created_at``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from resources.masking import mask
from workflows.ticket_escalation.simulation import incidents as inc
from workflows.ticket_escalation.simulation.incidents import Incident
from workflows.ticket_escalation.simulation.vocabulary import (
    BATCHES_TABLE,
    CHANNEL_SHARES,
    OUTCOME_COLUMNS,
    OUTCOMES_TABLE,
    PLAN_TIER_SHARES,
    PRIORITY_SHARES_BY_TIER,
    PRODUCT_SHARES,
    REGION_SHARES,
    TABLE_PREFIX,
    TICKET_COLUMNS,
)

# --- volume ------------------------------------------------------------------------------------

WEEKDAY_MEAN = 2250.0  # Mon-Fri
WEEKEND_MEAN = 1350.0  # Sat, Sun  -> weekly average ~1,993 tickets/day
MAX_DAILY_TICKETS = 9_000_000  # seven-digit ticket ids (scale up to ~4,000)

# Relative ticket arrivals per UTC hour: business hours busiest, never zero (global customers),
# so the newest ticket of a day lands a few minutes before midnight.
HOUR_WEIGHTS = np.array(
    [1.0, 0.8, 0.7, 0.7, 0.8, 1.0, 1.6, 2.4, 3.6, 4.6, 5.0, 5.0]
    + [4.4, 4.8, 5.0, 4.8, 4.3, 3.6, 2.8, 2.3, 2.0, 1.7, 1.4, 1.2]
)
HOUR_SHARES = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()

# --- numeric features --------------------------------------------------------------------------

ACCOUNT_AGE_MEDIAN_BY_TIER = {"free": 120.0, "basic": 300.0, "pro": 520.0, "enterprise": 900.0}
PRIOR_TICKETS_MEAN_BY_TIER = {"free": 0.6, "basic": 1.0, "pro": 1.8, "enterprise": 3.5}
MESSAGE_LENGTH_MEDIAN = 420.0
FIRST_RESPONSE_MEDIAN_BY_PRIORITY = {"low": 480.0, "normal": 180.0, "high": 45.0, "urgent": 12.0}
FIRST_RESPONSE_FACTOR_BY_CHANNEL = {
    "email": 1.0,
    "chat": 0.15,
    "phone": 0.1,
    "web_form": 1.1,
    "social": 0.6,
}
SENTIMENT_MEAN_BY_PRIORITY = {"low": 0.05, "normal": -0.08, "high": -0.25, "urgent": -0.4}
SENTIMENT_NULL_RATE = 0.015  # the sentiment service fails now and then

# --- outcome model (logistic) ------------------------------------------------------------------

OUTCOME_COEFFICIENTS: dict[str, Any] = {
    "intercept": -2.3,
    "priority": {"low": -0.9, "normal": 0.0, "high": 0.8, "urgent": 1.6},
    "plan_tier": {"free": -0.4, "basic": 0.0, "pro": 0.3, "enterprise": 0.7},
    "product": {
        "billing": 0.25,
        "mobile_app": 0.0,
        "web_app": -0.1,
        "api": 0.35,
        "integrations": 0.3,
        "hardware": 0.5,
    },
    "channel": {"email": 0.0, "chat": -0.2, "phone": 0.2, "web_form": -0.1, "social": 0.4},
    "sentiment": -1.5,  # per unit sentiment; a missing sentiment counts as neutral (0)
    "prior_tickets_90d": 0.18,  # per prior ticket, capped at 10
    "log_message_length": 0.4,  # per unit of log(length / 420)
    "log_first_response": 0.35,  # per unit of log1p(minutes) - log1p(120)
}

# --- subjects ----------------------------------------------------------------------------------

SUBJECT_TEMPLATES: dict[str, list[str]] = {
    "billing": [
        "Refund not received for invoice {n}",
        "Charged twice on card ending {n4}",
        "Question about my {month} invoice",
        "Cannot update payment method",
        "Invoice {n} shows the wrong amount",
        "How do I cancel my subscription?",
    ],
    "mobile_app": [
        "App crashes on launch after update {ver}",
        "Cannot log in on {device}",
        "Push notifications stopped working",
        "App very slow since version {ver}",
        "Sync fails with error {code}",
    ],
    "web_app": [
        "Dashboard does not load in {browser}",
        "Error {code} when saving changes",
        "Cannot reset my password",
        "Export to CSV is missing rows",
        "Page times out after login",
    ],
    "api": [
        "API returns {http} for /v2/orders",
        "Rate limit hit at {n} requests per minute",
        "Webhook deliveries delayed",
        "Authentication token expires early",
        "Pagination skips records on page {small}",
    ],
    "integrations": [
        "Salesforce sync stopped on {month} {day}",
        "Slack integration posts duplicates",
        "Zapier trigger not firing",
        "Cannot connect Google Drive account",
        "Jira tickets not created from alerts",
    ],
    "hardware": [
        "Device {serial} will not power on",
        "Replacement unit for order {n} not shipped",
        "Scanner firmware update failed",
        "Battery drains within {small} hours",
        "Damaged on arrival, order {n}",
    ],
}
_MONTHS = ["January", "February", "March", "April", "May", "June"] + [
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DEVICES = ["iPhone 15", "Pixel 8", "Galaxy S23", "iPad Air", "OnePlus 12"]
_BROWSERS = ["Chrome", "Firefox", "Safari", "Edge"]
_HTTP = ["500", "502", "503", "429", "401"]

# RNG streams spawned from SeedSequence([seed, ordinal]); the order is part of the contract.
_STREAMS = ("volume", "features", "outcome", "delay", "incidents")


def table_name(day: dt.date, prefix: str = TABLE_PREFIX) -> str:
    """``crm_tickets_YYYYMMDD`` for ``day``."""
    return f"{prefix}{day:%Y%m%d}"


def expected_volume(day: dt.date, scale: float = 1.0) -> float:
    """Mean number of tickets on ``day`` (Poisson noise is added on top); ``scale`` multiplies
    the desk's size and keeps every shape (weekly season, feature mixes, label delays)."""
    return scale * (WEEKEND_MEAN if day.weekday() >= 5 else WEEKDAY_MEAN)


def check_scale(scale: float) -> float:
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0:
        raise ValueError(f"scale must be a number above 0, got {scale!r}")
    if expected_volume(dt.date(2026, 1, 5), scale) >= MAX_DAILY_TICKETS:
        raise ValueError(
            f"scale {scale} gives about {expected_volume(dt.date(2026, 1, 5), scale):,.0f} "
            f"tickets a day; ticket ids hold at most {MAX_DAILY_TICKETS:,} a day"
        )
    return float(scale)


def _day_streams(seed: int, day: dt.date) -> dict[str, np.random.SeedSequence]:
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    base = np.random.SeedSequence([int(seed), day.toordinal()])
    return dict(zip(_STREAMS, base.spawn(len(_STREAMS)), strict=True))


def _as_date(day: dt.date | str) -> dt.date:
    if isinstance(day, dt.datetime):
        return day.date()
    if isinstance(day, dt.date):
        return day
    return dt.date.fromisoformat(str(day))


def _pick(rng: np.random.Generator, shares: Mapping[str, float], size: int) -> np.ndarray:
    values = np.array(list(shares), dtype=object)
    p = np.array(list(shares.values()), dtype=float)
    return values[rng.choice(len(values), size=size, p=p / p.sum())]


def _text(values: Sequence[Any] | np.ndarray) -> Any:
    """Values as pandas' default string dtype (``str``, NaN for missing), as extraction gives."""
    return pd.array(np.asarray(values, dtype=object), dtype="str")


def _subjects(rng: np.random.Generator, products: np.ndarray) -> list[str]:
    n = len(products)
    pick = rng.random(n)
    fills = {
        "n": rng.integers(1000, 10000, n),
        "n4": rng.integers(1000, 10000, n),
        "small": rng.integers(2, 13, n),
        "code": rng.integers(100, 1000, n),
        "serial": rng.integers(10**7, 10**8, n),
        "month": rng.integers(0, 12, n),
        "day": rng.integers(1, 29, n),
        "device": rng.integers(0, len(_DEVICES), n),
        "browser": rng.integers(0, len(_BROWSERS), n),
        "http": rng.integers(0, len(_HTTP), n),
        "ver": rng.integers(0, 40, n),
    }
    out = []
    for i, product in enumerate(products):
        templates = SUBJECT_TEMPLATES[product]
        template = templates[int(pick[i] * len(templates))]
        out.append(
            template.format(
                n=fills["n"][i],
                n4=fills["n4"][i],
                small=fills["small"][i],
                code=f"E{fills['code'][i]}",
                serial=f"SN{fills['serial'][i]}",
                month=_MONTHS[fills["month"][i]],
                day=fills["day"][i],
                device=_DEVICES[fills["device"][i]],
                browser=_BROWSERS[fills["browser"][i]],
                http=_HTTP[fills["http"][i]],
                ver=f"4.{fills['ver'][i]}",
            )
        )
    return out


def _clean_tickets(day: dt.date, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """The day's tickets as the CRM holds them, before any incident."""
    hours = rng.choice(24, size=n, p=HOUR_SHARES)
    seconds = np.sort(hours * 3600 + rng.integers(0, 3600, size=n))
    created_at = (np.datetime64(day.isoformat(), "s") + seconds.astype("timedelta64[s]")).astype(
        "datetime64[ns]"
    )
    # Six digits at the desk's size (the ids every earlier day has); wider at a larger scale,
    # so a bad_labels incident's unknown ids (six digits from 900000) still match none.
    width = 6 if n < 900_000 else 7
    ticket_id = [f"T{day:%Y%m%d}-{i:0{width}d}" for i in range(1, n + 1)]
    # Repeat customers: most tickets come from a pool of active customers.
    active = rng.random(n) < 0.6
    customer_idx = np.where(active, rng.integers(1, 40_000, n), rng.integers(1, 3_000_000, n))
    customer_id = [f"C{i:07d}" for i in customer_idx]

    channel = _pick(rng, CHANNEL_SHARES, n)
    product = _pick(rng, PRODUCT_SHARES, n)
    region = _pick(rng, REGION_SHARES, n)
    plan_tier = _pick(rng, PLAN_TIER_SHARES, n)
    priority = np.empty(n, dtype=object)
    u = rng.random(n)
    for tier, shares in PRIORITY_SHARES_BY_TIER.items():
        mask = plan_tier == tier
        cum = np.cumsum(list(shares.values()))
        priority[mask] = np.array(list(shares), dtype=object)[
            np.minimum(np.searchsorted(cum, u[mask], side="right"), len(cum) - 1)
        ]

    age_median = np.array([ACCOUNT_AGE_MEDIAN_BY_TIER[t] for t in plan_tier])
    account_age_days = np.clip(np.floor(age_median * rng.lognormal(0.0, 0.9, n)), 0, 365 * 50)
    prior_mean = np.array([PRIOR_TICKETS_MEAN_BY_TIER[t] for t in plan_tier])
    prior_tickets = rng.poisson(prior_mean * rng.gamma(4.0, 0.25, n))
    message_length = np.clip(
        np.rint(MESSAGE_LENGTH_MEDIAN * rng.lognormal(0.0, 0.75, n)), 1, 20_000
    )
    response_median = np.array([FIRST_RESPONSE_MEDIAN_BY_PRIORITY[p] for p in priority]) * np.array(
        [FIRST_RESPONSE_FACTOR_BY_CHANNEL[c] for c in channel]
    )
    first_response = np.clip(np.round(response_median * rng.lognormal(0.0, 0.55, n), 1), 0, 43_200)
    sentiment_mean = np.array([SENTIMENT_MEAN_BY_PRIORITY[p] for p in priority])
    sentiment = np.round(np.clip(rng.normal(sentiment_mean, 0.35), -1.0, 1.0), 3)
    sentiment[rng.random(n) < SENTIMENT_NULL_RATE] = np.nan
    subject = _subjects(rng, product)

    return pd.DataFrame(
        {
            "ticket_id": _text(ticket_id),
            "created_at": pd.Series(created_at, dtype="datetime64[ns]"),
            "customer_id": _text(customer_id),
            "channel": _text(channel),
            "product": _text(product),
            "region": _text(region),
            "plan_tier": _text(plan_tier),
            "priority": _text(priority),
            "account_age_days": account_age_days.astype("int64"),
            "prior_tickets_90d": prior_tickets.astype("int64"),
            "message_length": message_length.astype("int64"),
            "first_response_minutes": first_response.astype("float64"),
            "sentiment": sentiment.astype("float64"),
            "subject": _text(subject),
        },
        columns=TICKET_COLUMNS,
    )


def _coefficients(strength: float) -> dict[str, Any]:
    """Outcome coefficients under concept drift: every feature effect scaled by 1 - 2*strength.

    strength 0 is the clean model, 0.5 removes every effect, 1 flips every effect.
    """
    scale = 1.0 - 2.0 * strength
    out: dict[str, Any] = {}
    for name, value in OUTCOME_COEFFICIENTS.items():
        if name == "intercept":
            out[name] = value
        elif isinstance(value, dict):
            out[name] = {k: v * scale for k, v in value.items()}
        else:
            out[name] = value * scale
    return out


def _logit_without_intercept(tickets: pd.DataFrame, coef: Mapping[str, Any]) -> np.ndarray:
    z = np.zeros(len(tickets))
    for col in ("priority", "plan_tier", "product", "channel"):
        # An unseen category value has no effect.
        z += tickets[col].map(coef[col]).astype("float64").fillna(0.0).to_numpy()
    z += coef["sentiment"] * tickets["sentiment"].fillna(0.0).to_numpy(dtype="float64")
    prior = np.minimum(tickets["prior_tickets_90d"].to_numpy(dtype="float64"), 10)
    z += coef["prior_tickets_90d"] * prior
    length = np.maximum(tickets["message_length"].to_numpy(dtype="float64"), 1.0)
    z += coef["log_message_length"] * np.log(length / MESSAGE_LENGTH_MEDIAN)
    response = np.maximum(tickets["first_response_minutes"].to_numpy(dtype="float64"), 0.0)
    z += coef["log_first_response"] * (np.log1p(response) - np.log1p(120.0))
    return z


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def escalation_probability(tickets: pd.DataFrame, drift_strength: float = 0.0) -> np.ndarray:
    """P(escalated) per ticket under the clean model, or under concept drift of a strength.

    Under drift the intercept is re-solved so the day's mean probability equals the clean model's:
    the escalation *rate* stays put and only the link between features and outcome changes.
    """
    clean = OUTCOME_COEFFICIENTS
    p_clean = _sigmoid(clean["intercept"] + _logit_without_intercept(tickets, clean))
    if drift_strength == 0.0 or len(tickets) == 0:
        return p_clean
    z = _logit_without_intercept(tickets, _coefficients(drift_strength))
    target = p_clean.mean()
    lo, hi = -20.0, 20.0
    for _ in range(60):  # bisection on the intercept; mean(sigmoid) is monotone in it
        mid = (lo + hi) / 2
        if _sigmoid(mid + z).mean() < target:
            lo = mid
        else:
            hi = mid
    return _sigmoid((lo + hi) / 2 + z)


def _outcomes(
    tickets: pd.DataFrame,
    uniforms: np.ndarray,
    delay_jitter: np.ndarray,
    label_delay_days: int,
    drift_strength: float,
) -> pd.DataFrame:
    p = escalation_probability(tickets, drift_strength)
    delay_days = np.maximum(label_delay_days + delay_jitter, 0.0)
    delay = pd.to_timedelta(np.rint(delay_days * 86_400).astype("int64"), unit="s")
    known_at = (tickets["created_at"] + delay).astype("datetime64[ns]")
    return pd.DataFrame(
        {
            "ticket_id": tickets["ticket_id"].astype("str"),
            "escalated": (uniforms < p).astype("int64"),
            "known_at": known_at,
        },
        columns=OUTCOME_COLUMNS,
    ).reset_index(drop=True)


def generate_day(
    day: dt.date,
    seed: int,
    incidents: Iterable[Incident] = (),
    *,
    label_delay_days: int = 3,
    scale: float = 1.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The batch the CRM lands for ``day`` and the outcomes of its tickets. Pure, no I/O.
    ``scale`` multiplies the day's volume (:func:`expected_volume`).

    Returns ``(tickets, outcomes)``. ``tickets`` has :data:`TICKET_COLUMNS` (unless a schema
    change renames/drops/retypes one) sorted by ``created_at``. ``outcomes`` has one row per
    distinct ticket of this day that landed in the batch: ``ticket_id`` (str), ``escalated``
    (int64 0/1) and ``known_at`` (datetime64[ns]), which is ``created_at`` plus
    ``label_delay_days`` +- a uniform jitter of up to one day (never before ``created_at``).

    Incidents apply only on their day, except ``concept_drift`` which applies for its ``days``.
    "World" incidents (covariate_shift, unseen_category) change the tickets themselves, so the
    outcomes follow through the unchanged model; "pipeline" incidents (schema_change, volume_drop,
    stale_feed, null_flood, duplicate_rows) change only what lands, and outcomes are computed
    from the true values. A stale feed lands no ticket of this day, so it has no outcomes.

    A ``bad_labels`` incident appends its bad rows (all known on ``day``) after those outcomes,
    ordered by ``known_at``: see :func:`.incidents.apply_label_incidents`.
    They are the only outcome rows that are not one per ticket of this day: labels for ids
    ``T<day>-9xxxxx`` that no ticket has, and second labels for tickets of the last
    ``label_delay_days + 2`` days (the same value again for a ticket labelled before ``day``;
    -1 or 2 for one whose clean label is known on ``day`` too).
    """
    day = _as_date(day)
    incidents = tuple(incidents)
    for incident in incidents:
        if not isinstance(incident, Incident):
            raise TypeError(f"incidents must be Incident objects, got {incident!r}")
    if isinstance(label_delay_days, bool) or not isinstance(label_delay_days, int):
        raise ValueError(f"label_delay_days must be an int, got {label_delay_days!r}")
    if label_delay_days < 0:
        raise ValueError(f"label_delay_days must be >= 0, got {label_delay_days}")
    return _generate(
        day, seed, incidents, label_delay_days, label_incidents=True, scale=check_scale(scale)
    )


def _generate(
    day: dt.date,
    seed: int,
    incidents: tuple[Incident, ...],
    label_delay_days: int,
    *,
    label_incidents: bool,
    scale: float = 1.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``generate_day`` on checked arguments; without bad_labels rows unless ``label_incidents``."""
    streams = _day_streams(seed, day)

    n = int(np.random.default_rng(streams["volume"]).poisson(expected_volume(day, scale)))
    tickets = _clean_tickets(day, n, np.random.default_rng(streams["features"]))
    uniforms = np.random.default_rng(streams["outcome"]).random(n)
    jitter = np.random.default_rng(streams["delay"]).uniform(-1.0, 1.0, n)

    # One RNG stream per incident of the day, in the order they were given.
    todays = inc.incidents_on(incidents, day)
    children = streams["incidents"].spawn(len(todays))
    todays_rngs = [(i, np.random.default_rng(s)) for i, s in zip(todays, children, strict=True)]

    tickets = inc.apply_world_incidents(tickets, todays_rngs)
    outcomes = _outcomes(
        tickets, uniforms, jitter, label_delay_days, inc.drift_strength_on(incidents, day)
    )

    def earlier(days_back: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        return _generate(
            day - dt.timedelta(days=days_back),
            seed,
            incidents,
            label_delay_days,
            label_incidents=False,
            scale=scale,
        )

    landed = inc.apply_row_incidents(tickets, todays_rngs, lambda: earlier(1)[0])
    outcomes = outcomes[outcomes["ticket_id"].isin(set(landed["ticket_id"].dropna()))]
    landed = inc.apply_value_incidents(landed, todays_rngs)
    outcomes = outcomes.reset_index(drop=True)
    if label_incidents:

        def recent_labels() -> pd.DataFrame:
            back = range(label_delay_days + 2, 0, -1)
            return pd.concat([*(earlier(k)[1] for k in back), outcomes], ignore_index=True)

        bad = inc.apply_label_incidents(day, todays_rngs, recent_labels)
        if len(bad):
            bad = bad.sort_values("known_at", kind="stable")
            outcomes = pd.concat([outcomes, bad], ignore_index=True)
    return landed.reset_index(drop=True), outcomes


# --- writing the source database ---------------------------------------------------------------

_METADATA = sa.MetaData()
BATCHES = sa.Table(
    BATCHES_TABLE,
    _METADATA,
    sa.Column("batch_date", sa.Text, primary_key=True),
    sa.Column("table_name", sa.Text, nullable=False),
    sa.Column("row_count", sa.Integer, nullable=False),
    sa.Column("written_at", sa.Text, nullable=False),
)
OUTCOMES = sa.Table(
    OUTCOMES_TABLE,
    _METADATA,
    sa.Column("ticket_id", sa.Text, nullable=False, index=True),
    sa.Column("escalated", sa.Integer, nullable=False),
    sa.Column("known_at", sa.Text, nullable=False, index=True),
)
_ISO_SECONDS = "%Y-%m-%dT%H:%M:%S"
_VALID_ESCALATED = (0, 1)


def _day_bounds(day: dt.date) -> tuple[str, str]:
    """``[day 00:00, next day 00:00)`` as ISO text bounds for ``known_at``."""
    start = dt.datetime.combine(day, dt.time())
    return start.strftime(_ISO_SECONDS), (start + dt.timedelta(days=1)).strftime(_ISO_SECONDS)


def _has_earlier_valid_label() -> sa.Exists:
    """The outcome row's ticket has a 0/1 label known strictly before it (correlated)."""
    earlier = OUTCOMES.alias("earlier")
    return sa.exists().where(
        earlier.c.ticket_id == OUTCOMES.c.ticket_id,
        earlier.c.known_at < OUTCOMES.c.known_at,
        earlier.c.escalated.in_(_VALID_ESCALATED),
    )


def _outcomes_owned_by(day: dt.date) -> sa.ColumnElement[bool]:
    """The ``crm_outcomes`` rows that ``write_day(day)`` replaces.

    * the outcomes of the day's tickets (their ids carry its date; this includes the unknown ids
      ``T<day>-9xxxxx`` of a bad_labels incident): the first 0/1 label of each, so a later
      bad_labels day's copies of them are left alone;
    * the other bad rows a bad_labels incident added on the day: rows known on the day whose
      value is not 0/1, or whose ticket already had a 0/1 label before.
    """
    lo, hi = _day_bounds(day)
    valid = OUTCOMES.c.escalated.in_(_VALID_ESCALATED)
    first_labels_of_its_tickets = sa.and_(
        OUTCOMES.c.ticket_id.like(f"T{day:%Y%m%d}-%"), valid, ~_has_earlier_valid_label()
    )
    bad_rows_known_that_day = sa.and_(
        OUTCOMES.c.known_at >= lo,
        OUTCOMES.c.known_at < hi,
        sa.or_(~valid, _has_earlier_valid_label()),
    )
    return sa.or_(first_labels_of_its_tickets, bad_rows_known_that_day)


def _drop_copies_without_original(
    conn: sa.Connection, day: dt.date, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Drop the bad_labels copies (0/1 rows for another day's ticket) whose ticket has no 0/1
    label known before ``day`` in the database, e.g. because its day was never written: such a
    row would be no duplicate, and ``_outcomes_owned_by`` could not tell it from a clean one."""
    own = f"T{day:%Y%m%d}-"
    copies = {
        r["ticket_id"]
        for r in rows
        if not r["ticket_id"].startswith(own) and r["escalated"] in _VALID_ESCALATED
    }
    if not copies:
        return rows
    lo, _ = _day_bounds(day)
    query = sa.select(OUTCOMES.c.ticket_id).where(
        OUTCOMES.c.ticket_id.in_(sorted(copies)),
        OUTCOMES.c.known_at < lo,
        OUTCOMES.c.escalated.in_(_VALID_ESCALATED),
    )
    originals = set(conn.execute(query).scalars())
    return [r for r in rows if r["ticket_id"] not in copies - originals]


def _make_sqlite_ddl_transactional(engine: sa.Engine) -> None:
    """Python's sqlite3 driver commits DDL (``DROP``/``CREATE TABLE``) on the spot, so a failed
    ``write_day`` could leave a replaced table behind. SQLAlchemy's documented recipe: switch
    the driver's own transaction handling off and emit ``BEGIN`` ourselves."""

    @sa.event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN")


class CrmSimulator:
    """Writes simulated daily batches into a SQL database (any SQLAlchemy URL).

    ``write_day`` replaces that day's table, its ``crm_batches`` row and its tickets' outcomes in
    one transaction: this is the source system, re-landing a day overwrites it. The bad rows of a
    ``bad_labels`` incident belong to the day they are known on and are replaced with it; a
    re-delivered label is written only if its ticket's first label is in the database (write the
    earlier days first).
    ``written_at`` is the wall-clock time (naive UTC, ISO text) the batch was written.
    ``known_at`` is stored as ISO text ``YYYY-MM-DDTHH:MM:SS`` (naive UTC), which sorts and
    compares correctly as text on every backend.
    """

    def __init__(
        self, url: str, seed: int = 7, label_delay_days: int = 3, scale: float = 1.0
    ) -> None:
        _day_streams(seed, dt.date(2000, 1, 1))  # validates the seed
        self.scale = check_scale(scale)
        if isinstance(label_delay_days, bool) or not isinstance(label_delay_days, int):
            raise ValueError(f"label_delay_days must be an int, got {label_delay_days!r}")
        if label_delay_days < 0:
            raise ValueError(f"label_delay_days must be >= 0, got {label_delay_days}")
        self.url = url
        self.seed = int(seed)
        self.label_delay_days = label_delay_days
        self.engine = sa.create_engine(url)
        if self.engine.dialect.name == "sqlite":
            _make_sqlite_ddl_transactional(self.engine)

    def __repr__(self) -> str:
        return f"CrmSimulator({mask(self.url, self.url)!r}, seed={self.seed})"

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> CrmSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def generate(
        self, day: dt.date, incidents: Iterable[Incident] = ()
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``generate_day`` with this simulator's seed and label delay (no I/O)."""
        return generate_day(
            day, self.seed, incidents, label_delay_days=self.label_delay_days, scale=self.scale
        )

    def write_day(self, day: dt.date, incidents: Iterable[Incident] = ()) -> int:
        """Land ``day``'s batch (replacing any earlier one); return the number of ticket rows."""
        day = _as_date(day)
        tickets, outcomes = self.generate(day, incidents)
        name = table_name(day)
        written_at = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")
        outcome_rows = [
            {"ticket_id": t, "escalated": int(e), "known_at": k.strftime(_ISO_SECONDS)}
            for t, e, k in zip(
                outcomes["ticket_id"], outcomes["escalated"], outcomes["known_at"], strict=True
            )
        ]
        with self.engine.begin() as conn:
            _METADATA.create_all(conn, checkfirst=True)
            tickets.to_sql(name, conn, if_exists="replace", index=False, chunksize=5_000)
            conn.execute(sa.delete(BATCHES).where(BATCHES.c.batch_date == day.isoformat()))
            conn.execute(
                sa.insert(BATCHES).values(
                    batch_date=day.isoformat(),
                    table_name=name,
                    row_count=len(tickets),
                    written_at=written_at,
                )
            )
            # Outcomes belong to the day whose ticket ids carry its date; bad_labels rows to the
            # day they are known on.
            conn.execute(sa.delete(OUTCOMES).where(_outcomes_owned_by(day)))
            outcome_rows = _drop_copies_without_original(conn, day, outcome_rows)
            if outcome_rows:
                conn.execute(sa.insert(OUTCOMES), outcome_rows)
        return len(tickets)

    def write_days(
        self, start: dt.date, end: dt.date, incidents: Iterable[Incident] = ()
    ) -> dict[dt.date, int]:
        """Land every day from ``start`` to ``end`` inclusive; return rows written per day."""
        start, end = _as_date(start), _as_date(end)
        if end < start:
            raise ValueError(f"end {end} is before start {start}")
        incidents = tuple(incidents)
        written = {}
        day = start
        while day <= end:
            written[day] = self.write_day(day, incidents)
            day += dt.timedelta(days=1)
        return written

    def outcomes_known_by(self, when: dt.datetime) -> pd.DataFrame:
        """Outcomes with ``known_at <= when``: ticket_id (str), escalated (int64), known_at
        (datetime64[ns], naive UTC), ordered by known_at then ticket_id. ``when`` may be naive
        (taken as UTC), tz-aware (converted to UTC) or a date (its midnight)."""
        if not isinstance(when, dt.datetime):
            when = dt.datetime.combine(_as_date(when), dt.time())
        if when.tzinfo is not None:
            when = when.astimezone(dt.UTC).replace(tzinfo=None)
        cutoff = when.strftime(_ISO_SECONDS)  # known_at has whole seconds, so this is exact
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table(OUTCOMES_TABLE):
                rows: list[Any] = []
            else:
                query = (
                    sa.select(OUTCOMES.c.ticket_id, OUTCOMES.c.escalated, OUTCOMES.c.known_at)
                    .where(OUTCOMES.c.known_at <= cutoff)
                    .order_by(OUTCOMES.c.known_at, OUTCOMES.c.ticket_id)
                )
                rows = conn.execute(query).all()
        return pd.DataFrame(
            {
                "ticket_id": _text([r[0] for r in rows]),
                "escalated": np.array([r[1] for r in rows], dtype="int64"),
                "known_at": pd.to_datetime([r[2] for r in rows], format=_ISO_SECONDS).astype(
                    "datetime64[ns]"
                ),
            },
            columns=OUTCOME_COLUMNS,
        )
