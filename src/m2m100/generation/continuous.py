"""Step-level scheduling of concurrent generation jobs on one model (iteration-level batching).

    job A (batch of rows) ─ encoder, step 1 ─┐         ┌─ step 2 ─┐         ┌─ step 3 ...
    job B (joins later)                      └─ B: encoder, step 1 ┘         └─ B: step 2 ...

A *job* is any call that runs the model (a server batch through Translator.run, guarded retries included): it
runs in its own thread under `StepScheduler.run`, and passes the scheduler on to every generate() call it makes
(`model.generate(..., step_scheduler=steps)`; the Translator does so when given `step_scheduler=`). A
generate() call given the scheduler outside a job runs as a job of its own. The turns exclude each other, so
no other lock is needed around the model (holding one across a turn hand-over would deadlock). Only the thread holding the *turn* computes; before every
decoder call (one decoding step of the job's whole batch) the job hands the turn to the next waiting job,
first come first served, and queues for it again. So:

* a job that arrives while another decodes starts at the next decoder step, not when the other finishes;
* rows that finish leave their job's batch at once (the searches prune finished rows and finished inputs), and
  a job whose rows all finished returns and stops taking turns;
* every job gets one step per round: a long neighbour cannot starve a short one (fairness);
* `cancelled()` is checked before every step: a cancelled job raises StepCancelled at its next step and frees
  its rows (and its turn) at once.

Each job's search is the unchanged greedy/beam code (generation.greedy, generation.beam) over the job's own
DecoderState and KVCache, so a job's output is exactly what the same call gives alone, whatever else runs.

With `merge_greedy=True` (a name from before beam rows merged too) the jobs' greedy and beam searches also share
tensors: a RowMerger decodes the rows of every greedy or beam-search (not sampling) generate() call given the
scheduler, of every job, in one decoder call per step (generation.rowbatch.MergedRows; a beam-search call's rows are its inputs x beams):

    job A: encoder ─┐ join              job B: encoder ─┐ join
    merger:         └─ step(A) ─ step(A) ───────────────┴─ step(A+B) ─ step(A+B) ... A done ─ step(B) ...

A job runs its encoder alone (as any job, in its turn), then hands its rows to the merger and steps aside (it
holds no turn while it waits); its first token is decoded in the next merged step. The merger's thread admits
waiting cohorts between two steps, first come first served, within its budget (max_rows rows, max_tokens = rows x longest source), and
checks every cohort's job for cancellation before each step: a cancelled job's rows leave at once and the job
raises StepCancelled. A cohort whose own step fails (e.g. its call's logits processor raises) gets that error and
its rows leave; the others go on (a failing decoder call fails every cohort in it). Sampling (beam sampling too)
keeps the per-job path and takes turns with the merger.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .rowbatch import BeamCohort, Cohort, MergedRows


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
    on its decoder is the step boundary (one on its encoder only takes a turn back for a job that stepped aside);
    calls from threads that are not inside `run` pass through untouched.
    `close()` removes the hook. Counters: `steps` (decoder steps run by jobs), `handoffs` (turns handed over).
    """

    def __init__(self, model: Any, *, merge_greedy: bool = False, max_rows: int = 256, max_tokens: int = 16384):
        decoder = model.get_decoder() if hasattr(model, "get_decoder") else model.model.decoder
        self.model = model
        self._cond = threading.Condition()
        self._waiting: deque[_Job] = deque()  # jobs queued for the turn, in order
        self._holder: _Job | None = None
        self._local = threading.local()  # the job the current thread runs
        self.steps = 0
        self.handoffs = 0
        self._hook = decoder.register_forward_pre_hook(self._before_step)
        encoder = model.get_encoder() if hasattr(model, "get_encoder") else model.model.encoder
        self._encoder_hook = encoder.register_forward_pre_hook(self._before_encode)
        # greedy rows of all jobs in one decoder call (see the module docstring); None: each job decodes alone
        self.merger = RowMerger(self, max_rows=max_rows, max_tokens=max_tokens) if merge_greedy else None

    def close(self) -> None:
        if self.merger is not None:
            self.merger.close()
        self._hook.remove()
        self._encoder_hook.remove()

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

    def current_job_cancelled(self) -> Callable[[], bool] | None:
        """The `cancelled` callable of the job this thread runs (None outside a job or without one)."""
        job = getattr(self._local, "job", None)
        return None if job is None else job.cancelled

    @contextmanager
    def step_aside(self) -> Iterator[None]:
        """Inside a job: give up the turn while this thread waits for something else (the RowMerger decoding
        its rows). The job queues for a turn again at its next model call (encoder or decoder), not before:
        what it does in between (decoding text) runs beside the model."""
        self._release(self._local.job)
        yield

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

    def _before_encode(self, module: Any, args: Any) -> None:
        job = getattr(self._local, "job", None)
        if job is not None and self._holder is not job:  # it stepped aside: wait for a turn (only this
            self._acquire(job)  # thread makes its own job the holder, so reading _holder here is safe)

    def _before_step(self, module: Any, args: Any) -> None:
        job = getattr(self._local, "job", None)
        if job is None:
            return
        if self._holder is not job:  # it stepped aside (see _before_encode)
            self._acquire(job)
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


class _Entry:
    """A cohort waiting for (or in) the merged batch, with its job's cancellation check and its outcome."""

    __slots__ = ("cancelled", "cohort", "done", "error", "state")

    def __init__(self, cohort: Cohort | BeamCohort, state: Any, cancelled: Callable[[], bool] | None):
        self.cohort, self.state, self.cancelled = cohort, state, cancelled
        self.done = threading.Event()
        self.error: BaseException | None = None

    def is_cancelled(self) -> bool:
        return self.cancelled is not None and self.cancelled()

    def settle(self, error: BaseException | None = None) -> None:
        self.error = error
        self.state = None
        self.done.set()


