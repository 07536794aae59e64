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
