"""uvicorn.Server with a drain phase before uvicorn's own shutdown (see m2m100.server.cli)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from typing import Any

import uvicorn

log = logging.getLogger("m2m100.server")
WATCHDOG_GRACE = 10.0


class DrainingServer(uvicorn.Server):
    """First SIGTERM/SIGINT: refuse new requests (503, /health 503) and let in-flight ones finish; exit when
    none is left or after `drain_timeout` (requests still waiting then are answered 503). Second signal: that
    cut-off now. Third: exit without any waiting. A watchdog thread ends the process if shutdown still has not
    finished `WATCHDOG_GRACE` seconds after the drain timeout."""

    def __init__(self, config: uvicorn.Config, state: Any, drain_timeout: float):
        super().__init__(config)
        self.state = state
        self.drain_timeout = drain_timeout
        self.drain_deadline: float | None = None
        self.exit_code = 0
        self.hurry = False

    def fail(self, exc: BaseException) -> None:
        """The model could not be loaded: exit 1 (the error is logged and shown on /health)."""
        self.exit_code = 1
        self.should_exit = True

    def handle_exit(self, sig: int, frame: Any) -> None:
        # Runs in a signal handler: only set flags here; on_tick acts on them in the event loop.
        if self.drain_deadline is not None:
            if self.hurry:  # third signal: no more waiting at all
                self.force_exit = True
                self.should_exit = True
            self.hurry = True  # second signal: cut in-flight requests off now (503) and exit
            return
        self.drain_deadline = time.monotonic() + self.drain_timeout
        self.state.begin_drain()
        _start_watchdog(self.drain_timeout + WATCHDOG_GRACE)
        log.info("%s: draining (new requests refused; up to %g s for in-flight ones)",
                 signal.Signals(sig).name, self.drain_timeout)

    async def on_tick(self, counter: int) -> bool:
        if self.drain_deadline is not None and not self.should_exit:
            if self.state.idle():
                log.info("drained: no request in flight")
                self.should_exit = True
            elif self.hurry or time.monotonic() >= self.drain_deadline:
                log.warning("%s: %d request(s) still in flight are answered 503",
                            "second signal" if self.hurry else "drain timeout", self.state.inflight)
                self.state.abort_inflight()
                self.config.timeout_graceful_shutdown = 2  # time for those 503 answers to go out
                self.should_exit = True
        return await super().on_tick(counter)

    async def shutdown(self, sockets: Any = None) -> None:
        await super().shutdown(sockets)
        if self.drain_deadline is not None:
            self._captured_signals.clear()  # drained on purpose: exit normally instead of re-raising the signal


def _start_watchdog(seconds: float) -> None:
    def watch() -> None:
        time.sleep(seconds)
        print(f"m2m100 serve: shutdown did not finish within {seconds:g} s; exiting", file=sys.stderr, flush=True)
        os._exit(1)

    threading.Thread(target=watch, name="m2m100-watchdog", daemon=True).start()


def guarded_h11_protocol(header_timeout: float) -> type:
    """uvicorn's h11 protocol, plus a deadline for each request's headers.

    uvicorn closes an idle keep-alive connection only after a first response, and a client that trickles
    header bytes resets nothing: a connection that never completes a request would stay open forever. Here a
    connection gets `header_timeout` seconds, from its start or from the first byte of each next request,
    to deliver complete request headers; otherwise it is closed.
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        _header_deadline: Any = None

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_deadline()

        def data_received(self, data: bytes) -> None:
            waiting = self.cycle is None or self.cycle.response_complete
            if waiting and self._header_deadline is None:
                self._arm_header_deadline()  # the first byte of a next request on a kept-alive connection
            super().data_received(data)
            if self.cycle is not None and not self.cycle.response_complete:
                self._disarm_header_deadline()  # headers complete: the request is running

        def on_response_complete(self) -> None:
            super().on_response_complete()  # arms uvicorn's keep-alive timer for the idle time that follows

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_deadline()
            super().connection_lost(exc)

        def _arm_header_deadline(self) -> None:
            self._disarm_header_deadline()
            self._header_deadline = self.loop.call_later(header_timeout, self._header_timeout_expired)

        def _disarm_header_deadline(self) -> None:
            if self._header_deadline is not None:
                self._header_deadline.cancel()
                self._header_deadline = None

        def _header_timeout_expired(self) -> None:
            self._header_deadline = None
            if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
                return
            log.info("closing a connection that sent no complete request headers within %g s (header_timeout)",
                     header_timeout)
            try:
                self.conn.send(h11.ConnectionClosed())
            except h11.LocalProtocolError:
                pass
            self.transport.close()

    return GuardedH11Protocol

