"""The request path, from an admitted and validated request to its translations.

    run_request(state, request, work, counter=...)      the one wrapper every translation endpoint uses
    translate_texts(state, texts, sources, targets, fmt, options, alternatives=0, details=False)
        -> [TextResult]                                  texts: a unit of work
    translate_upload(state, content, fmt, filename, source, target) -> bytes      a document: a unit of work
    detect(state, texts, k) -> [[(code, confidence)]]  language identification

`run_request` checks capacity (max_queue: 503 at once), counts the request in `state.active`, and runs
`work()` until it is done, the request timeout passes (503), the client disconnects (None: the endpoint
answers 499) or the server's drain time ends (503); in the last three cases the work is cancelled, which
cancels its queued pieces (they never reach the model).

The model is reached in one way: a TranslationRequest (`engine.request`) is validated and cut into pieces
(`engine.plan`, in the prep worker), the pieces go through the batcher, where they share batches with the
pieces of every other request (round robin; `_outputs`), and the outputs are put back together
(`engine.finish`: an m2m100.translate.TextResult per text). A document is parsed and reassembled in the prep
worker (m2m100.documents); the texts it finds take that same way, from the prep worker's thread
(`_DocumentTexts`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request

from .admission import check_capacity
from .batching import JobCancelled, job_cancelled
from .errors import bad_request, unavailable
from .state import ServiceState

log = logging.getLogger("m2m100.server")
T = TypeVar("T")
POLL_S = 0.5  # a document thread waiting for the model looks at its job's cancellation this often (safety net)


class ClientGone(Exception):
    """The client closed the connection before its answer was ready."""


# =====================================================================================================
# The request machinery
# =====================================================================================================
async def run_request(state: ServiceState, request: Request, work: Callable[[], Awaitable[T]], *,
                      counter: str = "translated_requests") -> T | None:
    """`work()`'s result under the request's limits (see the module docstring); None when the client went away.
    `counter` (in state.counters, /health stats) counts the requests that got their result."""
    check_capacity(state)
    settings = state.settings
    state.active += 1
    try:
        try:
            result = await _until_done_or_gone(request, work(), settings.request_timeout, state.aborted)
        except ClientGone:
            state.counters["disconnected"] += 1
            log.info("client disconnected from %s; its queued work was cancelled", request.url.path)
            return None
        state.counters[counter] += 1
        return result
    finally:
        state.active -= 1


async def _until_done_or_gone(request: Request, coro: Any, timeout: float, aborted: asyncio.Event) -> Any:
    """The result of `coro`, unless the client disconnects (ClientGone), `timeout` passes (503) or the server's
    drain time is over (503); in those cases `coro` is cancelled, which cancels its queued pieces."""
    task = asyncio.ensure_future(coro)
    watcher = asyncio.ensure_future(_wait_disconnect(request))
    abort = asyncio.ensure_future(aborted.wait())
    try:
        done, _ = await asyncio.wait({task, watcher, abort}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        for future in (task, watcher, abort):
            future.cancel()
        raise
    watcher.cancel()
    abort.cancel()
    if task in done:
        return task.result()
    task.cancel()
    try:
        await task
    except BaseException:  # noqa: BLE001 - cancelled on purpose
        pass
    if watcher in done:
        raise ClientGone()
    if abort in done:
        raise unavailable("server is shutting down and this request did not finish within the drain time "
                          "(drain_timeout); retry on another instance", 5)
    raise unavailable(f"translation did not finish within {timeout:g} s (request_timeout); retry later", 5)


async def _wait_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


# =====================================================================================================
# Units of work
# =====================================================================================================
async def translate_texts(state: ServiceState, texts: list[str], sources: list[str], targets: list[str], fmt: str,
                          options: dict[str, Any], *, alternatives: int = 0, details: bool = False) -> list[Any]:
    """A TextResult (m2m100.translate) per text, through the batcher. `options`: generation options (checked by
    the plan, under the server's max_beams and max_new_tokens); `alternatives`: n-best translations besides the
    best; `details`: guard reports per text."""
    engine, batcher, prep = _parts(state)
    request = engine.request(texts, sources, targets, fmt, options, alternatives=alternatives, details=details)
    plan = await prep.run(engine.plan, request)
    return engine.finish(plan, await _outputs(batcher, plan))


async def translate_upload(state: ServiceState, content: bytes, fmt: str, filename: str, source: str,
                           target: str) -> bytes:
    """The translated document (m2m100.documents: same format back, PDF gives text). It is parsed and
    reassembled in the prep worker, at most state.DOCUMENT_JOBS at a time; its texts go through the batcher
    like /translate's. Cancelling this coroutine stops the document at its next batch of texts and cancels its
    queued pieces. DocumentError (a ValueError) for a bad file."""
    engine, batcher, prep = _parts(state)
    texts = _DocumentTexts(engine, batcher, asyncio.get_running_loop())
    async with state.document_slots:
        try:
            return await prep.run(_translate_document, texts, content, fmt, filename, source, target)
        except JobCancelled:  # not this request's cancellation: the batcher dropped its pieces (shutdown)
            raise unavailable("server is shutting down; retry on another instance", 5) from None
        finally:
            texts.close()


async def detect(state: ServiceState, texts: list[str], k: int) -> list[list[tuple[str, float]]]:
    """Up to k (code, confidence) candidates per text, computed beside the model (prep worker)."""
    engine = state.engine
    assert engine is not None and state.prep_worker is not None
    detected = await state.prep_worker.run(engine.detect, texts, k)
    if detected is None:
        raise bad_request('source "auto" and /detect need language identification, which this installation '
                          "does not have; give the source language code")
    state.counters["detected_texts"] += len(texts)
    return detected


async def _outputs(batcher: Any, plan: Any) -> list[Any]:
    """The model's output for every piece of `plan`, through the batcher (the one way to the model)."""
    return await batcher.translate(plan.pieces, plan.options) if plan.pieces else []


def _parts(state: ServiceState) -> tuple[Any, Any, Any]:
    engine, batcher, prep = state.engine, state.batcher, state.prep_worker
    assert engine is not None and batcher is not None and prep is not None
    return engine, batcher, prep


def _translate_document(texts: "_DocumentTexts", content: bytes, fmt: str, filename: str, source: str,
                        target: str) -> bytes:
    """In the prep worker: the document's bytes through m2m100.documents, its texts through `texts`."""
    from ..documents import FORMATS, translate_document, unit_translator

    assert fmt in FORMATS
    return translate_document(content, fmt, filename, unit_translator(texts, source, target, progress=False))


class _DocumentTexts:
    """The Translator as documents.unit_translator sees it, with `translate(texts, source, target)` going
    through the batcher: called in a prep worker thread, it plans the texts there, hands the pieces to the
    event loop's batcher and waits. Everything else (normalize_language, and the model, tokenizer and lock that
    documents.align reads) is the Translator's.

    Stops (JobCancelled) at its next call once the awaiting coroutine is cancelled (batching.job_cancelled) or
    `close()`d; `close()` (from the event loop) also cancels the pieces it is waiting for."""

    def __init__(self, engine: Any, batcher: Any, loop: asyncio.AbstractEventLoop):
        self._engine = engine
        self._batcher = batcher
        self._loop = loop
        self._mutex = threading.Lock()  # not `_lock`: that name is the Translator's (documents.align takes it)
        self._waiting: set[concurrent.futures.Future] = set()
        self._closed = False

    def __getattr__(self, name: str) -> Any:  # what this class does not define: the Translator's
        engine = self.__dict__.get("_engine")
        if engine is None:
            raise AttributeError(name)
        return getattr(engine.translator, name)

    def translate(self, texts: list[str], source: str, target: str, progress: Any = None,
                  **options: Any) -> list[str]:
        self._check()
        plan = self._engine.plan(self._engine.request(list(texts), source, target, "text", options))
        outputs = self._wait(_outputs(self._batcher, plan)) if plan.pieces else []
        return [result.text for result in self._engine.finish(plan, outputs)]

    def close(self) -> None:
        with self._mutex:
            self._closed = True
            waiting = list(self._waiting)
        for future in waiting:
            future.cancel()  # cancels the batcher.translate task, which cancels its queued pieces

    def _check(self) -> None:
        if self._closed or job_cancelled():
            raise JobCancelled()

    def _wait(self, coro: Any) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        with self._mutex:
            self._waiting.add(future)
            closed = self._closed
        try:
            if closed:
                future.cancel()
            while True:
                try:
                    return future.result(timeout=POLL_S)
                except concurrent.futures.TimeoutError:
                    if job_cancelled():
                        future.cancel()
                except concurrent.futures.CancelledError:
                    raise JobCancelled() from None
        finally:
            with self._mutex:
                self._waiting.discard(future)
