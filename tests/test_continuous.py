"""Step-level scheduling (m2m100.generation.continuous): jobs that join in the middle of another job's decoding
give exactly what the Translator gives for the same pieces alone (greedy and beam), take turns step by step,
and a cancelled job leaves at its next step, freeing its rows and its turn."""

from __future__ import annotations

import threading
import time

import pytest

from m2m100.generation.continuous import StepCancelled, StepScheduler, TurnLock

LONG = ["the house is green and the cat sleeps", "we walk to the river every morning", "a small bird sings"]
SHORT = ["good night", "the dog runs"]


@pytest.fixture(scope="module")
def translator(tiny_checkpoint):
    from m2m100 import Translator

    return Translator.from_pretrained(tiny_checkpoint, device="cpu", guards=False)


@pytest.fixture()
def scheduler(translator):
    sched = StepScheduler(translator.model)
    original = translator._lock
    translator._lock = TurnLock(sched, original)
    yield sched
    translator._lock = original
    sched.close()


def _wait_queued(scheduler: StepScheduler, n: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(scheduler._waiting) < n:
        assert time.monotonic() < deadline, "the second job never queued"
        time.sleep(0.001)


@pytest.mark.parametrize("beams", [1, 3])
def test_job_joining_mid_decode_equals_translator_alone(translator, scheduler, beams):
    long_opts = {"num_beams": beams, "min_new_tokens": 30, "max_new_tokens": 36}
    short_opts = {"num_beams": beams, "max_new_tokens": 6}
    want_long = translator.translate_pieces(LONG, "en", "fr", **long_opts)  # alone, outside the scheduler
    want_short = translator.translate_pieces(SHORT, "en", ["de", "es"], **short_opts)

    results: dict[str, object] = {}
    order: list[str] = []

    def short_job():
        results["short"] = scheduler.run(translator.translate_pieces, SHORT, "en", ["de", "es"], **short_opts)
        order.append("short")

    joiner = threading.Thread(target=short_job)
    long_steps = []

    def long_cancelled() -> bool:  # called before each of the long job's decoder steps: B joins at step 3
        long_steps.append(1)
        if len(long_steps) == 3:
            joiner.start()
            _wait_queued(scheduler, 1)
        return False

    results["long"] = scheduler.run(translator.translate_pieces, LONG, "en", "fr", cancelled=long_cancelled,
                                    **long_opts)
    order.append("long")
    joiner.join(30)
    assert results["long"] == want_long
    assert results["short"] == want_short
    assert order == ["short", "long"]  # the short job did not wait for the long one to finish
    assert len(long_steps) >= 30  # min_new_tokens: the long job really decoded on after the join
    assert scheduler.handoffs >= 2 and scheduler.jobs == 0


def test_many_jobs_take_turns_and_each_equals_alone(translator, scheduler):
    texts = [[t] for t in LONG + SHORT]
    want = [translator.translate_pieces(t, "en", "fr", max_new_tokens=12) for t in texts]
    got: list[object] = [None] * len(texts)

    def job(i):
        got[i] = scheduler.run(translator.translate_pieces, texts[i], "en", "fr", max_new_tokens=12)

    threads = [threading.Thread(target=job, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert got == want
    assert scheduler.jobs == 0


def test_cancelled_job_leaves_at_next_step_and_frees_its_turn(translator, scheduler):
    want_short = translator.translate_pieces(SHORT, "en", "fr", max_new_tokens=8)
    cancel = threading.Event()
    steps_after_cancel = []
    errors: list[BaseException] = []

    def long_cancelled() -> bool:
        if cancel.is_set():
            steps_after_cancel.append(1)
        return cancel.is_set()

    def long_job():
        try:
            scheduler.run(translator.translate_pieces, LONG, "en", "fr", cancelled=long_cancelled,
                          min_new_tokens=200, max_new_tokens=220)
        except BaseException as exc:  # noqa: BLE001 - inspected below
            errors.append(exc)

    runner = threading.Thread(target=long_job)
    runner.start()
    deadline = time.monotonic() + 10
    while scheduler.steps < 3:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    cancel.set()
    short = scheduler.run(translator.translate_pieces, SHORT, "en", "fr", max_new_tokens=8)
    runner.join(30)
    assert not runner.is_alive()
    assert short == want_short
    assert len(errors) == 1 and isinstance(errors[0], StepCancelled)
    assert len(steps_after_cancel) == 1  # stopped at the first step after the cancellation: rows freed
    assert scheduler.steps < 200 and scheduler.jobs == 0


def test_cancelled_before_start_runs_nothing(translator, scheduler):
    with pytest.raises(StepCancelled):
        scheduler.run(translator.translate_pieces, SHORT, "en", "fr", cancelled=lambda: True)
    assert scheduler.steps == 0 and scheduler.jobs == 0


def test_calls_outside_jobs_are_untouched(translator, scheduler):
    before = scheduler.steps
    translator.translate_pieces(SHORT, "en", "fr", max_new_tokens=5)  # TurnLock falls back to the real lock
    assert scheduler.steps == before
    with pytest.raises(RuntimeError, match="inside a job"):
        scheduler.run(lambda: scheduler.run(lambda: None))
