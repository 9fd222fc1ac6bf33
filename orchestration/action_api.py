"""The approval gate over HTTP, JSON in and out, for agent runtimes in any language.

Routes (all under /v1):

    POST /v1/requests                  {tool, arguments, agent_id, agent_version, context,
                                        requested_by}          -> the gate's answer
    GET  /v1/requests                  the open (pending) requests; ?all=1 every request
    GET  /v1/requests/{id}             one request's answer now
    POST /v1/requests/{id}/approve     {actor, digest, reason}
    POST /v1/requests/{id}/deny        {actor, reason}
    POST /v1/requests/{id}/cancel      {actor, reason}
    POST /v1/requests/{id}/execution   {arguments, output, error}  -> the executed row
    GET  /v1/health

Identity is `actor` (or `requested_by`) in the body, else the `X-Afterlaunch-Actor` header;
missing is a 400. A refusal is a 409 {"error": sentence}, an unknown id a 404, a malformed body
a 422 naming the field.

Nothing here is authenticated: whoever reaches the port may claim any name. A deployment puts
the API behind its own proxy (which authenticates and sets the actor header) and binds it to
localhost; the audit log records who was claimed, never who was proven.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from resources.action_gate import ActionGate, ActionRequest, GateRefused, UnknownRequest
from resources.audit_log import AuditLogError, AuditRow

log = logging.getLogger("afterlaunch.action_api")
ACTOR_HEADER = "X-Afterlaunch-Actor"


class BadRequest(ValueError):
    """A body the API cannot act on; `status` is 400 (no identity) or 422 (a bad field)."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as err:
        raise BadRequest(f"the body is not JSON: {err}") from err
    if not isinstance(doc, dict):
        raise BadRequest("the body must be a JSON object")
    return doc


def _text(doc: dict, name: str, *, required: bool = True, default: str = "") -> str:
    value = doc.get(name, None)
    if value is None:
        if required:
            raise BadRequest(f"field {name!r} is missing")
        return default
    if not isinstance(value, str):
        raise BadRequest(f"field {name!r} must be a string, not {type(value).__name__}")
    return value


def _object(doc: dict, name: str, *, required: bool = True) -> dict:
    value = doc.get(name, None)
    if value is None:
        if required:
            raise BadRequest(f"field {name!r} is missing")
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"field {name!r} must be a JSON object, not {type(value).__name__}")
    return value


def _identity(doc: dict, request: Request, name: str) -> str:
    value = _text(doc, name, required=False) or request.headers.get(ACTOR_HEADER, "")
    if not value.strip():
        raise BadRequest(
            f"who is acting is missing: give {name!r} in the body or the {ACTOR_HEADER} header",
            status=400,
        )
    return value.strip()


def _row_json(row: AuditRow) -> dict[str, Any]:
    return {
        "request_id": row.request_id,
        "seq": row.seq,
        "hash": row.hash,
        "disposition": row.disposition,
        "at": row.at,
        "tool": row.tool,
        "error": row.error,
    }


def _endpoint(handler: Callable[[Request, dict], Any]):
    """Wrap a handler: read the body, run the gate off the event loop (its store blocks), map
    the gate's refusals to status codes."""

    async def endpoint(request: Request) -> JSONResponse:
        try:
            doc = await _body(request) if request.method == "POST" else {}
            result = await run_in_threadpool(handler, request, doc)
        except BadRequest as err:
            return JSONResponse({"error": str(err)}, status_code=err.status)
        except UnknownRequest as err:
            return JSONResponse({"error": str(err)}, status_code=404)
        except GateRefused as err:
            return JSONResponse({"error": str(err)}, status_code=409)
        except ValueError as err:  # the gate's own validation of a request's fields
            return JSONResponse({"error": str(err)}, status_code=422)
        except AuditLogError as err:
            log.error("audit log unavailable: %s", err)
            return JSONResponse({"error": f"the audit log is unavailable: {err}"}, 503)
        return JSONResponse(result)

    return endpoint


