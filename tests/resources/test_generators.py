"""Generators: the deterministic template generator, and the OpenAI-compatible one against a
real local HTTP server speaking the chat-completions protocol."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from resources.generators import (
    REFUSAL,
    Generation,
    Generator,
    OpenAICompatibleGenerator,
    TemplateGenerator,
    question_of,
    template_reply,
)

API_KEY = "sk-test-Secret0123456789abcdef"

PASSAGES = [
    "Refunds are possible within 30 days of purchase. Contact billing to start one.",
    "The Pro plan allows 10 seats. Extra seats cost $5.99 each per month.",
    "To reset a password, open Settings and choose Security.",
]


# --- TemplateGenerator -------------------------------------------------------------------------


def test_template_generator_cites_the_best_sentence_of_each_matching_passage():
    prompt = "Answer the customer from the articles.\nQuestion: Can I get refunds for extra seats?"
    generation = TemplateGenerator().generate(prompt, PASSAGES)
    assert generation.text == (
        "Refunds are possible within 30 days of purchase. [1] "
        "Extra seats cost $5.99 each per month. [2]"
    )
    assert generation.error is None and generation.ok
    assert generation.model == "template:1"


def test_template_generator_is_deterministic_and_follows_the_ranked_order():
    prompt = "Question: how do I reset my password, and how many seats does Pro allow?"
    first = TemplateGenerator().generate(prompt, PASSAGES).text
    assert first == TemplateGenerator().generate(prompt, PASSAGES).text
    assert first == (
        "The Pro plan allows 10 seats. [2] "
        "To reset a password, open Settings and choose Security. [3]"
    )
    # The ranker's order decides which passage comes first (and its citation number).
    reordered = [PASSAGES[2], PASSAGES[1]]
    assert template_reply(prompt, reordered).startswith("To reset a password")


def test_template_generator_refuses_when_no_passage_shares_a_word():
    generation = TemplateGenerator().generate("Question: what is the weather in Oslo?", PASSAGES)
    assert generation.text == REFUSAL
    assert generation.error is None


def test_only_the_question_line_is_matched_not_the_instructions():
    # "settings" and "security" in the instructions must not pull in the password article.
    prompt = "Mention settings or security only if asked.\nQuestion: how long do refunds take?"
    assert (
        template_reply(prompt, PASSAGES) == "Refunds are possible within 30 days of purchase. [1]"
    )


def test_a_question_of_several_lines_is_read_to_the_end_of_its_paragraph():
    prompt = "Question: I was charged twice.\nHow do refunds work?\n\nBe polite about settings."
    assert question_of(prompt) == "I was charged twice. How do refunds work?"
    assert (
        template_reply(prompt, PASSAGES) == "Refunds are possible within 30 days of purchase. [1]"
    )


def test_the_prompt_can_limit_the_number_of_sentences():
    question = "Question: refunds, seats and password reset?"
    assert template_reply(question, PASSAGES).count("[") == 2  # the generator's default
    assert template_reply("Answer in at most one sentence.\n" + question, PASSAGES).count("[") == 1
    assert template_reply("Use at most 3 sentences.\n" + question, PASSAGES).count("[") == 3
    assert TemplateGenerator(max_sentences=3).generate(question, PASSAGES).text.count("[") == 3


def test_generators_satisfy_the_protocol_and_a_generation_holds_text_or_error():
    assert isinstance(TemplateGenerator(), Generator)
    assert isinstance(OpenAICompatibleGenerator("http://localhost:1/v1", "m"), Generator)
    with pytest.raises(ValueError, match="both"):
        Generation(text="a", error="b", model="m", latency_ms=0)
    with pytest.raises(ValueError, match="neither"):
        Generation(text=None, error=None, model="m", latency_ms=0)


# --- a chat-completions server ----------------------------------------------------------------


class _ChatServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _ChatHandler)
        self.behaviour = "ok"
        self.requests: list[dict] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _ChatHandler(BaseHTTPRequestHandler):
    server: _ChatServer

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass  # keep the test output clean

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length", 0))
        payload = json.loads(self.rfile.read(length))
        self.server.requests.append(
            {"path": self.path, "headers": dict(self.headers), "body": payload}
        )
        behaviour = self.server.behaviour
        if behaviour == "ok":
            question = payload["messages"][-1]["content"].splitlines()[0]
            answer = {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": "served-model-2026-05",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": f"Reply to: {question} [1]"},
                        "finish_reason": "stop",
                    }
                ],
            }
            self._send(200, json.dumps(answer).encode())
        elif behaviour == "500":
            # A careless server quotes the credential it was sent.
            quoted = self.headers.get("Authorization", "")
            self._send(500, f"internal error while checking {quoted}".encode(), "text/plain")
        elif behaviour == "slow":
            time.sleep(1.5)
            self._send(200, b"{}")
        elif behaviour == "malformed":
            self._send(200, b'{"choices": [{"message": ')
        elif behaviour == "no_content":
            self._send(200, json.dumps({"choices": [{"message": {"role": "assistant"}}]}).encode())
        elif behaviour == "redirect":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            raise AssertionError(f"unknown behaviour {behaviour}")


@pytest.fixture
def chat_server():
    server = _ChatServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _generator(server: _ChatServer, **kwargs) -> OpenAICompatibleGenerator:
    return OpenAICompatibleGenerator(server.url, "reply-model", api_key=API_KEY, **kwargs)


# --- OpenAICompatibleGenerator ----------------------------------------------------------------


def test_a_normal_answer_is_read_from_the_first_choice(chat_server):
    generation = _generator(chat_server).generate("Question: refund window?", PASSAGES[:2])
    assert generation.ok
    assert generation.text == "Reply to: Question: refund window? [1]"
    assert generation.model == "served-model-2026-05"  # as the server names it
    sent = chat_server.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"]["model"] == "reply-model"
    assert sent["body"]["temperature"] == 0
    roles = [m["role"] for m in sent["body"]["messages"]]
    assert roles == ["system", "user"]
    user = sent["body"]["messages"][1]["content"]
    assert f"[1] {PASSAGES[0]}" in user and f"[2] {PASSAGES[1]}" in user


def test_the_key_goes_in_the_authorization_header_only(chat_server):
    _generator(chat_server).generate("Question: refund window?", PASSAGES)
    sent = chat_server.requests[0]
    assert sent["headers"]["Authorization"] == f"Bearer {API_KEY}"
    assert API_KEY not in json.dumps(sent["body"])
    assert API_KEY not in repr(_generator(chat_server))


def test_no_key_sends_no_authorization_header(chat_server):
    OpenAICompatibleGenerator(chat_server.url, "m").generate("Question: x?", [])
    assert "Authorization" not in chat_server.requests[0]["headers"]


def test_a_server_error_is_returned_not_raised_and_the_key_is_masked(chat_server, caplog):
    chat_server.behaviour = "500"
    generation = _generator(chat_server).generate("Question: refund window?", PASSAGES)
    assert generation.text is None
    assert generation.error.startswith("HTTP 500 from ")
    assert "internal error while checking Bearer ***" in generation.error
    assert API_KEY not in generation.error
    assert API_KEY not in caplog.text and "HTTP 500" in caplog.text


def test_a_timeout_is_returned_as_an_error(chat_server):
    chat_server.behaviour = "slow"
    generation = _generator(chat_server, timeout_s=0.5).generate("Question: x?", PASSAGES)
    assert generation.text is None
    assert "timeout" in generation.error and "0.5 s" in generation.error
    assert API_KEY not in generation.error


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        ("malformed", "the body is not JSON"),
        ("no_content", "choices[0].message.content is missing"),
    ],
)
def test_a_malformed_body_is_returned_as_an_error(chat_server, behaviour, expected):
    chat_server.behaviour = behaviour
    generation = _generator(chat_server).generate("Question: x?", PASSAGES)
    assert generation.text is None
    assert generation.error.startswith("malformed answer from ")
    assert expected in generation.error
    assert API_KEY not in generation.error


def test_a_redirect_is_not_followed(chat_server):
    chat_server.behaviour = "redirect"
    generation = _generator(chat_server).generate("Question: x?", PASSAGES)
    assert generation.error.startswith("HTTP 302 from ")
    assert len(chat_server.requests) == 1


def test_an_unreachable_server_is_returned_as_an_error():
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    generator = OpenAICompatibleGenerator(f"http://127.0.0.1:{port}/v1", "m", api_key=API_KEY)
    generation = generator.generate("Question: x?", PASSAGES)
    assert generation.text is None
    assert generation.error.startswith("could not reach http://127.0.0.1:")
    assert API_KEY not in generation.error


def test_from_env_reads_the_variables_when_called(monkeypatch, chat_server):
    monkeypatch.delenv("AFTERLAUNCH_GENERATOR_URL", raising=False)
    monkeypatch.setenv("AFTERLAUNCH_GENERATOR_MODEL", "env-model")
    with pytest.raises(RuntimeError, match="set AFTERLAUNCH_GENERATOR_URL$"):
        OpenAICompatibleGenerator.from_env()
    monkeypatch.setenv("AFTERLAUNCH_GENERATOR_URL", chat_server.url)
    monkeypatch.setenv("AFTERLAUNCH_GENERATOR_API_KEY", API_KEY)
    generator = OpenAICompatibleGenerator.from_env()
    assert generator.model == "env-model" and generator.version == "env-model"
    assert generator.generate("Question: x?", []).ok
    assert chat_server.requests[0]["headers"]["Authorization"] == f"Bearer {API_KEY}"


def test_from_env_names_every_missing_variable(monkeypatch):
    monkeypatch.delenv("REPLY_GEN_URL", raising=False)
    monkeypatch.delenv("REPLY_GEN_MODEL", raising=False)
    with pytest.raises(RuntimeError, match="set REPLY_GEN_URL and REPLY_GEN_MODEL"):
        OpenAICompatibleGenerator.from_env(prefix="REPLY_GEN")


def test_the_earliest_sentence_wins_a_tie():
    passage = "Seats are billed monthly. Seats can be removed at any time."
    assert template_reply("Question: seats?", [passage]) == "Seats are billed monthly. [1]"


def test_the_template_generator_s_refusal_is_a_refusal_to_the_output_drift_check():
    from checks.text_drift import is_refusal

    assert is_refusal(REFUSAL) and not is_refusal("Refunds are possible within 14 days [1].")
