"""Language tables of M2M100 and a forgiving parser for language names and codes, per code set.

`FAIRSEQ_LANGUAGE_CODES` lists the codes of each M2M100 language-code set in model order: the language token of
the i-th code `xx` is `__xx__` with id `len(vocab.json) + i`. NLLB-200 models speak the 202 FLORES-200 codes
(`eng_Latn`, languages_nllb.py). `normalize_language` turns what a person types ("French", "fra", "pt_BR",
"zh-Hant", "EN") into a code of the given set (M2M100's `fr`, NLLB's `fra_Latn`), or raises LanguageError with
suggestions; a set whose codes look like FLORES codes (`xxx_Yyyy`) is treated as an NLLB set.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from .errors import LanguageError
from .languages_nllb import (
    NLLB_AMBIGUOUS,
    NLLB_EXTRA_NAMES,
    NLLB_ISO_ALIASES,
    NLLB_LANGUAGE_CODES,
    NLLB_LANGUAGE_NAMES,
)

# fmt: off
FAIRSEQ_LANGUAGE_CODES: dict[str, list[str]] = {
    "m2m100": [
        "af", "am", "ar", "ast", "az", "ba", "be", "bg", "bn", "br", "bs", "ca", "ceb", "cs", "cy", "da", "de", "el",
        "en", "es", "et", "fa", "ff", "fi", "fr", "fy", "ga", "gd", "gl", "gu", "ha", "he", "hi", "hr", "ht", "hu",
        "hy", "id", "ig", "ilo", "is", "it", "ja", "jv", "ka", "kk", "km", "kn", "ko", "lb", "lg", "ln", "lo", "lt",
        "lv", "mg", "mk", "ml", "mn", "mr", "ms", "my", "ne", "nl", "no", "ns", "oc", "or", "pa", "pl", "ps", "pt",
        "ro", "ru", "sd", "si", "sk", "sl", "so", "sq", "sr", "ss", "su", "sv", "sw", "ta", "th", "tl", "tn", "tr",
        "uk", "ur", "uz", "vi", "wo", "xh", "yi", "yo", "zh", "zu",
    ],
    "wmt21": ["en", "ha", "is", "ja", "cs", "ru", "zh", "de"],
}

# English names (ISO 639 style; several names separated by "; ").
LANGUAGE_NAMES: dict[str, str] = {
    "af": "Afrikaans", "am": "Amharic", "ar": "Arabic", "ast": "Asturian", "az": "Azerbaijani", "ba": "Bashkir",
    "be": "Belarusian", "bg": "Bulgarian", "bn": "Bengali", "br": "Breton", "bs": "Bosnian",
    "ca": "Catalan; Valencian", "ceb": "Cebuano", "cs": "Czech", "cy": "Welsh", "da": "Danish", "de": "German",
    "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian", "fa": "Persian", "ff": "Fulah",
    "fi": "Finnish", "fr": "French", "fy": "Western Frisian", "ga": "Irish", "gd": "Gaelic; Scottish Gaelic",
    "gl": "Galician", "gu": "Gujarati", "ha": "Hausa", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian",
    "ht": "Haitian; Haitian Creole", "hu": "Hungarian", "hy": "Armenian", "id": "Indonesian", "ig": "Igbo",
    "ilo": "Iloko", "is": "Icelandic", "it": "Italian", "ja": "Japanese", "jv": "Javanese", "ka": "Georgian",
    "kk": "Kazakh", "km": "Central Khmer", "kn": "Kannada", "ko": "Korean", "lb": "Luxembourgish", "lg": "Ganda",
    "ln": "Lingala", "lo": "Lao", "lt": "Lithuanian", "lv": "Latvian", "mg": "Malagasy", "mk": "Macedonian",
    "ml": "Malayalam", "mn": "Mongolian", "mr": "Marathi", "ms": "Malay", "my": "Burmese", "ne": "Nepali",
    "nl": "Dutch; Flemish", "no": "Norwegian", "ns": "Northern Sotho", "oc": "Occitan (post 1500)", "or": "Oriya",
    "pa": "Panjabi; Punjabi", "pl": "Polish", "ps": "Pushto; Pashto", "pt": "Portuguese",
    "ro": "Romanian; Moldavian; Moldovan", "ru": "Russian", "sd": "Sindhi", "si": "Sinhala; Sinhalese",
    "sk": "Slovak", "sl": "Slovenian", "so": "Somali", "sq": "Albanian", "sr": "Serbian", "ss": "Swati",
    "su": "Sundanese", "sv": "Swedish", "sw": "Swahili", "ta": "Tamil", "th": "Thai", "tl": "Tagalog",
    "tn": "Tswana", "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu", "uz": "Uzbek", "vi": "Vietnamese",
    "wo": "Wolof", "xh": "Xhosa", "yi": "Yiddish", "yo": "Yoruba", "zh": "Chinese", "zu": "Zulu",
}

# M2M100 code -> FLORES-200 file code (the variety FLORES uses for it). Breton and Western Frisian are not in
# FLORES-200, so 98 of the 100 languages are here.
FLORES200_CODES: dict[str, str] = {
    "af": "afr_Latn", "am": "amh_Ethi", "ar": "arb_Arab", "ast": "ast_Latn", "az": "azj_Latn", "ba": "bak_Cyrl",
    "be": "bel_Cyrl", "bg": "bul_Cyrl", "bn": "ben_Beng", "bs": "bos_Latn", "ca": "cat_Latn", "ceb": "ceb_Latn",
    "cs": "ces_Latn", "cy": "cym_Latn", "da": "dan_Latn", "de": "deu_Latn", "el": "ell_Grek", "en": "eng_Latn",
    "es": "spa_Latn", "et": "est_Latn", "fa": "pes_Arab", "ff": "fuv_Latn", "fi": "fin_Latn", "fr": "fra_Latn",
    "ga": "gle_Latn", "gd": "gla_Latn", "gl": "glg_Latn", "gu": "guj_Gujr", "ha": "hau_Latn", "he": "heb_Hebr",
    "hi": "hin_Deva", "hr": "hrv_Latn", "ht": "hat_Latn", "hu": "hun_Latn", "hy": "hye_Armn", "id": "ind_Latn",
    "ig": "ibo_Latn", "ilo": "ilo_Latn", "is": "isl_Latn", "it": "ita_Latn", "ja": "jpn_Jpan", "jv": "jav_Latn",
    "ka": "kat_Geor", "kk": "kaz_Cyrl", "km": "khm_Khmr", "kn": "kan_Knda", "ko": "kor_Hang", "lb": "ltz_Latn",
    "lg": "lug_Latn", "ln": "lin_Latn", "lo": "lao_Laoo", "lt": "lit_Latn", "lv": "lvs_Latn", "mg": "plt_Latn",
    "mk": "mkd_Cyrl", "ml": "mal_Mlym", "mn": "khk_Cyrl", "mr": "mar_Deva", "ms": "zsm_Latn", "my": "mya_Mymr",
    "ne": "npi_Deva", "nl": "nld_Latn", "no": "nob_Latn", "ns": "nso_Latn", "oc": "oci_Latn", "or": "ory_Orya",
    "pa": "pan_Guru", "pl": "pol_Latn", "ps": "pbt_Arab", "pt": "por_Latn", "ro": "ron_Latn", "ru": "rus_Cyrl",
    "sd": "snd_Arab", "si": "sin_Sinh", "sk": "slk_Latn", "sl": "slv_Latn", "so": "som_Latn", "sq": "als_Latn",
    "sr": "srp_Cyrl", "ss": "ssw_Latn", "su": "sun_Latn", "sv": "swe_Latn", "sw": "swh_Latn", "ta": "tam_Taml",
    "th": "tha_Thai", "tl": "tgl_Latn", "tn": "tsn_Latn", "tr": "tur_Latn", "uk": "ukr_Cyrl", "ur": "urd_Arab",
    "uz": "uzn_Latn", "vi": "vie_Latn", "wo": "wol_Latn", "xh": "xho_Latn", "yi": "ydd_Hebr", "yo": "yor_Latn",
    "zh": "zho_Hans", "zu": "zul_Latn",
}

# ISO 639-2 (bibliographic and terminologic) and ISO 639-3 codes, deprecated ISO 639-1 codes and a few
# individual-language codes (those FLORES-200 uses among them) -> M2M100 code.
ISO_ALIASES: dict[str, str] = {
    "afr": "af", "amh": "am", "ara": "ar", "arb": "ar", "aze": "az", "azj": "az", "azb": "az",
    "bak": "ba", "bel": "be", "bul": "bg", "ben": "bn", "bre": "br", "bos": "bs", "cat": "ca", "ces": "cs",
    "cze": "cs", "cym": "cy", "wel": "cy", "dan": "da", "deu": "de", "ger": "de", "ell": "el", "gre": "el",
    "eng": "en", "spa": "es", "est": "et", "ekk": "et", "fas": "fa", "per": "fa", "pes": "fa", "prs": "fa",
    "ful": "ff", "fuv": "ff", "fin": "fi", "fra": "fr", "fre": "fr", "fry": "fy", "gle": "ga", "gla": "gd",
    "glg": "gl", "guj": "gu", "hau": "ha", "heb": "he", "iw": "he", "hin": "hi", "hrv": "hr", "hat": "ht",
    "hun": "hu", "hye": "hy", "arm": "hy", "ind": "id", "in": "id", "ibo": "ig", "isl": "is", "ice": "is",
    "ita": "it", "jpn": "ja", "jav": "jv", "jw": "jv", "kat": "ka", "geo": "ka", "kaz": "kk", "khm": "km",
    "kan": "kn", "kor": "ko", "ltz": "lb", "lug": "lg", "lin": "ln", "lao": "lo", "lit": "lt", "lav": "lv",
    "lvs": "lv", "mlg": "mg", "plt": "mg", "mkd": "mk", "mac": "mk", "mal": "ml", "mon": "mn", "khk": "mn",
    "mar": "mr", "msa": "ms", "may": "ms", "zsm": "ms", "mya": "my", "bur": "my", "nep": "ne", "npi": "ne",
    "nld": "nl", "dut": "nl", "nor": "no", "nob": "no", "nb": "no", "nso": "ns", "oci": "oc", "ori": "or",
    "ory": "or", "pan": "pa", "pol": "pl", "pus": "ps", "pbt": "ps", "pbu": "ps", "por": "pt", "ron": "ro",
    "rum": "ro", "mo": "ro", "mol": "ro", "rus": "ru", "snd": "sd", "sin": "si", "slk": "sk", "slo": "sk",
    "slv": "sl", "som": "so", "sqi": "sq", "alb": "sq", "als": "sq", "srp": "sr", "ssw": "ss", "sun": "su",
    "swe": "sv", "swa": "sw", "swh": "sw", "tam": "ta", "tha": "th", "tgl": "tl", "fil": "tl", "tsn": "tn",
    "tur": "tr", "ukr": "uk", "urd": "ur", "uzb": "uz", "uzn": "uz", "vie": "vi", "wol": "wo", "xho": "xh",
    "yid": "yi", "ydd": "yi", "ji": "yi", "yor": "yo", "zho": "zh", "chi": "zh", "cmn": "zh", "zul": "zu",
}

# Other common English names (and endonyms people type) that are not in LANGUAGE_NAMES.
EXTRA_NAMES: dict[str, str] = {
    "farsi": "fa", "castilian": "es", "filipino": "tl", "myanmar": "my", "fula": "ff", "fulani": "ff",
    "pulaar": "ff", "bokmal": "no", "bokmål": "no", "norwegian bokmal": "no", "norwegian bokmål": "no",
    "sepedi": "ns", "pedi": "ns", "sesotho sa leboa": "ns", "luganda": "lg", "khmer": "km", "slovene": "sl",
    "setswana": "tn", "siswati": "ss", "swazi": "ss", "isixhosa": "xh", "isizulu": "zu", "ilocano": "ilo",
    "ilokano": "ilo", "kiswahili": "sw", "mandarin": "zh", "simplified chinese": "zh", "traditional chinese": "zh",
    "chinese (simplified)": "zh", "chinese (traditional)": "zh", "modern greek": "el", "greek, modern": "el",
    "occitan": "oc", "odia": "or", "azeri": "az", "gaelic": "gd", "haitian creole": "ht", "frisian": "fy",
    "frysk": "fy", "bisaya": "ceb", "visayan": "ceb", "deutsch": "de", "français": "fr", "francais": "fr",
    "español": "es", "espanol": "es", "italiano": "it", "português": "pt", "portugues": "pt", "nederlands": "nl",
    "русский": "ru", "中文": "zh", "日本語": "ja", "한국어": "ko", "العربية": "ar", "हिन्दी": "hi",
}
# fmt: on


# Every named code set: M2M100's ("m2m100", "wmt21") and NLLB-200's ("nllb").
CODE_SETS: dict[str, list[str]] = {**FAIRSEQ_LANGUAGE_CODES, "nllb": NLLB_LANGUAGE_CODES}
_FLORES_CODE = re.compile(r"[a-z]{2,3}_[A-Z][a-z]{3}")


def _code_list(codes: str | Iterable[str]) -> list[str]:
    if isinstance(codes, str):
        if codes not in CODE_SETS:
            raise ValueError(f"unknown language code set {codes!r}; expected one of {sorted(CODE_SETS)}")
        return CODE_SETS[codes]
    return list(codes)


def code_set_kind(codes: str | Iterable[str]) -> str:
    """"nllb" when every code of the set is a FLORES-200 code (`eng_Latn`), else "m2m100"."""
    code_list = _code_list(codes)
    return "nllb" if code_list and all(_FLORES_CODE.fullmatch(c) for c in code_list) else "m2m100"


def language_name(code: str) -> str:
    """English name of an M2M100 or NLLB language code (the first name where several are given)."""
    if code in LANGUAGE_NAMES:
        return LANGUAGE_NAMES[code].split(";")[0].strip()
    if code in NLLB_LANGUAGE_NAMES:
        return NLLB_LANGUAGE_NAMES[code]
    codes = "nllb" if isinstance(code, str) and _FLORES_CODE.fullmatch(code) else "m2m100"
    raise LanguageError(f"unsupported language {code!r}; {_suggestion_text(str(code), _code_list(codes))}")


def language_alternatives(code: str) -> list[str]:
    """Other FLORES-200 codes of the language `code` is the default of (`zho_Hans` -> `zho_Hant`, `yue_Hant`):
    what a name like "Chinese" could also have meant. Empty when the name is not ambiguous."""
    for options in NLLB_AMBIGUOUS.values():
        if options[0] == code:
            return list(options[1:])
    return []


def to_code_set(code: str, codes: str | Iterable[str]) -> str | None:
    """`code` (an M2M100 code, as the language detector returns) as a code of `codes`: itself when the set has
    it, its FLORES-200 code for an NLLB set (`fr` -> `fra_Latn`), None when the set has no such language."""
    code_list = _code_list(codes)
    if code in code_list:
        return code
    if code_set_kind(code_list) == "nllb":
        flores = FLORES200_CODES.get(code)
        return flores if flores in set(code_list) else None
    return None


def _names_index() -> dict[str, str]:
    """casefolded name -> code, for every name of every language (all parts of multi-name entries)."""
    index: dict[str, str] = {}
    for code, names in LANGUAGE_NAMES.items():
        for name in names.split(";"):
            name = name.strip()
            index[_fold(name)] = code
            bare = re.sub(r"\s*\(.*?\)\s*", " ", name).strip()  # "Occitan (post 1500)" -> "Occitan"
            index.setdefault(_fold(bare), code)
    for name, code in EXTRA_NAMES.items():
        index.setdefault(_fold(name), code)
    return index


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


_NAMES = _names_index()


def _suggest(value: str, codes: list[str], n: int = 5) -> list[str]:
    """Closest codes to `value`, comparing against codes, aliases and names; never empty for a non-empty set."""
    allowed = set(codes)
    key = _fold(value)
    candidates: dict[str, str] = {code: code for code in codes}
    if code_set_kind(codes) == "nllb":
        candidates.update({code.casefold(): code for code in codes})
        for name, options in _NLLB_NAMES.items():
            for code in options:
                if code in allowed:
                    candidates.setdefault(name, code)
                    break
        alias_table = {alias: FLORES200_CODES.get(code) for alias, code in ISO_ALIASES.items()}
        names = {name: FLORES200_CODES.get(code) for name, code in _NAMES.items()}
    else:
        alias_table, names = ISO_ALIASES, _NAMES
    for alias, code in alias_table.items():
        if code in allowed:
            candidates.setdefault(alias, code)
    for name, code in names.items():
        if code in allowed:
            candidates.setdefault(name, code)
    found: list[str] = []
    for cutoff in (0.6, 0.4, 0.0):
        for match in difflib.get_close_matches(key, list(candidates), n=3 * n, cutoff=cutoff):
            code = candidates[match]
            if code not in found:
                found.append(code)
        if found:
            break
    return found[:n]


def _suggestion_text(value: str, codes: list[str]) -> str:
    suggestions = _suggest(value, codes)
    if not suggestions:
        return "no languages are available"
    shown = ", ".join(f"{code} ({language_name(code)})" if code in LANGUAGE_NAMES or code in NLLB_LANGUAGE_NAMES
                      else code for code in suggestions)
    return f"did you mean: {shown}?"


def unsupported_language_error(value: object, codes: str | Iterable[str] = "m2m100") -> LanguageError:
    """The LanguageError for `value`, naming it and suggesting the closest supported codes."""
    code_list = _code_list(codes)
    message = f"unsupported language {value!r}; {_suggestion_text(str(value), code_list)}"
    if len(code_list) <= 20:
        label = f"the {codes} code set" if isinstance(codes, str) else "this model"
        message += f" ({label} has: {', '.join(code_list)})"
    return LanguageError(message)


def normalize_language(value: str, codes: str | Iterable[str] = "m2m100") -> str:
    """The supported language code meant by `value`.

    Accepts exact codes, other cases ("EN"), region or script variants ("en-US", "pt_BR", "zh-Hant", FLORES
    codes like "fra_Latn"), ISO 639-2/3 codes ("fra", "fre", "deu", "zho") and English names in any case
    ("French", "dutch", "Flemish"). `codes` is a code-set name ("m2m100", "wmt21", "nllb") or a list of codes.

    For an NLLB set (FLORES-200 codes) the same inputs give FLORES codes: "en", "English", "eng", "en-US" ->
    "eng_Latn". A language with several codes resolves to its default (languages_nllb.NLLB_AMBIGUOUS: "Chinese"
    -> "zho_Hans", "Arabic" -> "arb_Arab", "Norwegian" -> "nob_Latn", "Persian" -> "pes_Arab", "Kurdish" ->
    "kmr_Latn"; `language_alternatives` lists the others); a script or region tag picks another ("zh-Hant",
    "zh-TW" -> "zho_Hant"), and a script the model lacks for that language ("sr-Latn") is an error naming the
    codes it has. Anything else raises LanguageError naming the input and suggesting the closest codes.
    """
    code_list = _code_list(codes)
    allowed = set(code_list)
    if not isinstance(value, str):
        raise LanguageError(f"language must be a string, got {type(value).__name__}: {value!r}")
    text = value.strip()
    if text in allowed:
        return text
    if code_set_kind(code_list) == "nllb":
        found = _normalize_flores(text, code_list)
        if found is None:
            raise unsupported_language_error(value, codes)
        return found
    folded = _fold(text)
    if folded.startswith("__") and folded.endswith("__") and len(folded) > 4:  # a language token: __fr__
        folded = folded[2:-2]
    for candidate in _candidates(folded):
        if candidate in allowed:
            return candidate
    raise unsupported_language_error(value, codes)


def check_language(value: str) -> str:
    """`value` stripped, when it names a language of some code set (M2M100's or NLLB-200's); front ends check
    this before the model (and so its code set) is known, and leave the final normalisation to the model's
    Translator (an NLLB model reads "zh-Hant" as zho_Hant, M2M100 as zh). Raises LanguageError otherwise."""
    try:
        normalize_language(value, "m2m100")
    except LanguageError as m2m100_error:
        try:
            normalize_language(value, "nllb")
        except LanguageError:
            raise m2m100_error from None
    return value.strip()


def _candidates(folded: str) -> list[str]:
    out = [folded]
    if folded in ISO_ALIASES:
        out.append(ISO_ALIASES[folded])
    if folded in _NAMES:
        out.append(_NAMES[folded])
    # BCP-47 / POSIX / FLORES variants: the primary subtag decides (en-US, pt_BR, zh-Hant-TW, fra_Latn, en_US.UTF-8).
    primary = re.split(r"[-_.@]", folded, maxsplit=1)[0]
    if primary and primary != folded:
        out.append(primary)
        if primary in ISO_ALIASES:
            out.append(ISO_ALIASES[primary])
    return out


# ---------------------------------------------------------------------------------------------------------------
# FLORES-200 (NLLB) code sets
# ---------------------------------------------------------------------------------------------------------------
def _nllb_names_index() -> dict[str, tuple[str, ...]]:
    """casefolded name -> FLORES codes, default first: FLORES names, names without "(... script)", extra names,
    and the documented defaults of ambiguous names."""
    index: dict[str, list[str]] = {}
    for code, name in NLLB_LANGUAGE_NAMES.items():
        index.setdefault(_fold(name), []).append(code)
        bare = re.sub(r"\s*\(.*?\)\s*", " ", name).strip()  # "Kashmiri (Arabic script)" -> "Kashmiri"
        if bare != name:
            index.setdefault(_fold(bare), []).append(code)
    out = {name: tuple(codes) for name, codes in index.items()}
    for name, code in NLLB_EXTRA_NAMES.items():
        out.setdefault(_fold(name), (code,))
    out.update({key: options for key, options in NLLB_AMBIGUOUS.items() if not re.fullmatch(r"[a-z]{3}", key)})
    return out


_NLLB_NAMES = _nllb_names_index()
# zh-TW, zh-HK, zh-MO write Traditional characters.
_TRADITIONAL_REGIONS = {"tw", "hk", "mo"}


def _flores_options(primary: str) -> tuple[str, ...]:
    """FLORES codes of the language an ISO 639 code or M2M100 code names, default first (may be empty)."""
    if primary in NLLB_AMBIGUOUS:
        return NLLB_AMBIGUOUS[primary]
    direct = tuple(c for c in NLLB_LANGUAGE_CODES if c.startswith(primary + "_"))
    if direct:
        return direct
    code = NLLB_ISO_ALIASES.get(primary) or FLORES200_CODES.get(ISO_ALIASES.get(primary, primary))
    if code is None:
        return ()
    return next((options for options in NLLB_AMBIGUOUS.values() if options[0] == code), (code,))


def _normalize_flores(text: str, code_list: list[str]) -> str | None:
    """The FLORES code of `code_list` that `text` means, or None (see normalize_language)."""
    allowed = set(code_list)
    folded = _fold(text)
    if folded.startswith("__") and folded.endswith("__") and len(folded) > 4:
        folded = folded[2:-2]
    by_fold = {code.casefold(): code for code in code_list}
    if folded.replace("-", "_") in by_fold:  # ENG_LATN, eng-Latn
        return by_fold[folded.replace("-", "_")]
    options = _NLLB_NAMES.get(folded) or ()
    if not options and folded in _NAMES:  # an M2M100 name or alias: "Flemish", "Deutsch"
        options = _flores_options(_NAMES[folded])
    script = region = None
    if not options:
        parts = [part for part in re.split(r"[-_.@]", folded) if part]
        if not parts:
            return None
        options = _flores_options(parts[0])
        for part in parts[1:]:
            if script is None and len(part) == 4 and part.isalpha():
                script = part
            elif region is None and ((len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit())):
                region = part
    options = tuple(code for code in options if code in allowed)
    if not options:
        return None
    if script is not None:
        for code in options:
            if code.split("_")[1].casefold() == script:
                return code
        name = language_name(options[0]) if options[0] in NLLB_LANGUAGE_NAMES else options[0]
        raise LanguageError(
            f"unsupported language {text!r}: this model has no {script.title()} script for {name}; "
            f"it has {', '.join(options)}"
        )
    if region in _TRADITIONAL_REGIONS and "zho_Hant" in options:
        return "zho_Hant"
    return options[0]


__all__ = [
    "CODE_SETS",
    "FAIRSEQ_LANGUAGE_CODES",
    "FLORES200_CODES",
    "ISO_ALIASES",
    "LANGUAGE_NAMES",
    "check_language",
    "code_set_kind",
    "language_alternatives",
    "language_name",
    "normalize_language",
    "to_code_set",
    "unsupported_language_error",
]
