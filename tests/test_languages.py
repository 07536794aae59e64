"""Language tables and `normalize_language`: codes, names, aliases, and the errors for everything else."""

from __future__ import annotations

import csv

import pytest

from m2m100.errors import LanguageError
from m2m100.languages import (
    FAIRSEQ_LANGUAGE_CODES,
    FLORES200_CODES,
    ISO_ALIASES,
    LANGUAGE_NAMES,
    language_name,
    normalize_language,
)


def test_code_sets_match_transformers_order():
    from transformers.models.m2m_100.tokenization_m2m_100 import (
        FAIRSEQ_LANGUAGE_CODES as REFERENCE,
    )

    assert FAIRSEQ_LANGUAGE_CODES == REFERENCE
    assert len(FAIRSEQ_LANGUAGE_CODES["m2m100"]) == 100
    assert FAIRSEQ_LANGUAGE_CODES["wmt21"] == ["en", "ha", "is", "ja", "cs", "ru", "zh", "de"]
    assert len(set(FAIRSEQ_LANGUAGE_CODES["m2m100"])) == 100
    assert set(FAIRSEQ_LANGUAGE_CODES["wmt21"]) <= set(FAIRSEQ_LANGUAGE_CODES["m2m100"])


def test_every_code_has_a_name_and_flores_code():
    codes = FAIRSEQ_LANGUAGE_CODES["m2m100"]
    assert set(LANGUAGE_NAMES) == set(codes)
    assert len(FLORES200_CODES) == 98
    assert set(codes) - set(FLORES200_CODES) == {"br", "fy"}
    assert FLORES200_CODES["en"] == "eng_Latn" and FLORES200_CODES["zh"] == "zho_Hans"
    assert language_name("fr") == "French"
    assert language_name("nl") == "Dutch"  # first of "Dutch; Flemish"
    with pytest.raises(LanguageError, match="'xx'"):
        language_name("xx")


def test_tables_agree_with_shared_tsv(data_dir):
    path = data_dir / "flores200-devtest" / "m2m100_flores200_codes.tsv"
    with open(path, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert [row["m2m100_code"] for row in rows] == FAIRSEQ_LANGUAGE_CODES["m2m100"]
    for row in rows:
        code = row["m2m100_code"]
        assert LANGUAGE_NAMES[code] == row["language"]
        assert FLORES200_CODES.get(code, "-") == row["flores200_code"]
        assert (row["in_wmt21_codes"] == "yes") == (code in FAIRSEQ_LANGUAGE_CODES["wmt21"])


@pytest.mark.parametrize("code", FAIRSEQ_LANGUAGE_CODES["m2m100"])
def test_every_code_and_name_normalizes(code):
    assert normalize_language(code) == code
    assert normalize_language(code.upper()) == code
    assert normalize_language(f"__{code}__") == code
    for name in LANGUAGE_NAMES[code].split(";"):
        name = name.strip()
        assert normalize_language(name) == code
        assert normalize_language(name.upper()) == code
        assert normalize_language(name.lower()) == code
    if code in FLORES200_CODES:
        assert normalize_language(FLORES200_CODES[code]) == code


@pytest.mark.parametrize(
    "value,expected",
    [
        ("en", "en"), ("EN", "en"), (" en ", "en"), ("en-US", "en"), ("en_GB", "en"), ("pt_BR", "pt"),
        ("pt-PT", "pt"), ("zh-Hans", "zh"), ("zh-Hant", "zh"), ("zh-TW", "zh"), ("zh_CN", "zh"),
        ("sr-Latn", "sr"), ("en_US.UTF-8", "en"), ("fre", "fr"), ("fra", "fr"), ("deu", "de"), ("ger", "de"),
        ("eng", "en"), ("spa", "es"), ("zho", "zh"), ("chi", "zh"), ("jpn", "ja"), ("rus", "ru"), ("ara", "ar"),
        ("hin", "hi"), ("swa", "sw"), ("nld", "nl"), ("dut", "nl"), ("ces", "cs"), ("cze", "cs"), ("ell", "el"),
        ("gre", "el"), ("fas", "fa"), ("per", "fa"), ("heb", "he"), ("iw", "he"), ("nb", "no"), ("nob", "no"),
        ("nso", "ns"), ("fil", "tl"), ("FRA", "fr"), ("fra_Latn", "fr"), ("French", "fr"), ("french", "fr"),
        ("FRENCH", "fr"), ("german", "de"), ("Dutch", "nl"), ("Flemish", "nl"), ("flemish", "nl"),
        ("Castilian", "es"), ("Farsi", "fa"), ("Scottish Gaelic", "gd"), ("scottish  gaelic", "gd"),
        ("Haitian Creole", "ht"), ("Moldovan", "ro"), ("Valencian", "ca"), ("Occitan", "oc"),
        ("Occitan (post 1500)", "oc"), ("Pashto", "ps"), ("Punjabi", "pa"), ("Sinhalese", "si"),
        ("Mandarin", "zh"), ("Chinese", "zh"), ("Western Frisian", "fy"),
    ],
)
def test_normalize_accepts_variants(value, expected):
    assert normalize_language(value) == expected


def test_iso_aliases_point_at_real_codes():
    codes = set(FAIRSEQ_LANGUAGE_CODES["m2m100"])
    assert set(ISO_ALIASES.values()) <= codes
    assert not set(ISO_ALIASES) & codes  # an alias never shadows a real code


def test_wmt21_code_set():
    assert normalize_language("de", codes="wmt21") == "de"
    assert normalize_language("German", codes="wmt21") == "de"
    assert normalize_language("ces", codes="wmt21") == "cs"
    with pytest.raises(LanguageError) as info:
        normalize_language("fr", codes="wmt21")  # a real M2M100 code, but not in this set
    message = str(info.value)
    assert "'fr'" in message
    assert "en, ha, is, ja, cs, ru, zh, de" in message
    # An explicit list of codes works too.
    assert normalize_language("French", codes=["fr", "de"]) == "fr"
    with pytest.raises(LanguageError):
        normalize_language("English", codes=["fr", "de"])
    with pytest.raises(ValueError, match="code set"):
        normalize_language("en", codes="m2m999")


@pytest.mark.parametrize(
    "value,suggestion",
    [("zz", "zu"), ("enn", "en"), ("Frnch", "fr"), ("germn", "de"), ("Portugese", "pt"), ("xx-YY", None),
     ("Klingon", None), ("", None)],
)
def test_unknown_language_names_input_and_suggests(value, suggestion):
    with pytest.raises(LanguageError) as info:
        normalize_language(value)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert message.startswith(f"unsupported language {value!r}")
    assert "did you mean:" in message
    if suggestion is not None:
        suggested = message.split("did you mean:")[1]
        assert f"{suggestion} (" in suggested


def test_non_string_is_a_language_error():
    with pytest.raises(LanguageError, match="must be a string"):
        normalize_language(None)  # type: ignore[arg-type]
    with pytest.raises(LanguageError):
        normalize_language(42)  # type: ignore[arg-type]