def build_app(gate: ActionGate) -> Starlette:
    def create(request: Request, doc: dict) -> dict:
        req = ActionRequest(
            tool=_text(doc, "tool"),
            arguments=_object(doc, "arguments"),
            agent_id=_text(doc, "agent_id"),
            agent_version=_text(doc, "agent_version"),
            context=_object(doc, "context", required=False),
            requested_by=_identity(doc, request, "requested_by"),
        )
        return gate.request(req).to_json()

    def listing(request: Request, doc: dict) -> dict:
        every = request.query_params.get("all", "") not in ("", "0", "false")
        answers = gate.all_requests() if every else gate.open_requests()
        return {"requests": [a.to_json() for a in answers]}

    def one(request: Request, doc: dict) -> dict:
        return gate.status(request.path_params["request_id"]).to_json()

    def approve(request: Request, doc: dict) -> dict:
        return gate.approve(
            request.path_params["request_id"],
            actor=_identity(doc, request, "actor"),
            digest=_text(doc, "digest"),
            reason=_text(doc, "reason", required=False),
        ).to_json()

    def deny(request: Request, doc: dict) -> dict:
        return gate.deny(
            request.path_params["request_id"],
            actor=_identity(doc, request, "actor"),
            reason=_text(doc, "reason"),
        ).to_json()

    def cancel(request: Request, doc: dict) -> dict:
        return gate.cancel(
            request.path_params["request_id"],
            actor=_identity(doc, request, "actor"),
            reason=_text(doc, "reason"),
        ).to_json()

    def execution(request: Request, doc: dict) -> dict:
        error = doc.get("error")
        if error is not None and not isinstance(error, str):
            raise BadRequest(f"field 'error' must be a string, not {type(error).__name__}")
        row = gate.record_execution(
            request.path_params["request_id"],
            arguments=_object(doc, "arguments"),
            output=doc.get("output"),
            error=error,
        )
        return _row_json(row)

    def health(request: Request, doc: dict) -> dict:
        seq, head = gate.log.head()
        return {"status": "ok", "workflow": gate.workflow, "head_seq": seq, "head_hash": head}

    rid = "/v1/requests/{request_id}"
    return Starlette(
        routes=[
            Route("/v1/health", _endpoint(health), methods=["GET"]),
            Route("/v1/requests", _endpoint(create), methods=["POST"]),
            Route("/v1/requests", _endpoint(listing), methods=["GET"]),
            Route(rid, _endpoint(one), methods=["GET"]),
            Route(rid + "/approve", _endpoint(approve), methods=["POST"]),
            Route(rid + "/deny", _endpoint(deny), methods=["POST"]),
            Route(rid + "/cancel", _endpoint(cancel), methods=["POST"]),
            Route(rid + "/execution", _endpoint(execution), methods=["POST"]),
        ]
    )


def _config(gate: ActionGate, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(build_app(gate), host=host, port=port, log_level="warning")


def serve(gate: ActionGate, host: str, port: int) -> None:
    """Serve the API until interrupted (blocking)."""
    log.info(
        "action API of workflow %s on http://%s:%d/v1 (not authenticated)",
        gate.workflow,
        host,
        port,
    )
    uvicorn.Server(_config(gate, host, port)).run()


@contextlib.contextmanager
def running_server(
    gate: ActionGate, host: str = "127.0.0.1", port: int = 0, start_timeout_s: float = 20.0
) -> Iterator[str]:
    """Serve the API in a background thread; yields its base URL (port 0: a free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    server = uvicorn.Server(_config(gate, host, port))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="action-api", daemon=True
    )
    thread.start()
    started = time.monotonic()
    while not server.started:
        if not thread.is_alive():
            sock.close()
            raise RuntimeError(f"the action API did not start on {host}:{port}")
        if time.monotonic() - started > start_timeout_s:
            server.should_exit = True
            thread.join(5)
            sock.close()
            raise RuntimeError(f"the action API did not start within {start_timeout_s} s")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
