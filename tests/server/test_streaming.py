"""The continuous scheduler (--scheduler continuous) and SSE streaming (POST /v1/translate with "stream": true),
against real server processes: answers equal the Translator's whatever shares the batch, a short request is not
held past its timeout by a long neighbour, a disconnected stream frees its rows, and events come in order."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest

from .conftest import MAIN_ARGS, post_json

STEP_LAUNCHER = Path(__file__).resolve().parent / "step_delay_server.py"
LONG_TEXT = " ".join(f"The {w} house is green and the cat sleeps near the river." for w in
                     ("red", "old", "small", "big", "new", "tall", "dark", "warm"))
# Six long texts without a sentence in common (the Translator's plan translates a repeated sentence once).
LONG_TEXTS = [LONG_TEXT.replace("house", thing) for thing in ("house", "car", "boat", "door", "wall", "tree")]


@pytest.fixture(scope="module")
def continuous_server(start_server):
    return start_server([*MAIN_ARGS, "--scheduler", "continuous"]).wait_ready()


@pytest.fixture(scope="module")
def delay_server(start_server):
    """Continuous scheduler, every decoding step 40 ms slower, one batch per request at a time, 5 s timeout."""
    args = ["--scheduler", "continuous", "--threads", "1", "--no-warmup", "--request-timeout", "5",
            "--max-batch-size", "2", "--max-running-batches", "1", "--batch-wait-ms", "5"]
    return start_server(args, launcher=STEP_LAUNCHER, env={"M2M100_TEST_STEP_DELAY": "0.04"}).wait_ready()


def events(response: httpx.Response) -> list[tuple[str, dict]]:
    out = []
    for block in response.text.split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_continuous_server_equals_translator_under_concurrency(continuous_server, translator):
    jobs = [("The house is green. The cat sleeps.", "fr", 1), ("A small bird sings.", "de", 2),
            (LONG_TEXT, "es", 1), ("Good night.", "fr", 2), ("We walk to the river.", "it", 1)]
    answers: list = [None] * len(jobs)

    def call(i):
        text, target, beams = jobs[i]
        answers[i] = post_json(continuous_server, "/translate",
                               {"q": text, "source": "en", "target": target, "num_beams": beams})

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for (text, target, beams), response in zip(jobs, answers):
        assert response.status_code == 200, response.text
        assert response.json()["translatedText"] == translator.translate(text, "en", target, num_beams=beams)
    stats = continuous_server.wait_idle()
    assert stats["decode_steps"] > 0 and stats["running_batches"] == 0
    assert stats["merged_steps"] > 0 and stats["merged_rows"] == 0  # the greedy rows shared decoder calls


@pytest.mark.parametrize("which", ["server", "continuous_server"])
def test_stream_sends_sentences_in_order_then_done(request, which):
    srv = request.getfixturevalue(which)
    body = {"items": ["The house is green. The cat sleeps. A bird sings.", "1234", "Good night."],
            "source": "en", "target": "fr"}
    plain = post_json(srv, "/v1/translate", body)
    assert plain.status_code == 200
    response = post_json(srv, "/v1/translate", {**body, "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    got = events(response)
    kinds = [kind for kind, _ in got]
    assert kinds[-1] == "done" and set(kinds[:-1]) == {"sentence"}
    sentences = [data for _, data in got[:-1]]
    expected_order = [(i, k) for i, t in enumerate(plain.json()["translations"]) for k in range(max(1, t["sentences"]))]
    assert [(s["item"], s["index"]) for s in sentences] == expected_order
    assert sentences[3]["text"] == "1234"  # no letters: the text itself, as one sentence
    done = got[-1][1]
    assert [t["text"] for t in done["translations"]] == [t["text"] for t in plain.json()["translations"]]
    assert done["translations"][0]["text"].startswith(sentences[0]["text"])


def test_stream_bad_input_is_plain_json_error(continuous_server):
    response = post_json(continuous_server, "/v1/translate", {"items": [], "source": "en", "target": "fr",
                                                              "stream": True})
    assert response.status_code == 400 and "items" in response.json()["error"]
    response = post_json(continuous_server, "/v1/translate", {"items": ["Hi."], "source": "en", "target": "fr",
                                                              "stream": "yes"})
    assert response.status_code == 400 and "stream" in response.json()["error"]


def test_short_request_is_not_held_by_long_neighbour(delay_server):
    long_items = [LONG_TEXT] * 6  # ~48 sentences in batches of 2, each step 40 ms: far beyond the 5 s timeout
    long_result: dict = {}

    def long_call():
        long_result["response"] = post_json(delay_server, "/v1/translate",
                                            {"items": long_items, "source": "en", "target": "fr",
                                             "max_new_tokens": 40})
        long_result["done_at"] = time.monotonic()

    runner = threading.Thread(target=long_call)
    runner.start()
    deadline = time.monotonic() + 10
    while not delay_server.stats().get("running_batches"):
        assert time.monotonic() < deadline, "the long request never started"
        time.sleep(0.02)
    for _ in range(2):
        started = time.monotonic()
        short = post_json(delay_server, "/translate", {"q": "Good night.", "source": "en", "target": "fr",
                                                       "max_new_tokens": 5})
        elapsed = time.monotonic() - started
        assert short.status_code == 200, short.text
        assert elapsed < 2.5, f"short request took {elapsed:.1f} s beside a long one"
    assert "done_at" not in long_result  # the long neighbour was still decoding all along
    runner.join(30)
    delay_server.wait_idle()


def test_disconnected_stream_frees_its_rows_at_the_next_step(delay_server):
    body = {"items": LONG_TEXTS, "source": "en", "target": "fr", "max_new_tokens": 40, "stream": True}
    with httpx.Client(base_url=delay_server.url, timeout=30) as client, \
            client.stream("POST", "/v1/translate", json=body) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("event: sentence"):
                break  # the first sentence arrived; leave with the rest still decoding
    gone_at = time.monotonic()
    stats = delay_server.wait_idle(timeout=10)
    assert time.monotonic() - gone_at < 2.0  # not the many seconds the rest would take
    assert stats["running_batches"] == 0


def test_stream_past_its_timeout_ends_with_an_error_event(delay_server):
    body = {"items": LONG_TEXTS, "source": "en", "target": "fr", "max_new_tokens": 40, "stream": True}
    response = post_json(delay_server, "/v1/translate", body, timeout=30)
    assert response.status_code == 200  # the stream had started: the failure is an event
    got = events(response)
    assert got[-1][0] == "error" and got[-1][1]["status"] == 503 and "request_timeout" in got[-1][1]["error"]
    assert {kind for kind, _ in got[:-1]} <= {"sentence"}
    assert delay_server.wait_idle(timeout=10)["running_batches"] == 0
