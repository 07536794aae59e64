"""Language tables of M2M100 and a forgiving parser for language names and codes.

`FAIRSEQ_LANGUAGE_CODES` lists the codes of each language-code set in model order: the language token of the
i-th code `xx` is `__xx__` with id `len(vocab.json) + i`. `normalize_language` turns what a person types
("French", "fra", "pt_BR", "zh-Hant", "EN") into one of those codes, or raises LanguageError with suggestions.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from .errors import LanguageError

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


def _code_list(codes: str | Iterable[str]) -> list[str]:
    if isinstance(codes, str):
        if codes not in FAIRSEQ_LANGUAGE_CODES:
            raise ValueError(
                f"unknown language code set {codes!r}; expected one of {sorted(FAIRSEQ_LANGUAGE_CODES)}"
            )
        return FAIRSEQ_LANGUAGE_CODES[codes]
    return list(codes)


def language_name(code: str) -> str:
    """English name of an M2M100 language code (the first name where several are given)."""
    try:
        return LANGUAGE_NAMES[code].split(";")[0].strip()
    except KeyError:
        raise LanguageError(f"unsupported language {code!r}; {_suggestion_text(str(code), _code_list('m2m100'))}") from None


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
    for alias, code in ISO_ALIASES.items():
        if code in allowed:
            candidates.setdefault(alias, code)
    for name, code in _NAMES.items():
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
    shown = ", ".join(f"{code} ({language_name(code)})" if code in LANGUAGE_NAMES else code for code in suggestions)
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
    ("French", "dutch", "Flemish"). `codes` is a code-set name ("m2m100", "wmt21") or a list of codes.
    Anything else raises LanguageError naming the input and suggesting the closest codes.
    """
    code_list = _code_list(codes)
    allowed = set(code_list)
    if not isinstance(value, str):
        raise LanguageError(f"language must be a string, got {type(value).__name__}: {value!r}")
    text = value.strip()
    if text in allowed:
        return text
    folded = _fold(text)
    if folded.startswith("__") and folded.endswith("__") and len(folded) > 4:  # a language token: __fr__
        folded = folded[2:-2]
    for candidate in _candidates(folded):
        if candidate in allowed:
            return candidate
    raise unsupported_language_error(value, codes)


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


__all__ = [
    "FAIRSEQ_LANGUAGE_CODES",
    "FLORES200_CODES",
    "ISO_ALIASES",
    "LANGUAGE_NAMES",
    "language_name",
    "normalize_language",
    "unsupported_language_error",
]
