"""Step-level scheduling of concurrent generation jobs on one model (iteration-level batching).

    job A (batch of rows) ─ encoder, step 1 ─┐         ┌─ step 2 ─┐         ┌─ step 3 ...
    job B (joins later)                      └─ B: encoder, step 1 ┘         └─ B: step 2 ...

A *job* is any call that runs the model (Translator.translate_pieces, translate_nbest, guarded retries): it
runs in its own thread under `StepScheduler.run`. Only the thread holding the *turn* computes; before every
decoder call (one decoding step of the job's whole batch) the job hands the turn to the next waiting job,
first come first served, and queues for it again. So:

* a job that arrives while another decodes starts at the next decoder step, not when the other finishes;
* rows that finish leave their job's batch at once (the searches prune finished rows and finished inputs), and
  a job whose rows all finished returns and stops taking turns;
* every job gets one step per round: a long neighbour cannot starve a short one (fairness);
* `cancelled()` is checked before every step: a cancelled job raises StepCancelled at its next step and frees
  its rows (and its turn) at once.

Each job's search is the unchanged greedy/beam code (generation.greedy, generation.beam) over the job's own
DecoderState and KVCache, so a job's output is exactly what the same call gives alone, whatever else runs:
jobs share the model and the processor time, never tensors. (Merging the rows of different jobs into one
decoder call would need per-row decoder positions, which the decoder does not take; see the README.)
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any


class StepCancelled(Exception):
    """Raised inside a job at its next decoder step once its `cancelled()` returns True."""


class _Job:
    __slots__ = ("cancelled", "steps")

    def __init__(self, cancelled: Callable[[], bool] | None):
        self.cancelled = cancelled
        self.steps = 0


class StepScheduler:
    """Turns, one decoder step at a time, between the jobs running on `model` (see the module docstring).

    `model`: an M2M100ForConditionalGeneration (anything with get_decoder() or model.decoder). A forward pre-hook
    on its decoder is the step boundary; calls from threads that are not inside `run` pass through untouched.
    `close()` removes the hook. Counters: `steps` (decoder steps run by jobs), `handoffs` (turns handed over).
    """

    def __init__(self, model: Any):
        decoder = model.get_decoder() if hasattr(model, "get_decoder") else model.model.decoder
        self._cond = threading.Condition()
        self._waiting: deque[_Job] = deque()  # jobs queued for the turn, in order
        self._holder: _Job | None = None
        self._local = threading.local()  # the job the current thread runs
        self.steps = 0
        self.handoffs = 0
        self._hook = decoder.register_forward_pre_hook(self._before_step)

    def close(self) -> None:
        self._hook.remove()

    @property
    def jobs(self) -> int:
        """Jobs running or waiting for a turn now."""
        with self._cond:
            return len(self._waiting) + (self._holder is not None)

    def holds_turn(self) -> bool:
        """True in a thread that runs a job (inside `run`)."""
        return getattr(self._local, "job", None) is not None

    def run(self, fn: Callable[..., Any], *args: Any, cancelled: Callable[[], bool] | None = None,
            **kwargs: Any) -> Any:
        """fn(*args, **kwargs) as a job, in the calling thread; returns its result. Raises StepCancelled when
        `cancelled()` (checked before it starts and before each decoder step) returns True; fn's own errors
        pass through. Not reentrant: a job does not start another job."""
        if self.holds_turn():
            raise RuntimeError("StepScheduler.run inside a job")
        job = _Job(cancelled)
        self._acquire(job)
        self._local.job = job
        try:
            if cancelled is not None and cancelled():
                raise StepCancelled()
            return fn(*args, **kwargs)
        finally:
            self._local.job = None
            self._release(job)

    # -- turns -------------------------------------------------------------------------------------------
    def _acquire(self, job: _Job) -> None:
        with self._cond:
            self._waiting.append(job)
            while self._holder is not None or self._waiting[0] is not job:
                self._cond.wait()
            self._waiting.popleft()
            self._holder = job

    def _release(self, job: _Job) -> None:
        with self._cond:
            if self._holder is job:
                self._holder = None
                self._cond.notify_all()

    def _before_step(self, module: Any, args: Any) -> None:
        job = getattr(self._local, "job", None)
        if job is None:
            return
        job.steps += 1
        self.steps += 1
        if job.cancelled is not None and job.cancelled():
            raise StepCancelled()
        with self._cond:
            if not self._waiting:
                return  # nobody waits: keep the turn
        self.handoffs += 1
        self._release(job)
        self._acquire(job)
        if job.cancelled is not None and job.cancelled():  # cancelled while it waited
            raise StepCancelled()


class TurnLock:
    """A stand-in for a Translator's generation lock while a StepScheduler serialises the model: inside a job
    it does nothing (the turn already excludes other jobs; holding a lock across a turn hand-over would
    deadlock), outside it is the original lock."""

    def __init__(self, scheduler: StepScheduler, original: Any):
        self._scheduler = scheduler
        self._original = original
        self._held = threading.local()

    def __enter__(self) -> "TurnLock":
        if self._scheduler.holds_turn():
            self._held.depth = getattr(self._held, "depth", 0) + 1
        else:
            self._original.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        if getattr(self._held, "depth", 0) > 0:
            self._held.depth -= 1
        else:
            self._original.release()

    def acquire(self, *args: Any, **kwargs: Any) -> bool:
        self.__enter__()
        return True

    def release(self) -> None:
        self.__exit__()
