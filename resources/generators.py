"""Reply generators: one protocol, a deterministic local generator and an OpenAI-compatible one.

The calling convention (both generators): `prompt` is the rendered prompt template (the
instructions and the question, with the template's variables filled), and `passages` are the
ranked retrieved texts, best first, passed separately. A generator never raises for a failed
generation: it returns ``Generation(text=None, error=...)`` and the caller records the failure
for that row (no default text stands in for a reply that was not produced).

:class:`TemplateGenerator` (the shipped default; no model, no network, no randomness):

1. The question is the text after ``Question:`` on a prompt line that starts with it
   (case-insensitive), through the end of its paragraph (a blank line or the prompt's end), so
   a question of several lines is whole; several such paragraphs are joined. A prompt without
   such a line is the question as a whole.
2. Its content words are its lower-cased alphanumeric tokens, less a short list of stop words;
   a token holding a digit always counts (a "30" in "refund after 30 days" matters), other
   tokens count from three characters. A plural's final "s" is dropped (longer than three
   characters, not "ss"), so "refunds" matches "refund".
3. Passages are read in their given (ranked) order. Each passage is split into sentences (at
   ``.``, ``!`` or ``?`` followed by whitespace); its sentence sharing the most content words
   with the question (the earliest on a tie) is kept if it shares at least one, followed by the
   citation marker ``[i]`` (i = the passage's 1-based position in `passages`). A sentence
   already kept from an earlier passage is not repeated.
4. It stops after ``max_sentences`` kept sentences. The prompt may lower or raise that limit
   with an instruction "at most N sentence(s)" (N a digit or one..five), as it would tell a
   language model; the last such instruction wins.
5. The kept sentences, joined by a space, are the reply. When no passage shares a word with the
   question the reply is :data:`REFUSAL` (an answer that declines, not an error).

:class:`OpenAICompatibleGenerator` posts to ``{url}/chat/completions`` (a system message, then
the prompt and the numbered passages as the user message, temperature 0) and reads
``choices[0].message.content``. The API key travels only in the Authorization header; error
texts and logs pass through :func:`resources.masking.mask` and have the key blanked.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from resources.masking import MASK, mask

log = logging.getLogger(__name__)

REFUSAL = "I could not find the answer to this in the knowledge base."
SYSTEM_MESSAGE = (
    "You write replies for support agents. Use only the numbered passages; cite each claim "
    "with its passage number in brackets, like [1]. If the passages do not answer the "
    "question, say that you could not find the answer."
)
ENV_PREFIX = "AFTERLAUNCH_GENERATOR"

_STOP_WORDS = frozenset(
    "the and for are but not you your yours our ours can could would should will what when "
    "where which who whom why how does did has have had was were been being this that these "
    "those with from into onto about than then there their them they its it's all any some "
    "may might must shall also just only very more most much many such own same too out off "
    "over under again once here per via yes let get got please thanks thank hello dear".split()
)
_TOKEN = re.compile(r"[a-z0-9]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_QUESTION_LINE = re.compile(r"^\s*question\s*:\s*(.*)$", re.IGNORECASE)
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_SENTENCE_LIMIT = re.compile(r"\bat most (\d+|one|two|three|four|five) sentences?\b", re.I)
# How much of an error response's body an error text quotes.
_BODY_EXCERPT = 200


@dataclass(frozen=True)
class Generation:
    """One generated reply: `text` when it was produced, else `error` says what happened.
    Exactly one of the two is set. `model` is what produced it (as the server named it, when
    it did); `latency_ms` is the wall time of the call."""

    text: str | None
    error: str | None
    model: str
    latency_ms: float

    def __post_init__(self) -> None:
        if (self.text is None) == (self.error is None):
            held = "both" if self.text is not None else "neither"
            raise ValueError(f"a Generation holds either a text or an error, not {held}")

    @property
    def ok(self) -> bool:
        return self.error is None


@runtime_checkable
class Generator(Protocol):
    """Writes a reply from a rendered prompt and the ranked passages (see the module docstring
    for the convention). `name` and `version` identify it in a pipeline's lineage."""

    name: str
    version: str

    def generate(self, prompt: str, passages: list[str]) -> Generation: ...


def content_words(text: str) -> set[str]:
    """The words of `text` that carry meaning for matching (see step 2 of the module doc)."""
    return {
        _singular(token)
        for token in _TOKEN.findall(text.lower())
        if token not in _STOP_WORDS and (len(token) >= 3 or any(c.isdigit() for c in token))
    }


