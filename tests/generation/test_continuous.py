"""Step-level scheduling (m2m100.generation.continuous): jobs that join in the middle of another job's decoding
give exactly what the Translator gives for the same pieces alone (greedy and beam), take turns step by step,
and a cancelled job leaves at its next step, freeing its rows and its turn."""

from __future__ import annotations

import threading
import time

import pytest

from m2m100.errors import GenerationError
from m2m100.generation.continuous import StepCancelled, StepScheduler

LONG = ["the house is green and the cat sleeps", "we walk to the river every morning", "a small bird sings"]
SHORT = ["good night", "the dog runs"]


@pytest.fixture(scope="module")
def translator(tiny_checkpoint):
    from m2m100 import Translator

    return Translator.from_pretrained(tiny_checkpoint, device="cpu", guards=False)


def translating_job(translator, steps):
    """translator.translate_pieces as a job of `steps` runs it: through Translator.run with the scheduler
    passed explicitly (as the server's Engine.run_batch does), which hands it to every model.generate call."""
    from m2m100.translate import TranslationRequest

    def translate(pieces, source, target, **options):
        plan = translator.plan(TranslationRequest(list(pieces), source, target, options=options))
        outputs = translator.run(plan.pieces, plan.options, progress=False, step_scheduler=steps)
        return [result.text for result in translator.finish(plan, outputs)]

    return translate


