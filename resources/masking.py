"""The one masking function: every URL or URI the project prints or stores passes through
:func:`mask` first.

What is hidden (replaced by ``***``), and what stays so that a message still says where:

* the password of ``user:password@`` (the user, scheme, host, port and database stay);
* the value of every query (or fragment) parameter whose name is secret-like: ``password``,
  ``token``, ``api_key``, ``sig``, ``client_secret``, ``X-Amz-Signature``... (see
  :func:`secret_name`);
* in web URLs (http, https, ws, wss), the path segments of a webhook (every segment after
  ``hooks``, ``webhooks``, ``webhookb2``..., or after the first one on a ``hooks.*`` host, as
  Slack's ``/services/T000/B000/XXXX`` is) and any segment that looks like a token (long and
  random-looking: see :func:`token_like`).

Also hidden outside URLs: ``password=...`` pairs of a libpq keyword/value string. A driver or an
HTTP library may quote a secret without its URL (``Max retries exceeded with url:
/hooks/<token>``): pass the URLs a message may be about to :func:`mask`, and every secret they
hold is blanked wherever it appears. Masking is idempotent and never raises.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

MASK = "***"

# A URL in running text: a scheme, "://", then anything up to whitespace, a quote or a bracket
# (a URL in a sentence, a repr, a JSON value or a log line).
_URL = re.compile(r"(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`\\()\[\]{}]*")
_WEB_SCHEMES = frozenset({"http", "https", "ws", "wss"})
# Names of path segments after which every segment of a web URL is the webhook's secret.
_HOOK_SEGMENTS = frozenset({"hooks", "hook", "webhooks", "webhook", "webhookb2", "incomingwebhook"})
# Parts of a parameter name that make its value a secret (matched in the lower-cased name).
_SECRET_PARTS = (
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "signature",
    "credential",
    "auth",
    "private",
)
_SECRET_NAMES = frozenset({"pwd", "pass", "sig", "key", "sas", "jwt", "session", "sessionid"})
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-+=]+")
_TOKEN_MIN_LENGTH = 16
# libpq keyword/value strings ("host=db password=s3cret dbname=crm"), outside any URL.
_DSN_PASSWORD = re.compile(
    r"(?i)\b((?:ssl)?(?:password|passwd|pwd)\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&;,'\"]+)"
)
# Shorter values are not blanked in free text (they would blank ordinary words); inside a URL
# every secret is masked whatever its length.
_FREE_TEXT_MIN_LENGTH = 4


def secret_name(name: str) -> bool:
    """Whether a query parameter called `name` holds a secret (case-insensitive)."""
    lowered = unquote(name).strip().lower()
    if lowered in _SECRET_NAMES or lowered.endswith(("key", "_sig")):
        return True
    return any(part in lowered for part in _SECRET_PARTS)


def token_like(segment: str) -> bool:
    """A path segment that looks like a token: at least 16 characters of a token's alphabet
    mixing at least two of lower case, upper case and digits (so plain words and dates stay)."""
    if len(segment) < _TOKEN_MIN_LENGTH or not _TOKEN_CHARS.fullmatch(segment):
        return False
    classes = (
        any(c.islower() for c in segment),
        any(c.isupper() for c in segment),
        any(c.isdigit() for c in segment),
    )
    return sum(classes) >= 2


class _Parts:
    """A URL split the way it is masked: scheme, userinfo, host[:port], path, query, fragment.
    Lenient on purpose (SQLAlchemy accepts a raw '/' or '?' in a password; urlsplit refuses
    some ports): it never raises."""

    def __init__(self, url: str):
        self.scheme, _, rest = url.partition("://")
        self.user: str | None = None
        self.password: str | None = None
        # "user:password@" or "user@"; no '@' in a password, as SQLAlchemy reads it.
        userinfo = re.match(r"([^:/?#@]*)(?::([^@]*))?@", rest)
        if userinfo:
            self.user, self.password = userinfo.group(1), userinfo.group(2)
            rest = rest[userinfo.end() :]
        cut = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
        self.host, rest = rest[:cut], rest[cut:]
        rest, hashmark, self.fragment = rest.partition("#")
        self.path, question, self.query = rest.partition("?")
        self.has_query, self.has_fragment = bool(question), bool(hashmark)

    @property
    def web(self) -> bool:
        return self.scheme.lower() in _WEB_SCHEMES

    def secret_segments(self) -> list[int]:
        """Indexes (in path.split('/')) of the path segments that are a webhook's secret."""
        if not self.web:
            return []
        segments = self.path.split("/")
        named = [i for i, s in enumerate(segments) if s]
        hooks_host = self.host.lower().split(":")[0].startswith("hooks.")
        chosen: set[int] = set(named[1:]) if hooks_host else set()
        after_hook = False
        for i in named:
            if not after_hook and _run_id_after_runs(segments, i):
                continue  # a Dagster run page (`/runs/<uuid>`): an id, not a credential
            if after_hook or token_like(unquote(segments[i])):
                chosen.add(i)
            if segments[i].lower() in _HOOK_SEGMENTS:
                after_hook = True
        return sorted(i for i in chosen if segments[i] != MASK)


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _run_id_after_runs(segments: list[str], i: int) -> bool:
    return i > 0 and segments[i - 1] == "runs" and bool(_UUID.fullmatch(segments[i]))


