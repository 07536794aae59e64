"""Quality guards (m2m100.guards): each detector on hand-made token sequences, the retry policy (bounded,
deterministic, clean pieces untouched), config validation and length-band learning. No model needed."""

from __future__ import annotations

import pytest

from m2m100.guards import (
    Candidate,
    Flag,
    GuardConfig,
    PieceReport,
    check_piece,
    guard_pieces,
    learn_length_band,
    length_band,
    repetition,
    resolve_guards,
    summarize,
)

EOS, PAD, UNK, START = 2, 1, 3, 2
FR, DE = 128028, 128022  # language token ids (only their position matters)


def cand(source: list[int], output: list[int], text: str = "ok", pad: int = 2) -> Candidate:
    """source content and output content -> rows as the tokenizer / generate produce them."""
    return Candidate.make(text, [DE] + source + [EOS], [START, FR] + output + [EOS] + [PAD] * pad, EOS)


def kinds(flags: list[Flag]) -> list[str]:
    return [f.kind for f in flags]


def flags_of(c: Candidate, src="de", tgt="fr", config: GuardConfig | None = None, **kwargs) -> list[Flag]:
    return check_piece(c, "quelque chose", src, tgt, config or GuardConfig(detectors=frozenset(
        {"repetition", "length", "copy", "unk_output", "unk_source"})), eos_id=EOS, unk_id=UNK, **kwargs)


# ------------------------------------------------------------------------------------------------------
# repetition
# ------------------------------------------------------------------------------------------------------
def test_repetition_finds_the_longest_back_to_back_run():
    assert repetition([10, 11, 12, 13, 14], 8) == (1, 0, 0)
    assert repetition([10, 20, 20, 20, 20, 30], 8) == (4, 1, 1)
    assert repetition([9, 5, 6, 7, 5, 6, 7, 5, 6, 7, 8], 8) == (3, 3, 1)
    # a 10-token sentence said three times ("I'm sorry, but..." loops) needs a period of 10
    unit = list(range(40, 50))
    assert repetition(unit * 3, 16)[:2] == (3, 10)
    assert repetition(unit * 3, 8)[0] == 1  # beyond max_period: not seen


def test_loop_is_flagged_and_normal_output_is_not():
    looping = cand([10, 11, 12, 13, 14, 15], [20, 21, 30, 31, 30, 31, 30, 31])
    assert kinds(flags_of(looping)) == ["repetition"]
    assert "repeated 3 times" in flags_of(looping)[0].message
    assert flags_of(cand([10, 11, 12, 13, 14, 15], [20, 21, 22, 23, 24, 25])) == []
    # one token three times is still fine ("very very very"), four times is a loop
    assert flags_of(cand([10, 11, 12, 13, 14, 15], [20, 7, 7, 7, 21, 22])) == []
    assert kinds(flags_of(cand([10, 11, 12, 13, 14, 15], [20, 7, 7, 7, 7, 22]))) == ["repetition"]


def test_repetition_present_in_the_source_is_not_a_loop():
    # "ha ha ha ha" translated as "ha ha ha ha": the source repeats as often
    assert "repetition" not in kinds(flags_of(cand([8, 8, 8, 8, 9], [7, 8, 8, 8, 8, 9])))
    assert "repetition" in kinds(flags_of(cand([8, 8, 8, 8, 9], [8] * 9)))


# ------------------------------------------------------------------------------------------------------
# length
# ------------------------------------------------------------------------------------------------------
def test_length_outside_the_band_is_flagged_with_slack_for_short_pieces():
    src = list(range(100, 110))  # 10 tokens: default band 1/3..3, slack 6 -> at most 36 output tokens
    assert flags_of(cand(src, list(range(200, 236)))) == []
    assert kinds(flags_of(cand(src, list(range(200, 237))))) == ["length"]
    long_src = list(range(100, 160))  # 60 tokens: fewer than 60/3 - 6 = 14 output tokens is too short
    assert flags_of(cand(long_src, list(range(200, 214)))) == []
    assert kinds(flags_of(cand(long_src, list(range(200, 213))))) == ["length"]
    # nothing produced for a real source
    assert kinds(flags_of(cand([100, 101], []))) == ["length"]


