"""What every endpoint shares: `ServiceState` (settings, model status, workers, batcher, counters), the rate
limiter, and the service's readiness.

    ServiceState(settings, translator_factory)   one per app (create_app builds it; app.state.service)
    load_model(state)                            the lifespan's background task: Translator -> Engine -> batcher
    require_ready(state) -> Engine               503 while loading, after a load failure or while draining
    overloaded(state) -> str | None              why /health reports "overloaded" (None: not overloaded)
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

from .batching import Batcher, Worker
from .engine import Engine
from .errors import unavailable
from .scheduler import make_batcher
from .settings import ServerSettings, load_api_keys

log = logging.getLogger("m2m100.server")

# Document uploads translating at once. Each holds a prep worker thread while its text is on the model (the
# document is parsed and reassembled in that thread): one of the prep worker's two threads stays free to split
# the texts of /translate requests.
DOCUMENT_JOBS = 1
PREP_THREADS = 2


class RateLimiter:
    """At most `per_minute` requests per client in any sliding 60-second window."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = defaultdict(deque)

    def check(self, client: str) -> int | None:
        """None when allowed (and counted), else the seconds to wait."""
        if self.per_minute <= 0:
            return None
        now = time.monotonic()
        hits = self._hits[client]
        while hits and now - hits[0] >= 60.0:
            hits.popleft()
        if len(hits) >= self.per_minute:
            return max(1, math.ceil(60.0 - (now - hits[0])))
        hits.append(now)
        if len(self._hits) > 10_000:  # forget idle clients
            for key in [k for k, v in self._hits.items() if not v or now - v[-1] >= 60.0]:
                del self._hits[key]
        return None


class ServiceState:
    """Everything the endpoints share: settings, model status, batcher, counters."""

    def __init__(self, settings: ServerSettings, translator_factory: Callable[[ServerSettings], Any]):
        self.settings = settings
        self.translator_factory = translator_factory
        self.status = "loading"
        self.error: str | None = None
        self.engine: Engine | None = None
        self.batcher: Batcher | None = None
        self.model_worker: Worker | None = None
        self.prep_worker: Worker | None = None
        self.document_slots = asyncio.Semaphore(DOCUMENT_JOBS)  # see DOCUMENT_JOBS
        self.api_keys = load_api_keys(settings.api_keys) if settings.api_keys else None
        self.limiter = RateLimiter(settings.req_limit)
        self.draining = False
        self.aborted = asyncio.Event()  # set when draining ends: requests still in flight answer 503 now
        self.inflight = 0  # HTTP requests being handled
        self.active = 0  # translation requests admitted (queued or running)
        self.counters: dict[str, int] = defaultdict(int)
        self.on_fatal: Callable[[BaseException], None] | None = None
        self.loader: asyncio.Task | None = None
        self.started = time.time()

    @property
    def ready(self) -> bool:
        return self.status == "ready" and self.engine is not None and self.batcher is not None

    def start_workers(self) -> None:
        """The model worker (batches, or the continuous scheduler's loading) and the prep worker (splitting,
        detection, documents); called by the lifespan, inside the event loop."""
        self.model_worker = Worker("m2m100-model")
        self.prep_worker = Worker("m2m100-prep", threads=PREP_THREADS)

    async def shut_down(self) -> None:
        """The lifespan's end: stop loading, answer queued pieces 503, stop the workers."""
        self.draining = True
        if self.loader is not None and not self.loader.done():
            self.loader.cancel()
        if self.batcher is not None:
            await self.batcher.stop(unavailable("server is shutting down"))
        for worker in (self.model_worker, self.prep_worker):
            if worker is not None:
                worker.close()

    def begin_drain(self) -> None:
        """Refuse new requests (503) and report 503 on /health; in-flight requests go on."""
        self.draining = True

    def abort_inflight(self) -> None:
        """End of the drain: requests still waiting for the model answer 503 at once."""
        self.draining = True
        self.aborted.set()

    def idle(self) -> bool:
        return self.inflight == 0 and self.active == 0

    def stats(self) -> dict[str, float]:
        out: dict[str, float] = {
            "inflight": self.inflight, "active": self.active,
            "queued_pieces": self.batcher.queued if self.batcher else 0,
            "running_pieces": self.batcher.running if self.batcher else 0,
            "uptime_s": round(time.time() - self.started, 1),
        }
        out.update(self.counters)
        if self.batcher is not None:
            out.update(self.batcher.stats.as_dict())
            steps = getattr(self.batcher, "steps", None)  # continuous scheduler (server.scheduler)
            if steps is not None:
                out.update(running_batches=self.batcher.running_batches, decode_steps=steps.steps)
                merger = steps.merger  # greedy rows of all batches in one decoder call (generation.continuous)
                if merger is not None:
                    out.update(merged_rows=merger.rows, merged_steps=merger.steps, merged_largest=merger.largest)
        return out


async def load_model(state: ServiceState) -> None:
    """Build the Translator in the model worker, warm it up, start the batcher; on failure report it on /health
    and to `state.on_fatal`."""
    settings = state.settings
    assert state.model_worker is not None
    try:
        state.status = "loading"
        started = time.perf_counter()
        translator = await state.model_worker.run(state.translator_factory, settings)
        # max_new_tokens caps every request. max_beams is checked on the request (schemas: num_beams, and the
        # alternatives + 1 beams n-best needs), not here: Engine's max_beams would also hold the checkpoint's
        # default beams to it, refusing every request without num_beams when that default is larger.
        engine = Engine(translator, max_new_tokens=settings.max_new_tokens)
        log.info("model %s loaded in %.1f s", engine.name, time.perf_counter() - started)
        state.status = "warming up"
        if settings.warmup:
            started = time.perf_counter()
            await state.model_worker.run(engine.warmup)
            log.info("warm-up done in %.2f s", time.perf_counter() - started)
        batcher = make_batcher(engine, state.model_worker, settings)  # settings.scheduler: batch | continuous
        batcher.start()
        state.engine, state.batcher = engine, batcher
        state.status = "ready"
        log.info("ready")
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # noqa: BLE001 - reported on /health and to on_fatal
        state.status = "failed"
        state.error = f"model failed to load: {type(exc).__name__}: {exc}"
        log.error("%s", state.error)
        if state.on_fatal is not None:
            state.on_fatal(exc)


def require_ready(state: ServiceState) -> Engine:
    """The engine, or 503 (with Retry-After) while draining, loading, warming up or after a load failure."""
    if state.draining:
        raise unavailable("server is shutting down; retry on another instance", 5)
    if not state.ready:
        if state.status == "failed":
            raise unavailable(state.error or "model failed to load", 30)
        raise unavailable(f"model is {state.status}; retry shortly", 2)
    assert state.engine is not None
    return state.engine


def overloaded(state: ServiceState) -> str | None:
    """Why new requests would be refused or time out now (None when they would not): /health answers 503
    "overloaded" then, so that a load balancer sends traffic elsewhere."""
    settings = state.settings
    if state.active >= settings.max_queue:
        return f"at capacity: {state.active} requests queued or running (max_queue {settings.max_queue})"
    wait = state.batcher.oldest_wait if state.batcher is not None else 0.0
    if wait >= settings.request_timeout / 2:
        return f"queued work has waited {wait:.0f} s (request_timeout {settings.request_timeout:g} s)"
    return None