def _secret_values(params: str) -> list[tuple[int, str]]:
    """(index, value) of every secret parameter in a '&'-joined query or fragment."""
    found = []
    for i, pair in enumerate(params.split("&")):
        name, eq, value = pair.partition("=")
        if eq and value and value != MASK and secret_name(name):
            found.append((i, value))
    return found


def _mask_params(params: str) -> str:
    pairs = params.split("&")
    for i, _ in _secret_values(params):
        pairs[i] = pairs[i].partition("=")[0] + "=" + MASK
    return "&".join(pairs)


def _mask_url(url: str) -> str:
    parts = _Parts(url)
    out = parts.scheme + "://"
    if parts.user is not None:
        out += parts.user + (f":{MASK}" if parts.password is not None else "") + "@"
    segments = parts.path.split("/")
    for i in parts.secret_segments():
        segments[i] = MASK
    out += parts.host + "/".join(segments)
    if parts.has_query:
        out += "?" + _mask_params(parts.query)
    if parts.has_fragment:
        out += "#" + _mask_params(parts.fragment)
    return out


def _mask_match(match: re.Match) -> str:
    """A URL found in text; a sentence's punctuation after it is not part of it."""
    found = match.group(0)
    core = found.rstrip(".,;:!?")
    return _mask_url(core) + found[len(core) :]


def secrets_in(url: str) -> list[str]:
    """Every secret `url` holds (password, secret parameter values, webhook path segments), as
    written and URL-decoded, longest first: what to blank in a message that quotes them
    without the URL."""
    parts = _Parts(url)
    found = [parts.password] if parts.password and parts.password != MASK else []
    for params in (parts.query, parts.fragment):
        found += [value for _, value in _secret_values(params)]
    segments = parts.path.split("/")
    found += [segments[i] for i in parts.secret_segments()]
    return sorted({v for s in found for v in (s, unquote(s)) if v}, key=len, reverse=True)


def mask(text: object, *urls: str) -> str:
    """`text` with every URL in it masked (see the module's docstring), every libpq
    ``password=`` pair blanked, and every secret that one of `urls` holds blanked wherever it
    appears. Text without a secret comes back unchanged."""
    text = text if isinstance(text, str) else str(text)
    masked = _URL.sub(_mask_match, text)
    masked = _DSN_PASSWORD.sub(lambda m: m.group(1) + MASK, masked)
    known = {s for url in urls if url for s in secrets_in(url)}
    for secret in sorted(known, key=len, reverse=True):
        if len(secret) >= _FREE_TEXT_MIN_LENGTH:
            masked = masked.replace(secret, MASK)
    return masked