@pytest.fixture()
def scheduler(translator):
    sched = StepScheduler(translator.model)
    yield sched
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
        results["short"] = scheduler.run(translating_job(translator, scheduler), SHORT, "en", ["de", "es"], **short_opts)
        order.append("short")

    joiner = threading.Thread(target=short_job)
    long_steps = []

    def long_cancelled() -> bool:  # called before each of the long job's decoder steps: B joins at step 3
        long_steps.append(1)
        if len(long_steps) == 3:
            joiner.start()
            _wait_queued(scheduler, 1)
        return False

    results["long"] = scheduler.run(translating_job(translator, scheduler), LONG, "en", "fr", cancelled=long_cancelled,
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
        got[i] = scheduler.run(translating_job(translator, scheduler), texts[i], "en", "fr", max_new_tokens=12)

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
            scheduler.run(translating_job(translator, scheduler), LONG, "en", "fr", cancelled=long_cancelled,
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
    short = scheduler.run(translating_job(translator, scheduler), SHORT, "en", "fr", max_new_tokens=8)
    runner.join(30)
    assert not runner.is_alive()
    assert short == want_short
    assert len(errors) == 1 and isinstance(errors[0], StepCancelled)
    assert len(steps_after_cancel) == 1  # stopped at the first step after the cancellation: rows freed
    assert scheduler.steps < 200 and scheduler.jobs == 0


def test_cancelled_before_start_runs_nothing(translator, scheduler):
    with pytest.raises(StepCancelled):
        scheduler.run(translating_job(translator, scheduler), SHORT, "en", "fr", cancelled=lambda: True)
    assert scheduler.steps == 0 and scheduler.jobs == 0


def test_calls_outside_jobs_are_untouched(translator, scheduler):
    before = scheduler.steps
    translator.translate_pieces(SHORT, "en", "fr", max_new_tokens=5)  # no scheduler given: the Translator's lock
    assert scheduler.steps == before
    with pytest.raises(RuntimeError, match="inside a job"):
        scheduler.run(lambda: scheduler.run(lambda: None))


# -- merged greedy rows (RowMerger, generation.rowbatch): one decoder call per step for the rows of all jobs ----
@pytest.fixture()
def merged(translator):
    sched = StepScheduler(translator.model, merge_greedy=True)
    yield sched
    sched.close()


def _wait_idle(scheduler: StepScheduler, timeout: float = 10.0) -> None:
    """The merger's thread leaves the scheduler just after it settles its last cohort: wait for that."""
    deadline = time.monotonic() + timeout
    while scheduler.jobs or scheduler.merger.rows:
        assert time.monotonic() < deadline, "the scheduler never went idle"
        time.sleep(0.001)


def _run_job(scheduler, results, key, *args, **kwargs):
    try:
        results[key] = scheduler.run(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - inspected by the test
        results[key] = exc


def _long_job_with_joiners(translator, merged, long_opts: dict, joiners: list) -> list:
    """Run a long job (LONG into fr, `long_opts`) in the merged scheduler while `joiners` (pieces, source, target,
    options) start at its merged steps 3, 6 and 9; assert that every job's output equals the same call alone.
    Returns the long job's per-step cancellation checks (one per merged step it saw)."""
    want_long = translator.translate_pieces(LONG, "en", "fr", **long_opts)  # alone, outside the scheduler
    want = [translator.translate_pieces(p, s, t, **o) for p, s, t, o in joiners]

    results: dict = {}
    threads = [threading.Thread(target=_run_job, args=(merged, results, i, translating_job(translator, merged), p, s, t),
                                kwargs=o) for i, (p, s, t, o) in enumerate(joiners)]
    calls = []

    def long_cancelled() -> bool:  # checked before each merged step: newcomers join at steps 3, 6 and 9
        calls.append(1)
        if len(calls) in (3, 6, 9):
            threads[len(calls) // 3 - 1].start()
            _wait_queued(merged, 1)
        return False

    results["long"] = merged.run(translating_job(translator, merged), LONG, "en", "fr", cancelled=long_cancelled,
                                 **long_opts)
    for thread in threads:
        thread.join(60)
    assert results["long"] == want_long
    assert [results[i] for i in range(len(joiners))] == want
    return calls


def test_merged_rows_joining_mid_decode_equal_translator_alone(translator, merged):
    long_opts = {"min_new_tokens": 30, "max_new_tokens": 36}
    joiners = [(SHORT, "en", ["de", "es"], {"max_new_tokens": 6}),
               (["a small bird sings", "good night"], "en", "fr", {"max_new_tokens": 20}),
               (LONG[:1], "en", "it", {"no_repeat_ngram_size": 2, "max_new_tokens": 25})]
    calls = _long_job_with_joiners(translator, merged, long_opts, joiners)
    merger = merged.merger
    assert merger.cohorts == 4  # every job's rows went through the merged batch
    assert merger.largest >= len(LONG) + 2  # rows of different jobs shared a decoder call
    assert len(calls) >= 29  # the long job decoded on, merged, after the joins
    _wait_idle(merged)


def test_merged_many_jobs_each_equal_alone(translator, merged):
    texts = [([t], f"x{i}") for i, t in enumerate(LONG + SHORT)]
    budgets = [12, 3, 8, 20, 5]
    want = [translator.translate_pieces(t, "en", "fr", max_new_tokens=n) for (t, _), n in zip(texts, budgets)]
    results: dict = {}
    threads = [threading.Thread(target=_run_job, args=(merged, results, i, translating_job(translator, merged), t, "en", "fr"),
                                kwargs={"max_new_tokens": n}) for i, ((t, _), n) in enumerate(zip(texts, budgets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [results[i] for i in range(len(texts))] == want
    assert merged.merger.largest >= 2
    _wait_idle(merged)


@pytest.mark.parametrize("beams", [1, 3], ids=["greedy", "beams"])
def test_merged_cancelled_job_rows_leave_at_next_step(translator, merged, beams):
    short_opts = {"max_new_tokens": 8, **({"num_beams": 2} if beams > 1 else {})}
    want_short = translator.translate_pieces(SHORT, "en", "fr", **short_opts)
    cancel = threading.Event()
    seen_after_cancel = []
    results: dict = {}

    def long_cancelled() -> bool:
        if cancel.is_set():
            seen_after_cancel.append(merged.merger.rows)
        return cancel.is_set()

    runner = threading.Thread(target=_run_job, args=(merged, results, "long", translating_job(translator, merged), LONG,
                                                     "en", "fr"),
                              kwargs={"cancelled": long_cancelled, "num_beams": beams, "min_new_tokens": 200,
                                      "max_new_tokens": 220})
    runner.start()
    deadline = time.monotonic() + 10
    while merged.merger.steps < 3:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    steps_at_cancel = merged.merger.steps
    cancel.set()
    short = merged.run(translating_job(translator, merged), SHORT, "en", "fr", **short_opts)
    runner.join(30)
    assert not runner.is_alive()
    assert short == want_short
    assert isinstance(results["long"], StepCancelled)
    assert seen_after_cancel[0] >= beams * len(LONG)  # checked once, with its rows (beams) still in; then they left
    assert len(seen_after_cancel) == 1
    assert merged.merger.steps - steps_at_cancel < 20  # nowhere near the 200 steps the long job asked for
    _wait_idle(merged)


def test_beam_sampling_jobs_keep_their_own_path_beside_merged_rows(translator, merged):
    want_greedy = translator.translate_pieces(SHORT + LONG, "en", "fr", max_new_tokens=15)
    results: dict = {}
    sampler = threading.Thread(target=_run_job, args=(merged, results, "sample", translating_job(translator, merged), LONG,
                                                      "en", "de"),
                               kwargs={"num_beams": 3, "do_sample": True, "max_new_tokens": 15})
    sampler.start()
    results["greedy"] = merged.run(translating_job(translator, merged), SHORT + LONG, "en", "fr", max_new_tokens=15)
    sampler.join(60)
    assert results["greedy"] == want_greedy
    assert isinstance(results["sample"], list) and len(results["sample"]) == len(LONG)
    assert merged.merger.cohorts == 1  # only the greedy job went through the merged batch
    _wait_idle(merged)


# -- merged beam rows (BeamCohort): a beam-search call's inputs x beams share the merged decoder call -------------
@pytest.mark.parametrize("mixed", [False, True], ids=["beams", "beams+greedy"])
def test_merged_beam_rows_joining_mid_decode_equal_translator_alone(translator, merged, mixed):
    long_opts = {"min_new_tokens": 30, "max_new_tokens": 36}
    if not mixed:
        long_opts["num_beams"] = 4
    last = ((LONG[:1], "en", "it", {"no_repeat_ngram_size": 2, "max_new_tokens": 25}) if mixed else
            (LONG[:2], "en", "it", {"num_beams": 2, "early_stopping": "never", "length_penalty": 1.5,
                                    "max_new_tokens": 14}))
    joiners = [(SHORT, "en", ["de", "es"], {"num_beams": 2, "length_penalty": 0.5, "max_new_tokens": 8}),
               (["a small bird sings", "good night"], "en", "fr",
                {"num_beams": 4, "early_stopping": True, "max_new_tokens": 20}),
               last]
    calls = _long_job_with_joiners(translator, merged, long_opts, joiners)
    merger = merged.merger
    assert merger.cohorts == 4  # every job's rows, beams included, went through the merged batch
    assert merger.largest >= len(LONG) * long_opts.get("num_beams", 1) + 2 * 2  # beams of two jobs in one call
    assert len(calls) >= 29  # the long job decoded on, merged, after the joins
    _wait_idle(merged)


def _padded(translator, texts):
    import torch

    rows = translator._encode(texts, "en")
    pad = translator.tokenizer.pad_token_id
    ids = torch.full((len(rows), max(map(len, rows))), pad)
    for r, row in enumerate(rows):
        ids[r, : len(row)] = torch.tensor(row)
    return {"input_ids": ids, "attention_mask": ids.ne(pad).long()}


def _generate(model, kwargs, steps=None):
    import torch

    with torch.inference_mode():
        return model.generate(**kwargs, step_scheduler=steps)


def _generate_in_jobs(scheduler, calls):
    """model.generate(**kwargs) for each call, each in a job of its own thread, started together; returns
    {index: result or exception}."""
    results: dict = {}
    threads = [threading.Thread(target=_run_job, args=(scheduler, results, i, _generate, scheduler.model, kwargs,
                                                       scheduler))
               for i, kwargs in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_merged_beam_calls_with_decoder_prompt_shortlist_and_n_best_equal_alone(translator, merged):
    """Beam calls through generate(): a two-token decoder prompt (its first step runs alone), several returned
    sequences, its own output projection (a vocabulary shortlist); each equals the same call alone."""
    import torch

    model, tok = translator.model, translator.tokenizer
    fr, de = tok.get_lang_id("fr"), tok.get_lang_id("de")
    calls = [{**_padded(translator, LONG), "decoder_input_ids": torch.full((len(LONG), 1), fr), "num_beams": 3,
              "num_return_sequences": 2, "max_new_tokens": 16},
             {**_padded(translator, SHORT), "forced_bos_token_id": de, "num_beams": 2, "max_new_tokens": 16,
              "vocab_shortlist": list(range(4, 120))},
             {**_padded(translator, SHORT), "forced_bos_token_id": fr, "num_beams": 4, "length_penalty": 2.0,
              "max_new_tokens": 12}]
    with torch.inference_mode():
        want = [model.generate(**kwargs) for kwargs in calls]
    results = _generate_in_jobs(merged, calls)
    for i in range(len(calls)):
        assert torch.equal(results[i], want[i]), i
    assert results[0].shape[0] == 2 * len(LONG)
    assert merged.merger.cohorts == 3
    _wait_idle(merged)


def test_a_failing_beam_cohort_leaves_alone_and_the_others_go_on(translator, merged):
    """A beam call whose own logits processor raises mid-decode gets that error; the beam and greedy calls
    decoding beside it in the same merged steps finish, each equal to the call alone."""
    import torch

    model, tok = translator.model, translator.tokenizer
    fr = tok.get_lang_id("fr")
    others = [{**_padded(translator, SHORT), "forced_bos_token_id": fr, "num_beams": 2, "max_new_tokens": 14},
              {**_padded(translator, LONG[1:]), "forced_bos_token_id": fr, "max_new_tokens": 14}]
    with torch.inference_mode():
        want = [model.generate(**kwargs) for kwargs in others]
    seen = []

    def fails_at_step_8(input_ids, scores):
        seen.append(input_ids.shape[0])
        if len(seen) == 8:
            raise ValueError("simulated: a processor of this call failed")
        return scores

    results: dict = {}
    threads = [threading.Thread(target=_run_job, args=(merged, results, i, _generate, model, kwargs, merged))
               for i, kwargs in enumerate(others)]
    calls = []

    def failing_cancelled() -> bool:  # the others join at the failing call's steps 2 and 3
        calls.append(1)
        if len(calls) in (2, 3):
            threads[len(calls) - 2].start()
            _wait_queued(merged, 1)
        return False

    failing = {**_padded(translator, LONG), "forced_bos_token_id": fr, "num_beams": 3, "min_new_tokens": 20,
               "max_new_tokens": 24, "logits_processor": [fails_at_step_8]}
    with pytest.raises(ValueError, match="simulated"):
        merged.run(_generate, model, failing, merged, cancelled=failing_cancelled)
    for thread in threads:
        thread.join(60)
    for i in range(len(others)):
        assert torch.equal(results[i], want[i]), i
    assert len(seen) == 8 and seen[-1] == 3 * len(LONG)
    assert merged.merger.largest >= 3 * len(LONG) + 2 * len(SHORT) + 1  # all three shared the failing step
    _wait_idle(merged)


def test_merged_rows_outside_a_job_decode_alone(translator, merged):
    before = merged.merger.cohorts
    translator.translate_pieces(SHORT, "en", "fr", max_new_tokens=5)
    assert merged.merger.cohorts == before and merged.merger.steps == 0


def test_per_row_positions_equal_the_scalar_path(translator):
    import torch

    positions = translator.model.get_decoder().embed_positions
    ids = torch.tensor([[5, 6], [7, 1], [8, 9]])  # 1 = padding id: its row gets the zero embedding
    past = torch.tensor([0, 3, 7])
    rows = positions(ids, (3, 2), past)
    for r in range(3):
        assert torch.equal(rows[r], positions(ids[r : r + 1], (1, 2), int(past[r]))[0])
    no_ids = positions(None, (3, 2), past, ids.device)
    for r in range(3):
        assert torch.equal(no_ids[r], positions(None, (1, 2), int(past[r]), ids.device)[0])


def test_merged_generate_calls_with_own_projection_equal_alone(translator, merged):
    """A call with a vocabulary shortlist (its own output projection) shares the decoder call, not the
    projection: its rows and the plain call's rows both equal what each call gives alone."""
    import torch

    model, tok = translator.model, translator.tokenizer
    inputs = []
    for texts in (LONG, SHORT):
        rows = translator._encode(texts, "en")
        width = max(map(len, rows))
        ids = torch.full((len(rows), width), tok.pad_token_id)
        for r, row in enumerate(rows):
            ids[r, : len(row)] = torch.tensor(row)
        inputs.append((ids, ids.ne(tok.pad_token_id).long()))
    fr = tok.get_lang_id("fr")
    common = {"forced_bos_token_id": fr, "max_new_tokens": 20}
    calls = [{"input_ids": inputs[0][0], "attention_mask": inputs[0][1], **common},
             {"input_ids": inputs[1][0], "attention_mask": inputs[1][1], **common,
              "vocab_shortlist": list(range(4, 120))}]
    with torch.inference_mode():
        want = [model.generate(**kwargs) for kwargs in calls]
    results: dict = {}

    def call(kwargs):
        with torch.inference_mode():
            return model.generate(**kwargs, step_scheduler=merged)

    threads = [threading.Thread(target=_run_job, args=(merged, results, i, call, kwargs))
               for i, kwargs in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for i in range(len(calls)):
        assert torch.equal(results[i], want[i]), i
    assert merged.merger.cohorts == 2
    _wait_idle(merged)


def test_merged_budget_makes_a_cohort_wait_and_both_equal_alone(translator):
    want_long = translator.translate_pieces(LONG, "en", "fr", max_new_tokens=10)
    want_short = translator.translate_pieces(SHORT, "en", "de", max_new_tokens=10)
    sched = StepScheduler(translator.model, merge_greedy=True, max_rows=len(LONG))  # no room for both at once
    try:
        results: dict = {}
        threads = [threading.Thread(target=_run_job, args=(sched, results, key, translating_job(translator, sched), p, "en", t),
                                    kwargs={"max_new_tokens": 10})
                   for key, p, t in (("long", LONG, "fr"), ("short", SHORT, "de"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert results == {"long": want_long, "short": want_short}
        assert sched.merger.largest <= len(LONG) and sched.merger.cohorts == 2
        _wait_idle(sched)
    finally:
        sched.close()


def test_a_failing_merged_step_fails_its_cohorts_and_the_merger_goes_on(translator, merged, monkeypatch):
    from m2m100.generation.rowbatch import MergedRows

    real_step = MergedRows.step
    calls = []

    def failing_step(self):
        calls.append(1)
        if len(calls) == 2:
            raise MemoryError("simulated: no memory for this step")
        return real_step(self)

    monkeypatch.setattr(MergedRows, "step", failing_step)
    with pytest.raises(MemoryError, match="simulated"):
        merged.run(translating_job(translator, merged), SHORT, "en", "fr", max_new_tokens=8)
    _wait_idle(merged)
    want = translator.translate_pieces(SHORT, "en", "fr", max_new_tokens=8)
    assert merged.run(translating_job(translator, merged), SHORT, "en", "fr", max_new_tokens=8) == want


# -- the scheduler is explicit: generate(step_scheduler=...) ------------------------------------------------------
def test_generate_given_the_scheduler_outside_a_job_runs_as_a_job_of_its_own(translator, merged):
    import torch

    model = translator.model
    kwargs = {**_padded(translator, SHORT), "forced_bos_token_id": translator.tokenizer.get_lang_id("fr"),
              "max_new_tokens": 8}
    with torch.inference_mode():
        want = model.generate(**kwargs)
        got = model.generate(**kwargs, step_scheduler=merged)  # this thread is in no job: it becomes one
    assert torch.equal(got, want)
    assert merged.merger.cohorts == 1  # its greedy rows went through the merged batch
    _wait_idle(merged)


def test_a_job_that_does_not_pass_the_scheduler_takes_turns_but_decodes_alone(translator, merged):
    kwargs = {**_padded(translator, SHORT), "forced_bos_token_id": translator.tokenizer.get_lang_id("fr"),
              "max_new_tokens": 8}
    want = _generate(translator.model, kwargs)
    assert __import__("torch").equal(merged.run(_generate, translator.model, kwargs), want)
    assert merged.merger.cohorts == 0 and merged.steps > 0  # no thread-local finds the merger for it
    assert merged.jobs == 0


def test_a_scheduler_of_another_model_is_refused(translator, tiny_checkpoint):
    from m2m100 import M2M100ForConditionalGeneration

    other = M2M100ForConditionalGeneration.from_pretrained(tiny_checkpoint).eval()
    sched = StepScheduler(other, merge_greedy=True)
    try:
        with pytest.raises(GenerationError, match="another model"):
            translator.model.generate(**_padded(translator, SHORT), max_new_tokens=3, step_scheduler=sched)
    finally:
        sched.close()


def test_no_thread_local_scheduler_is_left():
    from m2m100.generation import continuous

    for name in ("_running", "merger_for", "TurnLock"):
        assert not hasattr(continuous, name), name