def test_length_band_defaults_per_family_and_overrides():
    base = GuardConfig()
    assert length_band(base, "en", "de") == pytest.approx((1 / 3, 3.0))
    assert length_band(base, "en", "ja") == (0.2, 5.0)
    assert length_band(base, "zho_Hans", "fra_Latn") == (0.2, 5.0)
    config = GuardConfig(length_band=(0.5, 2.0), length_bands={("de", "fr"): (0.8, 1.5)})
    assert length_band(config, "de", "fr") == (0.8, 1.5)
    assert length_band(config, "en", "ja") == (0.5, 2.0)
    tight = GuardConfig(detectors=frozenset({"length"}), length_bands={("de", "fr"): (0.8, 1.5)}, length_slack=0)
    assert kinds(flags_of(cand(list(range(100, 110)), list(range(200, 216))), config=tight)) == ["length"]
    assert flags_of(cand(list(range(100, 110)), list(range(200, 215))), config=tight) == []


def test_learn_length_band_covers_the_reference_ratios():
    src = [10] * 100
    tgt = [8 + (i % 5) for i in range(100)]  # ratios 0.8..1.2
    low, high = learn_length_band(src, tgt, coverage=1.0, margin=1.0)
    assert (low, high) == pytest.approx((0.8, 1.2))
    low, high = learn_length_band(src, tgt, margin=1.25)
    assert low == pytest.approx(0.8 / 1.25) and high == pytest.approx(1.2 * 1.25)
    with pytest.raises(ValueError, match="at least 20"):
        learn_length_band([1] * 5, [1] * 5)
    with pytest.raises(ValueError, match="source lengths"):
        learn_length_band([1] * 30, [1] * 29)


# ------------------------------------------------------------------------------------------------------
# copy, unk
# ------------------------------------------------------------------------------------------------------
def test_source_copied_through_is_flagged():
    src = [100, 101, 102, 103, 104, 105]
    assert kinds(flags_of(cand(src, list(src)))) == ["copy"]
    assert kinds(flags_of(cand(src, src[:5] + [999]))) == []  # 5 of 6 tokens: 0.83 < 0.9
    assert flags_of(cand(src[:3], src[:3])) == []  # short pieces (names, numbers) may be kept as they are
    assert flags_of(cand(src, list(src)), src="fr", tgt="fr") == []
    assert flags_of(cand(src, list(src)), src="pt_BR", tgt="pt") == []  # same base language


def test_unk_in_output_and_unknown_source_words_are_reported():
    assert kinds(flags_of(cand([100, 101, 102], [200, UNK, 201]))) == ["unk_output"]
    c = cand([100, UNK, 102], [200, 201, 202])
    flags = check_piece(c, "un 𓀀 mot 𓀀", "de", "fr", GuardConfig(detectors=frozenset({"unk_source"})),
                        eos_id=EOS, unk_id=UNK, word_has_unk=lambda w: w == "𓀀")
    assert kinds(flags) == ["unk_source"] and flags[0].words == ("𓀀",)
    assert flags[0].to_dict() == {"kind": "unk_source", "message": flags[0].message, "words": ["𓀀"]}


# ------------------------------------------------------------------------------------------------------
# language
# ------------------------------------------------------------------------------------------------------
def lang_flags(text: str, target: str) -> list[Flag]:
    c = Candidate.make(text, [DE, 100, EOS], [START, FR, 200, EOS], EOS)
    return check_piece(c, "x", "de", target, GuardConfig(detectors=frozenset({"language"})), eos_id=EOS, unk_id=UNK)


def test_wrong_language_by_identifier_on_long_output():
    german = "Ein Mann in einem blauen Hemd steht auf der Straße und wartet auf den Bus."
    assert kinds(lang_flags(german, "fr")) == ["language"]
    assert "de" in lang_flags(german, "fr")[0].message
    assert lang_flags(german, "de") == []
    assert lang_flags("Un homme en chemise bleue attend le bus dans la rue.", "fr") == []


def test_wrong_script_on_short_output():
    assert kinds(lang_flags("Привет", "fr")) == ["language"]  # too short for the identifier: script check
    assert lang_flags("Bonjour", "fr") == []
    assert lang_flags("Привет", "ru") == []
    assert lang_flags("こんにちは", "ja") == [] and lang_flags("今日", "ja") == []
    assert kinds(lang_flags("Hallo", "zh")) == ["language"]
    assert lang_flags("12 %", "zh") == []  # no letters: nothing to judge
    assert kinds(lang_flags("Привет", "fra_Latn")) == ["language"]  # NLLB code: the script tag decides
    assert lang_flags("你好", "zho_Hans") == []