def _singular(token: str) -> str:
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        return token[:-1]
    return token


def question_of(prompt: str) -> str:
    """The question a rendered prompt asks: its ``Question:`` paragraphs, else the whole
    prompt."""
    found: list[str] = []
    inside = False
    for line in prompt.splitlines():
        if match := _QUESTION_LINE.match(line):
            found.append(match.group(1))
            inside = True
        elif inside and line.strip():
            found.append(line)
        else:
            inside = False
    return " ".join(found) if found else prompt


def sentence_limit(prompt: str, default: int) -> int:
    """The prompt's last "at most N sentence(s)" instruction, else `default`."""
    found = _SENTENCE_LIMIT.findall(prompt)
    if not found:
        return default
    value = found[-1].lower()
    return _NUMBER_WORDS[value] if value in _NUMBER_WORDS else int(value)


def sentences(passage: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(passage.strip()) if s.strip()]


def best_sentence(passage: str, words: set[str]) -> str | None:
    """The sentence of `passage` sharing the most of `words` (earliest on a tie), or None when
    none shares any."""
    best, best_overlap = None, 0
    for sentence in sentences(passage):
        overlap = len(content_words(sentence) & words)
        if overlap > best_overlap:
            best, best_overlap = sentence, overlap
    return best


def template_reply(prompt: str, passages: list[str], max_sentences: int = 2) -> str:
    """The reply :class:`TemplateGenerator` writes (steps 1-5 of the module docstring)."""
    words = content_words(question_of(prompt))
    limit = sentence_limit(prompt, max_sentences)
    kept: list[str] = []
    seen: set[str] = set()
    for position, passage in enumerate(passages, start=1):
        if len(kept) >= limit:
            break
        sentence = best_sentence(passage, words)
        if sentence is None or sentence in seen:
            continue
        seen.add(sentence)
        kept.append(f"{sentence} [{position}]")
    return " ".join(kept) if kept else REFUSAL


