"""Continuous (iteration-level) batching for the server: `--scheduler continuous` / M2M100_SCHEDULER.

    request -> pieces -> pending queue -> batch (as in server.batching: shared options, token budget, round
    robin over requests) -> a thread of its own -> StepScheduler.run(Engine.run_batch)

The plain Batcher runs one batch to completion before it forms the next: a 5-word request that arrives while a
60-word batch decodes waits for all of it. Here a new batch is formed as soon as pieces are pending and there is
room for one (m2m100.generation.continuous.StepScheduler):

* greedy and beam-search batches (no sampling, no alternatives) are encoded in their turn, then their rows join
  one merged decoder batch (continuous.RowMerger, generation.rowbatch): every step is one decoder call for the
  rows of all of them, rows that finish leave it at once, newcomers join at the next step. Up to
  MERGED_PER_RUNNING x `max_running_batches` such batches run at once (each adds rows to that one call);
* other batches (sampling, alternatives) decode on their own, up to `max_running_batches` at once, and take turns
  with the merged batch, one decoding step each per round (fairness);
* past either limit, one more batch (up to twice the limit) may start for a request that has nothing running;
* a batch whose requests all went away (client disconnect, timeout) has its rows removed at its next step.

Requests with different generation options (num_beams, max_new_tokens, ...) go into different batches; each
batch's output is what the Translator gives for its pieces (up to float rounding in merged batches: see
generation.rowbatch).

Memory: each batch stays within max_batch_tokens. At most twice max_running_batches batches decode on their own;
the merged batch holds at most 2 x MERGED_PER_RUNNING x max_running_batches x max_batch_size rows and as many
times max_batch_tokens tokens (rows x longest source); a batch past that waits to join.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ..generation.continuous import StepCancelled, StepScheduler
from .batching import BatchAbandoned, Batcher, Worker, Pending

log = logging.getLogger("m2m100.server")
# Greedy or beam batches whose rows may be in the merged batch at once, per --max-running-batches: each adds rows to one
# decoder call rather than a decoder call per step, so many more can run (their budget is the merged batch's).
MERGED_PER_RUNNING = 4


class ContinuousBatcher(Batcher):
    """A Batcher whose batches decode side by side, taking turns per decoding step (see the module docstring).

    `run_batch(pieces, options)` runs in a thread of its own, as a StepScheduler job on `steps`;
    `stop()` also stops those threads. `merges(options)`: whether a batch with these options decodes in the
    merged batch (greedy or beam search); up to `max_merged` such batches run at once, beside the max_running
    that decode on their own (each limit up to twice, see _room): a merged batch adds rows to one decoder call, not a call per
    step, and the merged batch's own budget bounds its rows.
    """

    def __init__(self, run_batch: Any, steps: StepScheduler, *, max_running: int, max_batch_tokens: int,
                 max_batch_size: int, batch_wait: float, merges: Callable[[dict], bool] | None = None,
                 max_merged: int = 0):
        self._threads = Worker("m2m100-steps", threads=2 * (max_running + max_merged))  # see _room
        super().__init__(run_batch, self._threads, max_batch_tokens=max_batch_tokens,
                         max_batch_size=max_batch_size, batch_wait=batch_wait)
        self.steps = steps
        self.max_running = max_running
        self.max_merged = max_merged if merges is not None else 0
        self._merges = merges
        self._batches: dict[asyncio.Task, list[Pending]] = {}  # running batches and their pieces
        self._merged: set[asyncio.Task] = set()  # those of them whose rows decode in the merged batch

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

    def _next_merges(self) -> bool:
        """Would the next batch (the options of the first piece queued) decode in the merged batch?"""
        head = next((item for item in self._pending if not item.future.done()), None)
        return head is not None and self.max_merged > 0 and bool(self._merges(head.options))

    def _running_and_limit(self) -> tuple[int, int]:
        """(running, limit) for the kind of the next batch: merged ones count against max_merged, the others
        (decoding on their own) against max_running."""
        if self._next_merges():
            return len(self._merged), self.max_merged
        return len(self._batches) - len(self._merged), self.max_running

    def _room(self) -> bool:
        """May another batch start now? Below the limit of its kind (_running_and_limit), yes; at it, one more (up
        to twice the limit) when a queued request has nothing running, so that a long request holding every slot
        cannot make a short one wait for one of its batches to end."""
        running, limit = self._running_and_limit()
        if running < limit:
            return True
        if running >= 2 * limit:
            return False
        busy = self._busy_owners()
        return any(not item.future.done() and item.owner not in busy for item in self._pending)

    def _busy_owners(self) -> set[int]:
        return {item.owner for batch in self._batches.values() for item in batch}

    def _take_fair_batch(self) -> list[Pending]:
        """_take_batch; past the limit, from the requests that have nothing running only (see _room)."""
        running, limit = self._running_and_limit()
        if running < limit:
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
            if self.max_merged and self._merges(batch[0].options):
                self._merged.add(task)
            task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task) -> None:
        self._batches.pop(task, None)
        self._merged.discard(task)
        if self._wake is not None:
            self._wake.set()

    async def _call_model(self, batch: list[Pending]) -> list[Any]:
        futures = [item.future for item in batch]

        def gone() -> bool:  # read from the model thread: an asyncio future's state is a plain attribute
            return all(future.done() for future in futures)

        try:
            return await self._worker.run(
                self.steps.run, self._run_batch, [item.piece for item in batch], batch[0].options,
                cancelled=gone,
            )
        except StepCancelled:  # every request of the batch went away: nobody reads these
            raise BatchAbandoned() from None


def make_batcher(engine: Any, model_worker: Worker, settings: Any) -> Batcher:
    """The batcher `settings.scheduler` names: "batch" (server.batching.Batcher on `model_worker`) or
    "continuous" (ContinuousBatcher, with threads of its own)."""
    common = {"max_batch_tokens": settings.max_batch_tokens, "max_batch_size": settings.max_batch_size,
              "batch_wait": settings.batch_wait_ms / 1000.0}
    if settings.scheduler == "continuous":
        running = settings.max_running_batches
        merged = MERGED_PER_RUNNING * running
        # the merged batch's budget: what the merged batches that may run at once (see _room) hold together
        # (a beam batch's rows are its pieces x num_beams, as max_batch_tokens counts them)
        steps = engine.step_scheduler(merge_greedy=True, max_rows=2 * merged * settings.max_batch_size,
                                      max_tokens=2 * merged * settings.max_batch_tokens)
        log.info("continuous batching: greedy and beam rows of up to %d batches share one decoder call per step; "
                 "up to %d other (sampling) batches decode side by side", merged, running)
        return ContinuousBatcher(engine.run_batch, steps, max_running=running, merges=engine.merges_rows,
                                 max_merged=merged, **common)
    return Batcher(engine.run_batch, model_worker, **common)
