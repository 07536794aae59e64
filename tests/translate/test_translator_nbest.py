"""Translator.translate_nbest: the n best distinct translations per piece (the server's `alternatives`)."""

from __future__ import annotations

import pytest
import torch

from m2m100 import Translator
from m2m100.errors import GenerationError


@pytest.fixture(scope="module")
def translator(tiny_checkpoint):
    torch.set_num_threads(1)
    return Translator.from_pretrained(tiny_checkpoint, device="cpu", prepack=False)


PIECES = ["The house is green.", "Birds sing every morning!", "The house is green.", "123 !", "Hallo."]


def test_nbest_is_distinct_best_first_and_matches_beam_search(translator):
    results = translator.translate_nbest(PIECES, "en", ["fr", "fr", "fr", "fr", "en"], 3, max_new_tokens=8)
    assert len(results) == len(PIECES)
    for i in (0, 1):
        assert 1 <= len(results[i]) <= 3 and len(set(results[i])) == len(results[i])
        # the first alternative is what beam search with as many beams gives as its best
        best = translator.translate_pieces([PIECES[i]], "en", "fr", num_beams=3, max_new_tokens=8)[0]
        assert results[i][0] == best
    assert results[2] == results[0]  # duplicates are translated once
    assert results[3] == ["123 !"] and results[4] == ["Hallo."]  # letterless; source == target
    # more beams than n: at most n strings come back, the best being beam search's best with those beams
    five = translator.translate_nbest(PIECES[:1], "en", "fr", 2, num_beams=5, max_new_tokens=8)[0]
    assert len(five) <= 2
    assert five[0] == translator.translate_pieces(PIECES[:1], "en", "fr", num_beams=5, max_new_tokens=8)[0]


@pytest.mark.parametrize("n", [0, -1, 1.5, "2", True, 65])
def test_bad_n_is_a_generation_error(translator, n):
    with pytest.raises(GenerationError, match="n must be an integer"):
        translator.translate_nbest(PIECES[:1], "en", "fr", n)


def test_sampling_is_refused(translator):
    with pytest.raises(GenerationError, match="do_sample"):
        translator.translate_nbest(PIECES[:1], "en", "fr", 2, do_sample=True)