class TemplateGenerator:
    """The deterministic local generator (see the module docstring)."""

    def __init__(self, name: str = "template", version: str = "1", max_sentences: int = 2):
        if max_sentences < 1:
            raise ValueError(f"max_sentences must be at least 1, got {max_sentences}")
        self.name = name
        self.version = version
        self.max_sentences = max_sentences

    def generate(self, prompt: str, passages: list[str]) -> Generation:
        started = time.perf_counter()
        text = template_reply(prompt, passages, self.max_sentences)
        return Generation(
            text=text,
            error=None,
            model=f"{self.name}:{self.version}",
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def __repr__(self) -> str:
        return f"TemplateGenerator(name={self.name!r}, version={self.version!r})"


def user_message(prompt: str, passages: list[str]) -> str:
    """The prompt, then the passages numbered as the citation markers number them."""
    numbered = "\n".join(f"[{i}] {passage}" for i, passage in enumerate(passages, start=1))
    return f"{prompt}\n\nPassages:\n{numbered}" if passages else prompt


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect would carry the Authorization header to wherever it points: refuse it (the
    # 3xx then comes back as an error like any other non-2xx).
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201
        return None


class OpenAICompatibleGenerator:
    """Replies from a chat-completions server (OpenAI's protocol, also spoken by vLLM, Ollama,
    llama.cpp and most gateways). `url` is the API base (``https://host/v1``); `version`
    defaults to `model` (the deployed model string is what a pipeline's lineage records)."""

    name = "openai_compatible"

    def __init__(
        self,
        url: str,
        model: str,
        api_key: str = "",
        timeout_s: float = 10,
        version: str = "",
    ):
        if not url:
            raise ValueError("OpenAICompatibleGenerator needs the server's URL")
        if not model:
            raise ValueError("OpenAICompatibleGenerator needs a model name")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.url = url.rstrip("/")
        self.model = model
        self._api_key = api_key
        self.timeout_s = timeout_s
        self.version = version or model
        self._opener = urllib.request.build_opener(_NoRedirects)

    @classmethod
    def from_env(cls, prefix: str = ENV_PREFIX, timeout_s: float = 10) -> OpenAICompatibleGenerator:
        """Built from ``<prefix>_URL`` and ``<prefix>_MODEL`` (required), ``<prefix>_API_KEY``
        (optional: a local server may need none) and ``<prefix>_TIMEOUT_S`` (optional, seconds
        per request; default ``timeout_s``), read now."""
        missing = [
            f"{prefix}_{part}"
            for part in ("URL", "MODEL")
            if not os.environ.get(f"{prefix}_{part}")
        ]
        if missing:
            raise RuntimeError(
                f"the OpenAI-compatible generator is not configured: set {' and '.join(missing)}"
            )
        return cls(
            url=os.environ[f"{prefix}_URL"],
            model=os.environ[f"{prefix}_MODEL"],
            api_key=os.environ.get(f"{prefix}_API_KEY", ""),
            timeout_s=_seconds(os.environ.get(f"{prefix}_TIMEOUT_S"), timeout_s, prefix),
        )

    @property
    def endpoint(self) -> str:
        return f"{self.url}/chat/completions"

    def __repr__(self) -> str:
        return (
            f"OpenAICompatibleGenerator(url={mask(self.url)!r}, model={self.model!r}, "
            f"timeout_s={self.timeout_s})"
        )

    def _safe(self, text: str) -> str:
        """`text` fit for an error or a log: URLs masked and the API key blanked."""
        masked = mask(text, self.url)
        return masked.replace(self._api_key, MASK) if self._api_key else masked

    def request_body(self, prompt: str, passages: list[str]) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [
                {"role": "system", "content": SYSTEM_MESSAGE},
                {"role": "user", "content": user_message(prompt, passages)},
            ],
            "temperature": 0,
        }

    def _request(self, prompt: str, passages: list[str]) -> urllib.request.Request:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        body = json.dumps(self.request_body(prompt, passages)).encode()
        return urllib.request.Request(self.endpoint, data=body, headers=headers, method="POST")

    def generate(self, prompt: str, passages: list[str]) -> Generation:
        started = time.perf_counter()
        text, model, error = None, self.model, None
        try:
            with self._opener.open(self._request(prompt, passages), timeout=self.timeout_s) as resp:
                raw = resp.read()
            text, model = parse_completion(raw, self.model)
        except urllib.error.HTTPError as exc:
            excerpt = _excerpt(exc)
            error = f"HTTP {exc.code} from {self.endpoint}" + (f": {excerpt}" if excerpt else "")
        except TimeoutError:  # socket.timeout is TimeoutError
            error = f"no answer from {self.endpoint} within {self.timeout_s} s (timeout)"
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                error = f"no answer from {self.endpoint} within {self.timeout_s} s (timeout)"
            else:
                error = f"could not reach {self.endpoint}: {exc.reason}"
        except (OSError, http.client.HTTPException) as exc:  # reset, cut short, bad status line
            error = f"connection to {self.endpoint} failed: {type(exc).__name__}: {exc}"
        except MalformedCompletion as exc:
            error = f"malformed answer from {self.endpoint}: {exc}"
        latency_ms = (time.perf_counter() - started) * 1000
        if error is not None:
            error = self._safe(error)
            log.warning("generation failed (%s): %s", self.model, error)
            return Generation(text=None, error=error, model=self.model, latency_ms=latency_ms)
        return Generation(text=text, error=None, model=model, latency_ms=latency_ms)


class MalformedCompletion(ValueError):
    """A 2xx answer that is not a chat completion with a text reply."""


def parse_completion(raw: bytes, requested_model: str) -> tuple[str, str]:
    """(reply text, model name) from a chat-completions response body. The model is the one the
    server reports (a provider-side update shows there), else the one requested."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedCompletion(f"the body is not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise MalformedCompletion(f"the body is a JSON {type(body).__name__}, not an object")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise MalformedCompletion("no 'choices' list (or it is empty)")
    message = choices[0].get("message") if isinstance(choices[0], dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        raise MalformedCompletion("choices[0].message.content is missing or not a string")
    model = body.get("model")
    return content, model if isinstance(model, str) and model else requested_model


def _excerpt(exc: urllib.error.HTTPError) -> str:
    try:
        body = exc.read()
    except OSError:
        return ""  # the error page could not be read: the status code alone says what happened
    text = body.decode("utf-8", errors="replace").strip()
    return " ".join(text.split())[:_BODY_EXCERPT]


def _seconds(raw: str | None, default: float, prefix: str) -> float:
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise RuntimeError(f"{prefix}_TIMEOUT_S must be a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise RuntimeError(f"{prefix}_TIMEOUT_S must be above 0, got {raw!r}")
    return value