# ------------------------------------------------------------------------------------------------------
# config
# ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    ({"detectors": frozenset({"spelling"})}, "unknown detectors"),
    ({"max_retries": -1}, "max_retries"),
    ({"max_retries": 9}, "at most 8"),
    ({"min_repeats": 1}, "min_repeats"),
    ({"length_band": (2.0, 1.0)}, "length band"),
    ({"copy_similarity": 0.0}, "copy_similarity"),
])
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GuardConfig(**kwargs)


def test_resolve_guards(monkeypatch):
    assert resolve_guards(False) is None
    assert resolve_guards(True) == GuardConfig()
    config = GuardConfig(max_retries=1)
    assert resolve_guards(config) is config
    monkeypatch.setenv("M2M100_GUARDS", "off")
    assert resolve_guards(None) is None
    monkeypatch.setenv("M2M100_GUARDS", "1")
    assert resolve_guards(None) == GuardConfig()
    with pytest.raises(TypeError, match="guards must be"):
        resolve_guards("yes")


# ------------------------------------------------------------------------------------------------------
# retry policy
# ------------------------------------------------------------------------------------------------------
LOOP = [30, 31] * 4
GOOD = [20, 21, 22, 23]


class FakeModel:
    """Decodes by a script: job piece -> outputs per call; records calls and seeds."""

    def __init__(self, plan: dict[str, list[list[int]]], scores: dict[tuple[int, ...], float] | None = None):
        self.plan = {k: list(v) for k, v in plan.items()}
        self.calls: list[tuple[list[str], dict, int | None]] = []
        self.scores = scores or {}

    def generate(self, jobs, settings, seed):
        self.calls.append(([j[0] for j in jobs], dict(settings), seed))
        return [cand([10, 11, 12, 13], self.plan[j[0]].pop(0), text=f"{j[0]}:{len(self.plan[j[0]])}") for j in jobs]

    def score(self, candidates):
        return [self.scores.get(tuple(c.output_ids), -1.0) for c in candidates]


def run_guard(model: FakeModel, first: dict[str, list[int]], config: GuardConfig | None = None, **kwargs):
    config = config or GuardConfig(detectors=frozenset({"repetition"}))
    jobs = [(name, "de", "fr") for name in first]
    firsts = [cand([10, 11, 12, 13], out, text=f"{name}:first") for name, out in first.items()]
    check = lambda c, job: check_piece(c, job[0], job[1], job[2], config, eos_id=EOS, unk_id=UNK)
    return guard_pieces(jobs, firsts, config, {"num_beams": 2}, check=check, generate=model.generate,
                        score=model.score, **kwargs)


def test_clean_pieces_are_never_decoded_again_or_changed():
    model = FakeModel({"a": [GOOD], "b": [GOOD]})
    reports = run_guard(model, {"clean": GOOD, "b": GOOD})
    assert model.calls == []
    assert [r.text for r in reports] == ["clean:first", "b:first"]
    assert all(r.flags == [] and r.retries == 0 and not r.changed and r.score is None for r in reports)


def test_flagged_piece_is_retried_until_clean_and_the_fix_is_kept():
    model = FakeModel({"loop": [GOOD]})
    report, clean = run_guard(model, {"loop": LOOP, "clean": GOOD})
    assert kinds(report.flags) == ["repetition"] and report.final_flags == []
    assert report.retries == 1 and report.changed and report.text == "loop:0"
    assert clean.retries == 0 and not clean.changed
    names, settings, seed = model.calls[0]
    assert names == ["loop"] and seed is None  # the clean piece is not in the retry batch
    # first retry: beam search with n-gram blocking and a repetition penalty, more beams than asked
    assert settings["num_beams"] == 4 and settings["no_repeat_ngram_size"] == 3
    assert settings["repetition_penalty"] == 1.2 and not settings["do_sample"]


