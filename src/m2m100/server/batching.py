"""Dynamic batching: sentences of concurrent requests share model batches.

    request -> pieces (sentences, from Translator.splitter) -> Batcher.translate(pieces)
            -> pending queue -> batch under a token budget -> worker thread -> Translator.translate_pieces

* The event loop never runs the model: batches go to one daemon worker thread (`Worker`), so requests keep
  being accepted, validated and queued while the model computes.
* A batch takes pending pieces first come, first served, that share generation options, while
  `(rows + 1) * longest input * beams <= max_batch_tokens` and rows < `max_batch_size`. Sources and targets
  may differ inside a batch (the Translator handles per-row languages). After a batch, the next one is formed
  from whatever arrived meanwhile; an idle batcher waits `batch_wait_ms` for company before starting.
* Pieces whose request went away (client disconnect, timeout) are cancelled futures: they are skipped when
  the next batch is formed, so they never reach the model.
* If a batch fails, each request in it is retried alone, so one bad request cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..translate import Piece

log = logging.getLogger("m2m100.server")


_current = threading.local()  # the job a Worker thread is running (see job_cancelled)


def job_cancelled() -> bool:
    """True inside a Worker job whose awaiting coroutine was cancelled (request timed out, client gone,
    server draining): long jobs check it between steps and stop early by raising JobCancelled."""
    future = getattr(_current, "future", None)
    return future is not None and future.cancelled()


class JobCancelled(Exception):
    """Raised by a Worker job that saw job_cancelled(): nobody waits for its result any more."""


class BatchAbandoned(Exception):
    """Raised by Batcher._call_model when every request of the batch went away and the model stopped early
    (server.scheduler): not an error, and its pieces do not count as run."""


class Worker:
    """Daemon threads running blocking calls for the event loop (daemon: a stuck call never blocks exit).

    `busy` counts the jobs running now: the server exits without waiting for them (see server.cli.serve).
    """

    def __init__(self, name: str, threads: int = 1):
        self.busy = 0
        self._busy_lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name}-{i}", daemon=True) for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((fn, args, kwargs, future, loop))
        return await future

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)

    def _serve(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            fn, args, kwargs, future, loop = job
            if future.cancelled():
                continue
            with self._busy_lock:
                self.busy += 1
            _current.future = future
            try:
                result, error = fn(*args, **kwargs), None
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
                result, error = None, exc
            finally:
                _current.future = None
                with self._busy_lock:
                    self.busy -= 1
            try:
                loop.call_soon_threadsafe(_settle, future, result, error)
            except RuntimeError:  # loop closed during shutdown
                return


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


@dataclass
class Pending:
    piece: Piece
    options_key: tuple
    options: dict[str, Any]
    owner: int
    future: asyncio.Future
    queued_at: float = field(default_factory=time.monotonic)


@dataclass
class BatchStats:
    batches: int = 0
    pieces_run: int = 0
    pieces_cancelled: int = 0
    largest_batch: int = 0
    batch_errors: int = 0
    busy_seconds: float = 0.0
    history: deque = field(default_factory=lambda: deque(maxlen=64))

    def as_dict(self) -> dict[str, float]:
        return {
            "batches": self.batches, "pieces_run": self.pieces_run, "pieces_cancelled": self.pieces_cancelled,
            "largest_batch": self.largest_batch, "batch_errors": self.batch_errors,
            "busy_seconds": round(self.busy_seconds, 3),
        }


class Batcher:
    """Groups pieces of concurrent requests into model batches; see the module docstring."""

    def __init__(
        self,
        run_batch: Callable[[list[str], list[str], list[str], dict[str, Any]], list[str]],
        worker: Worker,
        *,
        max_batch_tokens: int,
        max_batch_size: int,
        batch_wait: float,
    ):
        self._run_batch = run_batch
        self._worker = worker
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_size = max_batch_size
        self.batch_wait = batch_wait
        self._pending: deque[Pending] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._owners = 0
        self.running = 0  # pieces in the batch now on the model
        self.stats = BatchStats()

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="m2m100-batcher")

    async def stop(self, reason: BaseException | None = None) -> None:
        while self._pending:
            item = self._pending.popleft()
            if not item.future.done():
                item.future.set_exception(reason or asyncio.CancelledError())
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None

    @property
    def queued(self) -> int:
        return sum(1 for item in self._pending if not item.future.done())

    @property
    def oldest_wait(self) -> float:
        """Seconds the oldest piece still queued has waited (0 when none): /health reports overload with it."""
        now = time.monotonic()
        for item in self._pending:
            if not item.future.done():
                return now - item.queued_at
        return 0.0

    # -- API ---------------------------------------------------------------------------------------------
    async def translate(self, pieces: Sequence[Piece], options: dict[str, Any]) -> list[str]:
        """Translations of `pieces`, in order. Cancelling the caller cancels its queued pieces."""
        if not pieces:
            return []
        futures = self.submit(pieces, options)
        try:
            return list(await asyncio.gather(*futures))
        except BaseException:
            self.cancel(futures)
            raise

    def submit(self, pieces: Sequence[Piece], options: dict[str, Any]) -> list[asyncio.Future]:
        """Queue `pieces` (one request); a future per piece, in order, settled as each piece is translated (the
        streaming endpoint awaits them one by one). The caller must `cancel` them if it stops waiting."""
        if self._task is None or self._wake is None:
            raise RuntimeError("batcher is not running")
        loop = asyncio.get_running_loop()
        self._owners += 1
        owner = self._owners
        key = tuple(sorted(options.items()))
        futures = []
        for piece in pieces:
            future = loop.create_future()
            self._pending.append(Pending(piece, key, dict(options), owner, future))
            futures.append(future)
        self._wake.set()
        return futures

    def cancel(self, futures: Sequence[asyncio.Future]) -> None:
        """Give up on a request's pieces: queued ones never reach the model; settled ones stay as they are."""
        for future in futures:
            future.cancel()
        self.stats.pieces_cancelled += sum(1 for future in futures if future.cancelled())

    # -- batching ------------------------------------------------------------------------------------------
    def _take_batch(self) -> list[Pending]:
        while self._pending and self._pending[0].future.done():
            self._pending.popleft()  # cancelled (client gone) or already settled
        if not self._pending:
            return []
        first = self._pending[0]
        beams = int(first.options.get("num_beams") or 1)
        batch: list[Pending] = []
        longest = 0
        # Round robin over requests (in arrival order): each request's next piece in turn, so a request with
        # thousands of pieces cannot hold the model while a small request behind it times out.
        per_owner: dict[int, deque[Pending]] = {}
        for item in self._pending:
            if not item.future.done() and item.options_key == first.options_key:
                per_owner.setdefault(item.owner, deque()).append(item)
        chosen: set[int] = set()
        queues = list(per_owner.values())
        while queues and len(batch) < self.max_batch_size:
            still = []
            for line in queues:
                if len(batch) >= self.max_batch_size:
                    break
                item = line[0]
                new_longest = max(longest, item.piece.tokens)
                if batch and (len(batch) + 1) * new_longest * beams > self.max_batch_tokens:
                    continue  # out of this batch, with its later pieces (a request's pieces keep their order)
                batch.append(item)
                chosen.add(id(item))
                longest = new_longest
                line.popleft()
                if line:
                    still.append(line)
            queues = still
        self._pending = deque(item for item in self._pending if id(item) not in chosen and not item.future.done())
        return batch

    async def _loop(self) -> None:
        assert self._wake is not None
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                if self.batch_wait > 0:
                    await asyncio.sleep(self.batch_wait)  # let concurrent requests join this batch
            batch = self._take_batch()
            if batch:
                await self._run(batch)

    async def _run(self, batch: list[Pending]) -> None:
        """Execute one batch; a cancelled batcher cancels the batch's waiting requests, and an error in one
        batch is logged, never allowed to take the batcher down."""
        try:
            await self._execute(batch)
        except asyncio.CancelledError:
            for item in batch:
                if not item.future.done():
                    item.future.cancel()
            raise
        except Exception:
            log.exception("batch error")

    async def _execute(self, batch: list[Pending]) -> None:
        self.running += len(batch)
        started = time.perf_counter()
        try:
            outputs = await self._call_model(batch)
        except BatchAbandoned:
            return
        except Exception as exc:
            self.stats.batch_errors += 1
            owners = sorted({item.owner for item in batch})
            if len(owners) == 1:
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
                return
            # One request may have caused it: retry each request alone so the others still get answers.
            for owner in owners:
                group = [item for item in batch if item.owner == owner and not item.future.done()]
                if group:
                    await self._execute(group)
            return
        finally:
            self.running -= len(batch)
            self.stats.busy_seconds += time.perf_counter() - started
        self.stats.batches += 1
        self.stats.pieces_run += len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        self.stats.history.append(len(batch))
        for item, text in zip(batch, outputs):
            if not item.future.done():
                item.future.set_result(text)

    async def _call_model(self, batch: list[Pending]) -> list[Any]:
        """The model's outputs for `batch`, from the worker thread (server.scheduler runs it step by step)."""
        return await self._worker.run(
            self._run_batch, [item.piece for item in batch], batch[0].options,
        )
