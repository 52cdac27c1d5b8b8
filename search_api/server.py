"""Running the app under uvicorn: one process, or several worker processes on one port (`wsis serve
--workers N`). Each worker builds the app with `create_app()` from the environment's settings and loads the
index itself; the index's vectors, keyword index and columns are memory-mapped, so the workers share those
pages through the page cache instead of holding a copy each."""

from __future__ import annotations

import json
import os
import socket

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from . import errors


class JsonErrorH11Protocol(H11Protocol):
    """uvicorn's h11 protocol whose own 400 (a request that does not parse: a 1 MB URL, a bad Content-Length)
    is in the error shape instead of plain text. Defined at module level so that worker processes (spawned,
    not forked) can import it."""

    def connection_made(self, transport) -> None:
        # Responses go out in more than one write (headers, then body): without TCP_NODELAY the body waits for
        # the client's delayed ACK (~40 ms). asyncio sets it on sockets it accepts itself, but not on the
        # listening socket uvicorn hands to worker processes (rebuilt there with protocol number 0), so it
        # is set here for every connection.
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        super().connection_made(transport)

    def send_400_response(self, msg: str) -> None:
        body = json.dumps(errors.error_body(400, "bad_request", msg)).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()


def serve(app: FastAPI | None, host: str, port: int, log_level: str = "warning", access_log: bool = False,
          workers: int = 1) -> None:
    """Serve `app` in this process, or, with `workers` > 1, `create_app()` in that many worker processes under
    uvicorn's supervisor (which restarts a worker that dies, and on SIGHUP replaces the workers one by one, so
    each loads the build the index path points at then while the others keep serving). Low-level 400s are in
    the error shape; no X-Forwarded-For handling of uvicorn's own (uvicorn trusts it from any loopback peer by
    default; the rate limit reads it only from WSIS_TRUSTED_PROXIES, see guards.client_key)."""
    common = dict(host=host, port=port, log_level=log_level, access_log=access_log, http=JsonErrorH11Protocol,
                  proxy_headers=False)
    if workers > 1:
        os.environ["WSIS_WORKERS"] = str(workers)  # the workers' settings: shared conversations and rate limits
        uvicorn.run("search_api.app:create_app", factory=True, workers=workers, **common)
    else:
        uvicorn.run(app, **common)