class RowMerger:
    """Decodes the greedy and beam-search rows of all the jobs of `scheduler` together (see the module docstring).

    Its thread is a job of the scheduler while there are rows, so sampling jobs still get one step per round.
    Budget: a cohort joins when the merged batch then holds at most `max_rows` rows and rows x longest source
    <= `max_tokens` (an empty batch takes any cohort); otherwise it waits, and so do the cohorts behind it.
    Counters: `steps` (merged decoder calls), `largest` (most rows in one call), `cohorts` (cohorts decoded).
    """

    def __init__(self, scheduler: StepScheduler, *, max_rows: int, max_tokens: int):
        self.scheduler = scheduler
        self.max_rows, self.max_tokens = int(max_rows), int(max_tokens)
        self._cond = threading.Condition()
        self._pending: deque[_Entry] = deque()
        self._entries: dict[int, _Entry] = {}  # id(cohort) -> entry, for the cohorts in the batch
        self._batch = MergedRows(scheduler.model)
        self._closed = False
        self.steps = self.largest = self.cohorts = 0
        self._thread = threading.Thread(target=self._serve, name="m2m100-rows", daemon=True)
        self._thread.start()

    @property
    def rows(self) -> int:
        """Rows in the merged batch now."""
        return self._batch.rows

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- the jobs' side --------------------------------------------------------------------------------
    def generate(self, state: Any, sequences: Any, prompt_len: int, max_length: int, procs: list,
                 eos: Any, project: Any = None) -> Any:
        """Greedy search of one generate() call (inside a job), merged with the others: returns what
        generation.greedy.greedy_or_sample returns as sequences. `project`: the call's own output projection (a
        vocabulary shortlist) or None. Raises StepCancelled when the job is cancelled meanwhile, or the merged
        batch's error."""
        cohort = Cohort(sequences, prompt_len, max_length, procs, eos, project)
        self._decode(cohort, state)
        return cohort.result()

    def beam_search(self, state: Any, prompt: Any, num_beams: int, max_length: int, procs: list, eos: Any,
                    pad_token_id: int | None, length_penalty: float, early_stopping: Any,
                    num_return_sequences: int, project: Any = None) -> Any:
        """Beam search without sampling of one generate() call (inside a job), merged with the others: returns
        what generation.beam.beam_search returns as sequences (items * num_return_sequences, length). `state`:
        the call's DecoderState with the beams of an input sharing its encoder output (rows_per_source =
        num_beams); `prompt` (items * num_beams, prompt_len). Raises as `generate`."""
        cohort = BeamCohort(prompt, num_beams, max_length, procs, eos, pad_token_id, length_penalty,
                            early_stopping, num_return_sequences, project)
        self._decode(cohort, state)
        return cohort.result()[0]

    def _decode(self, cohort: Cohort | BeamCohort, state: Any) -> None:
        """Run `cohort` to its end in the merged batch, waiting (aside from the scheduler) meanwhile."""
        if cohort.cur_len > 1:  # merged steps feed one token per row: a longer decoder prompt goes through alone
            cohort.first_step(state)
        if not cohort.finished:
            entry = _Entry(cohort, state, self.scheduler.current_job_cancelled())
            with self._cond:
                if self._closed:
                    raise RuntimeError("the row merger is closed")
                self._pending.append(entry)
                self._cond.notify_all()
            with self.scheduler.step_aside():
                entry.done.wait()
            if entry.error is not None:
                raise entry.error

    # -- the merger's thread ---------------------------------------------------------------------------
    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    for entry in self._pending:
                        entry.settle(RuntimeError("the row merger is closed"))
                    self._pending.clear()
                    return
            try:
                self.scheduler.run(self._drain)
            except BaseException as exc:  # noqa: BLE001 - handed to every cohort it concerns
                self._fail_all(exc)

    def _drain(self) -> None:
        """Merged steps until no cohort is left (then this thread leaves the scheduler: it holds no turn idle)."""
        batch = self._batch
        while True:
            self._admit()
            for cohort in list(batch.cohorts):
                entry = self._entries[id(cohort)]
                if entry.is_cancelled():  # the request went away: its rows leave before this step
                    batch.remove(cohort)
                    del self._entries[id(cohort)]
                    entry.settle(StepCancelled())
            if batch.rows == 0:
                with self._cond:
                    if not self._pending or self._closed:
                        return
                continue
            self.largest = max(self.largest, batch.rows)
            left = batch.step()
            self.steps += 1
            for cohort, error in left:  # finished, or failed alone (the others go on)
                self._entries.pop(id(cohort)).settle(error)

    def _admit(self) -> None:
        batch = self._batch
        with self._cond:
            while self._pending:
                entry = self._pending[0]
                if entry.is_cancelled():
                    self._pending.popleft()
                    entry.settle(StepCancelled())
                    continue
                rows = batch.rows + entry.cohort.size
                width = max(batch.source_len, entry.state.encoder_hidden.shape[1])
                if batch.rows and (rows > self.max_rows or rows * width > self.max_tokens):
                    return  # wait for rows to leave; the cohorts behind it wait too (first come, first served)
                self._pending.popleft()
                try:
                    batch.join(entry.cohort, entry.state)
                except BaseException as exc:
                    entry.settle(exc)
                    raise
                entry.state = None  # copied into the merged batch
                self._entries[id(entry.cohort)] = entry
                self.cohorts += 1

    def _fail_all(self, exc: BaseException) -> None:
        """A merged step failed (e.g. out of memory): every cohort in the batch gets the error; start afresh."""
        for entry in self._entries.values():
            entry.settle(exc)
        self._entries.clear()
        self._batch = MergedRows(self.scheduler.model)
