"""The Python client of the action API (orchestration/action_api.py), for agent runtimes.

An agent asks before it acts, waits for the answer, runs the tool only on `allow` and records
what happened, so every action it takes is one request in the audit log:

    client = ActionClient(os.environ["AFTERLAUNCH_ACTIONS_URL"], "refund-agent", "v7", "ana")
    answer, output = client.act("refund_order", {"order_id": "O-1", "amount": 20},
                                {"entity_id": "O-1", "score": 0.91}, execute=shop.refund, wait_s=5)

Stdlib only (urllib): an agent runtime needs nothing else installed to use it.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from resources.action_gate import GateAnswer, GateRefused, UnknownRequest
from resources.masking import mask

log = logging.getLogger("afterlaunch.action_client")


class ActionClientError(RuntimeError):
    """The API could not be reached or answered something other than an answer or a refusal."""


class ActionClient:
    def __init__(
        self,
        base_url: str,
        agent_id: str,
        agent_version: str,
        requested_by: str,
        timeout: float = 10,
    ):
        self.base_url = base_url.rstrip("/")
        self.agent_id = agent_id
        self.agent_version = agent_version
        self.requested_by = requested_by
        self.timeout = timeout

    # --- for agents ------------------------------------------------------------------------
    def request(
        self, tool: str, arguments: Mapping[str, Any], context: Mapping[str, Any] | None = None
    ) -> GateAnswer:
        doc = self._call(
            "POST",
            "/v1/requests",
            {
                "tool": tool,
                "arguments": dict(arguments),
                "agent_id": self.agent_id,
                "agent_version": self.agent_version,
                "context": dict(context or {}),
                "requested_by": self.requested_by,
            },
        )
        return GateAnswer.from_json(doc)

    def status(self, request_id: str) -> GateAnswer:
        return GateAnswer.from_json(self._call("GET", f"/v1/requests/{request_id}"))

    def open_requests(self, every: bool = False) -> list[GateAnswer]:
        doc = self._call("GET", "/v1/requests" + ("?all=1" if every else ""))
        return [GateAnswer.from_json(a) for a in doc["requests"]]

    def wait(self, request_id: str, timeout_s: float, poll_s: float = 0.2) -> GateAnswer:
        """Poll until the answer is allow or deny; after `timeout_s` the last answer (pending)."""
        give_up = time.monotonic() + timeout_s
        while True:
            answer = self.status(request_id)
            if answer.answer != "pending" or time.monotonic() >= give_up:
                return answer
            time.sleep(min(poll_s, max(0.0, give_up - time.monotonic())))

    def record(
        self,
        request_id: str,
        arguments: Mapping[str, Any],
        output: Any = None,
        error: str | None = None,
    ) -> dict[str, Any]:
        """Record the execution (its output, or the tool's error); returns the executed row's
        request_id, seq, hash, disposition, at, tool and error."""
        body = {"arguments": dict(arguments), "output": output, "error": error}
        return self._call("POST", f"/v1/requests/{request_id}/execution", body)

    def act(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        context: Mapping[str, Any] | None,
        execute: Callable[[dict], Any],
        wait_s: float = 0.0,
        poll_s: float = 0.2,
    ) -> tuple[GateAnswer, Any]:
        """Request, wait up to `wait_s` for a decision, run `execute(arguments)` on allow and
        record its output (JSON-serialisable) or its exception's text, re-raising it. Returns
        (answer, output); on deny, or still pending after `wait_s`, (answer, None) and nothing
        runs."""
        arguments = dict(arguments)
        answer = self.request(tool, arguments, context)
        if answer.answer == "pending" and wait_s > 0:
            answer = self.wait(answer.request_id, wait_s, poll_s)
        if answer.answer != "allow":
            log.info(
                "%s %s not executed: %s (%s)", tool, answer.request_id, answer.state, answer.reason
            )
            return answer, None
        try:
            output = execute(arguments)
        except Exception as err:
            self.record(answer.request_id, arguments, error=f"{type(err).__name__}: {err}")
            raise
        self.record(answer.request_id, arguments, output=output)
        return answer, output

    # --- for people ------------------------------------------------------------------------
    def approve(self, request_id: str, actor: str, digest: str, reason: str = "") -> GateAnswer:
        body = {"actor": actor, "digest": digest, "reason": reason}
        return GateAnswer.from_json(self._call("POST", f"/v1/requests/{request_id}/approve", body))

    def deny(self, request_id: str, actor: str, reason: str) -> GateAnswer:
        body = {"actor": actor, "reason": reason}
        return GateAnswer.from_json(self._call("POST", f"/v1/requests/{request_id}/deny", body))

    def cancel(self, request_id: str, actor: str, reason: str) -> GateAnswer:
        body = {"actor": actor, "reason": reason}
        return GateAnswer.from_json(self._call("POST", f"/v1/requests/{request_id}/cancel", body))

    # --- the wire --------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: dict | None = None) -> dict[str, Any]:
        url = self.base_url + path
        data = None if body is None else json.dumps(body).encode()
        # Identity travels in the body (requested_by, actor), never defaulted from a header.
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            message = _error_text(err)
            if err.code == 404:
                raise UnknownRequest(message) from None
            if err.code == 409:
                raise GateRefused(message) from None
            raise ActionClientError(
                mask(f"{method} {url} answered {err.code}: {message}", url)
            ) from None
        except (urllib.error.URLError, OSError) as err:
            raise ActionClientError(mask(f"{method} {url} failed: {err}", url)) from err


def _error_text(err: urllib.error.HTTPError) -> str:
    raw = err.read()
    try:
        return str(json.loads(raw)["error"])
    except (ValueError, KeyError, TypeError):
        return raw.decode(errors="replace") or str(err)
