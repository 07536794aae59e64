"""Continuous (iteration-level) batching for the server: `--scheduler continuous` / M2M100_SCHEDULER.

    request -> pieces -> pending queue -> batch (as in server.batching: shared options, token budget, round
    robin over requests) -> one of up to `max_running_batches` threads -> StepScheduler.run(Engine.run_batch)

The plain Batcher runs one batch to completion before it forms the next: a 5-word request that arrives while a
60-word batch decodes waits for all of it. Here a new batch is formed as soon as pieces are pending and fewer
than `max_running_batches` batches decode, and the running batches take turns one decoding step at a time
(m2m100.generation.continuous.StepScheduler): the newcomer is encoded and decodes its first token at the next
step, a batch whose rows finished leaves at once, every batch gets one step per round (fairness), and a
batch whose requests all went away (client disconnect, timeout) stops at its next step. Requests with
different generation options (num_beams, max_new_tokens, ...) go into different batches, which decode side by
side. Each batch's output is exactly what the Translator gives for its pieces.

Memory: each running batch stays within max_batch_tokens; at most max_running_batches batches run, plus up to
as many again for requests that have nothing running (ContinuousBatcher._room), so at most twice
max_running_batches times one batch.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..generation.continuous import StepCancelled, StepScheduler
from .batching import BatchAbandoned, Batcher, Worker, _Pending

log = logging.getLogger("m2m100.server")


class ContinuousBatcher(Batcher):
    """A Batcher whose batches decode side by side, taking turns per decoding step (see the module docstring).

    `run_batch(texts, sources, targets, options)` runs in one of `max_running` threads of its own, as a
    StepScheduler job on `steps`; `stop()` also stops those threads.
    """

    def __init__(self, run_batch: Any, steps: StepScheduler, *, max_running: int, max_batch_tokens: int,
                 max_batch_size: int, batch_wait: float):
        self._threads = Worker("m2m100-steps", threads=2 * max_running)  # see _room
        super().__init__(run_batch, self._threads, max_batch_tokens=max_batch_tokens,
                         max_batch_size=max_batch_size, batch_wait=batch_wait)
        self.steps = steps
        self.max_running = max_running
        self._batches: dict[asyncio.Task, list[_Pending]] = {}  # running batches and their pieces

    @property
    def workers(self) -> list[Worker]:
        """Its threads (server.cli exits without tearing them down while one is still inside the model)."""
        return [self._threads]

    @property
    def running_batches(self) -> int:
        return len(self._batches)

    async def stop(self, reason: BaseException | None = None) -> None:
        for task in list(self._batches):
            task.cancel()
        await super().stop(reason)
        self._threads.close()

    def _room(self) -> bool:
        """May another batch start now? Below max_running, yes; at it, one more (up to twice max_running) when a
        queued request has nothing running, so that a long request holding every slot cannot make a short one
        wait for one of its batches to end."""
        running = len(self._batches)
        if running < self.max_running:
            return True
        if running >= 2 * self.max_running:
            return False
        busy = self._busy_owners()
        return any(not item.future.done() and item.owner not in busy for item in self._pending)

    def _busy_owners(self) -> set[int]:
        return {item.owner for batch in self._batches.values() for item in batch}

    def _take_fair_batch(self) -> list[_Pending]:
        """_take_batch; past max_running, from the requests that have nothing running only (see _room)."""
        if len(self._batches) < self.max_running:
            return self._take_batch()
        busy = self._busy_owners()
        order = {id(item): i for i, item in enumerate(self._pending)}
        held = [item for item in self._pending if item.owner in busy]
        self._pending = type(self._pending)(item for item in self._pending if item.owner not in busy)
        try:
            return self._take_batch()
        finally:  # the held pieces go back in their places
            self._pending = type(self._pending)(sorted([*held, *self._pending], key=lambda item: order[id(item)]))

    async def _loop(self) -> None:
        assert self._wake is not None
        while True:
            if not self._pending or not self._room():
                self._wake.clear()  # set again by a new request or a batch that ends
                await self._wake.wait()
                if self._pending and self.batch_wait > 0:
                    await asyncio.sleep(self.batch_wait)  # let concurrent requests join this batch
                continue
            batch = self._take_fair_batch()
            if not batch:
                continue
            task = asyncio.get_running_loop().create_task(self._run(batch), name="m2m100-batch")
            self._batches[task] = batch
            task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task) -> None:
        self._batches.pop(task, None)
        if self._wake is not None:
            self._wake.set()

    async def _call_model(self, batch: list[_Pending]) -> list[Any]:
        futures = [item.future for item in batch]

        def gone() -> bool:  # read from the model thread: an asyncio future's state is a plain attribute
            return all(future.done() for future in futures)

        try:
            return await self._worker.run(
                self.steps.run, self._run_batch,
                [item.piece.text for item in batch], [item.piece.source for item in batch],
                [item.piece.target for item in batch], batch[0].options, cancelled=gone,
            )
        except StepCancelled:  # every request of the batch went away: nobody reads these
            raise BatchAbandoned() from None


def make_batcher(engine: Any, model_worker: Worker, settings: Any) -> Batcher:
    """The batcher `settings.scheduler` names: "batch" (server.batching.Batcher on `model_worker`) or
    "continuous" (ContinuousBatcher, with threads of its own)."""
    common = {"max_batch_tokens": settings.max_batch_tokens, "max_batch_size": settings.max_batch_size,
              "batch_wait": settings.batch_wait_ms / 1000.0}
    if settings.scheduler == "continuous":
        steps = engine.step_scheduler()
        log.info("continuous batching: up to %d batches decode side by side", settings.max_running_batches)
        return ContinuousBatcher(engine.run_batch, steps, max_running=settings.max_running_batches, **common)
    return Batcher(engine.run_batch, model_worker, **common)
