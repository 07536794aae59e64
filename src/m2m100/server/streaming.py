"""Server-Sent Events for `POST /v1/translate` with `"stream": true`: each sentence as soon as it is translated.

    event: sentence   data: {"item": 0, "index": 0, "text": "..."}     one per model input, in order
    ...
    event: done       data: {"translations": [...], "model": ..., "elapsed_ms": ...}   the whole response
or, when something fails after the stream has started (timeout, shutdown, model error):
    event: error      data: {"status": 503, "error": "..."}

Sentences come in document order (item by item, sentence by sentence): a sentence is sent once it and every
sentence before it are done, so the first sentence of a long document shows while the rest decode (with the
continuous scheduler the document's sentences also finish one after another rather than all at the end). A
text that needs no model (empty, no letters, source == target) is one sentence event with the text itself;
format=html sends the text of each run, and the assembled document in `done`. Errors found before the stream
starts (bad input, capacity) are ordinary JSON 4xx/503 answers. A client that disconnects cancels its pieces:
queued ones never reach the model, running batches whose requests are all gone stop at their next step.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

log = logging.getLogger("m2m100.server")


def sse(event: str, data: Any) -> bytes:
    """One Server-Sent Event; `data` as one line of JSON (json.dumps escapes newlines)."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def translation_events(
    state: Any,
    texts: list[str],
    sources: list[str],
    targets: list[str],
    fmt: str,
    options: dict[str, Any],
    respond: Callable[[list[Any]], dict[str, Any]],
) -> AsyncIterator[bytes]:
    """The event stream (see the module docstring), with guard details per text (as the native endpoint
    answers); `respond(results)` builds the `done` payload from a TextResult (m2m100.translate) per text. The
    caller checked capacity; `state.active` counts this request while the stream runs."""
    settings, engine, batcher = state.settings, state.engine, state.batcher
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.request_timeout
    futures: list[asyncio.Future] = []
    state.active += 1
    try:
        request = engine.request(texts, sources, targets, fmt, options, details=True)
        plan = await asyncio.wait_for(state.prep_worker.run(engine.plan, request), settings.request_timeout)
        futures = batcher.submit(plan.pieces, plan.options) if plan.pieces else []
        for i, entry in enumerate(plan.texts):
            if entry.count == 0:
                yield sse("sentence", {"item": i, "index": 0, "text": entry.original})
            for k in range(entry.count):
                slot = plan.slots[entry.start + k]
                if slot < 0:  # a piece the model does not need (no letters): as it is
                    yield sse("sentence", {"item": i, "index": k, "text": plan.texts_of_piece[entry.start + k]})
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise asyncio.TimeoutError()
                # shield: a timeout here must not cancel the piece for the batch; `finally` cancels them all
                report = await asyncio.wait_for(asyncio.shield(futures[slot]), remaining)
                yield sse("sentence", {"item": i, "index": k, "text": report.text})
        results = engine.finish(plan, [future.result() for future in futures])
        state.counters["translated_requests"] += 1
        yield sse("done", respond(results))
    except asyncio.TimeoutError:
        yield sse("error", {"status": 503, "error": f"translation did not finish within "
                                                    f"{settings.request_timeout:g} s (request_timeout); retry later"})
    except asyncio.CancelledError:  # the client went away (Starlette cancels the stream)
        state.counters["disconnected"] += 1
        raise
    except Exception as exc:  # noqa: BLE001 - the status line is sent already: report it as an event
        status = getattr(exc, "status", None) or (400 if isinstance(exc, ValueError) else 500)  # ApiError: its own
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        if status >= 500:
            log.exception("streamed translation failed")
        yield sse("error", {"status": status, "error": str(message)})
    finally:
        if futures:
            batcher.cancel(futures)
        state.active -= 1