def test_retries_are_bounded_and_sampling_is_seeded_per_piece():
    model = FakeModel({"x": [LOOP, LOOP, LOOP, LOOP], "y": [LOOP, LOOP, LOOP, LOOP]})
    config = GuardConfig(detectors=frozenset({"repetition"}), max_retries=3)
    reports = run_guard(model, {"x": LOOP, "y": LOOP}, config)
    assert [r.retries for r in reports] == [3, 3]
    assert len(model.calls) == 1 + 2 * 2  # one beam batch, then one seeded sample per piece and step
    seeds = [seed for _, _, seed in model.calls[1:]]
    assert None not in seeds and len(set(seeds)) == 4
    assert all(s["do_sample"] and s["num_beams"] == 1 for _, s, _ in model.calls[1:])
    # nothing fixed the loop: the first output stays
    assert [r.text for r in reports] == ["x:first", "y:first"] and not any(r.changed for r in reports)
    # the same input and seed give the same seeds again; another seed gives others
    again = FakeModel({"x": [LOOP] * 4, "y": [LOOP] * 4})
    run_guard(again, {"x": LOOP, "y": LOOP}, config)
    assert [c[2] for c in again.calls] == [c[2] for c in model.calls]
    other = FakeModel({"x": [LOOP] * 4, "y": [LOOP] * 4})
    run_guard(other, {"x": LOOP, "y": LOOP}, GuardConfig(detectors=frozenset({"repetition"}), max_retries=3, seed=1))
    assert [c[2] for c in other.calls][1:] != seeds


def test_max_retries_zero_reports_flags_without_decoding():
    model = FakeModel({})
    (report,) = run_guard(model, {"x": LOOP}, GuardConfig(detectors=frozenset({"repetition"}), max_retries=0))
    assert kinds(report.flags) == ["repetition"] and report.retries == 0 and model.calls == []


def test_best_candidate_by_fewest_flags_then_model_score():
    # retry 1 still loops, retry 2 (sampled) is clean: the clean one wins although it scores lower
    good2 = [24, 25, 26, 27]
    scores = {tuple([START, FR] + LOOP + [EOS, PAD, PAD]): -0.1}
    model = FakeModel({"x": [LOOP, good2]}, scores)
    (report,) = run_guard(model, {"x": LOOP})
    assert report.text == "x:0" and report.retries == 2 and report.changed and report.score == -1.0


def test_score_all_scores_clean_pieces_for_reporting_and_summary_weights_by_tokens():
    model = FakeModel({})
    (report,) = run_guard(model, {"x": GOOD}, score_all=True)
    assert report.score == -1.0 and model.calls == []
    details = summarize("t", [PieceReport("a", score=-1.0, tokens=1), PieceReport("b", score=-4.0, tokens=3),
                              PieceReport("c")])
    assert details.score == pytest.approx(-3.25)
    assert summarize("t", []).score is None


def test_a_loop_weighs_more_than_a_length_flag_when_candidates_are_compared():
    # The n-gram-blocked retry breaks the loop but comes out short (a length flag): one flag each, yet the loop
    # is the failure a reader sees first, so the retry is kept (with equal weights the loop used to stay).
    config = GuardConfig(detectors=frozenset({"repetition", "length"}), length_band=(0.5, 2.0), length_slack=0)
    short = [24]
    model = FakeModel({"x": [short, short]})
    (report,) = run_guard(model, {"x": LOOP}, config)
    assert kinds(report.flags) == ["repetition"]
    assert kinds(report.final_flags) == ["length"] and report.changed and report.text != "x:first"
    # the reverse never happens: a piece flagged only for length does not trade it for a loop
    model = FakeModel({"y": [LOOP, LOOP]})
    (report,) = run_guard(model, {"y": short}, config)
    assert kinds(report.flags) == ["length"] and not report.changed and report.text == "y:first"


def test_a_phrase_said_twice_back_to_back_is_a_loop_unless_the_source_does_it():
    config = GuardConfig(detectors=frozenset({"repetition"}))

    def flags_of(candidate):
        return check_piece(candidate, "s", "de", "fr", config, eos_id=EOS, unk_id=UNK)

    phrase = [40, 41, 42]
    looping = cand([10, 11, 12, 13, 14, 15], [20] + phrase + phrase + [21])
    assert kinds(flags_of(looping)) == ["repetition"] and "unit of 3 token(s) repeated 2 times" in flags_of(looping)[0].message
    # the same two copies are fine when the source repeats itself that much, and a 2-token unit needs 3 copies
    assert flags_of(cand([10, 11, 10, 11, 12, 13], [20] + phrase + phrase + [21])) == []
    assert flags_of(cand([10, 11, 12, 13, 14, 15], [20, 30, 31, 30, 31, 21])) == []
    with pytest.raises(ValueError, match="min_repeats_phrase"):
        GuardConfig(min_repeats_phrase=1)
