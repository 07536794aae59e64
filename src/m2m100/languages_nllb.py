"""The 202 FLORES-200 language codes of NLLB-200, in model order, with English names.

NLLB checkpoints put these codes (`eng_Latn`: ISO 639-3 language + ISO 15924 script) as special tokens right
after the sentencepiece vocabulary: the i-th code has id `sentencepiece size + 1 + i` (fairseq's offset of
one), and `<mask>` comes after the last code. Names follow the FLORES-200 language list.

The other tables feed languages.normalize_language for NLLB code sets: `NLLB_AMBIGUOUS` (the documented default
of a language or name with several codes, then its alternatives), `NLLB_ISO_ALIASES` (ISO 639 codes of
languages M2M100 lacks) and `NLLB_EXTRA_NAMES` (names people type).
"""

from __future__ import annotations

# fmt: off
NLLB_LANGUAGE_CODES: list[str] = [
    "ace_Arab", "ace_Latn", "acm_Arab", "acq_Arab", "aeb_Arab", "afr_Latn", "ajp_Arab", "aka_Latn", "amh_Ethi",
    "apc_Arab", "arb_Arab", "ars_Arab", "ary_Arab", "arz_Arab", "asm_Beng", "ast_Latn", "awa_Deva", "ayr_Latn",
    "azb_Arab", "azj_Latn", "bak_Cyrl", "bam_Latn", "ban_Latn", "bel_Cyrl", "bem_Latn", "ben_Beng", "bho_Deva",
    "bjn_Arab", "bjn_Latn", "bod_Tibt", "bos_Latn", "bug_Latn", "bul_Cyrl", "cat_Latn", "ceb_Latn", "ces_Latn",
    "cjk_Latn", "ckb_Arab", "crh_Latn", "cym_Latn", "dan_Latn", "deu_Latn", "dik_Latn", "dyu_Latn", "dzo_Tibt",
    "ell_Grek", "eng_Latn", "epo_Latn", "est_Latn", "eus_Latn", "ewe_Latn", "fao_Latn", "pes_Arab", "fij_Latn",
    "fin_Latn", "fon_Latn", "fra_Latn", "fur_Latn", "fuv_Latn", "gla_Latn", "gle_Latn", "glg_Latn", "grn_Latn",
    "guj_Gujr", "hat_Latn", "hau_Latn", "heb_Hebr", "hin_Deva", "hne_Deva", "hrv_Latn", "hun_Latn", "hye_Armn",
    "ibo_Latn", "ilo_Latn", "ind_Latn", "isl_Latn", "ita_Latn", "jav_Latn", "jpn_Jpan", "kab_Latn", "kac_Latn",
    "kam_Latn", "kan_Knda", "kas_Arab", "kas_Deva", "kat_Geor", "knc_Arab", "knc_Latn", "kaz_Cyrl", "kbp_Latn",
    "kea_Latn", "khm_Khmr", "kik_Latn", "kin_Latn", "kir_Cyrl", "kmb_Latn", "kon_Latn", "kor_Hang", "kmr_Latn",
    "lao_Laoo", "lvs_Latn", "lij_Latn", "lim_Latn", "lin_Latn", "lit_Latn", "lmo_Latn", "ltg_Latn", "ltz_Latn",
    "lua_Latn", "lug_Latn", "luo_Latn", "lus_Latn", "mag_Deva", "mai_Deva", "mal_Mlym", "mar_Deva", "min_Latn",
    "mkd_Cyrl", "plt_Latn", "mlt_Latn", "mni_Beng", "khk_Cyrl", "mos_Latn", "mri_Latn", "zsm_Latn", "mya_Mymr",
    "nld_Latn", "nno_Latn", "nob_Latn", "npi_Deva", "nso_Latn", "nus_Latn", "nya_Latn", "oci_Latn", "gaz_Latn",
    "ory_Orya", "pag_Latn", "pan_Guru", "pap_Latn", "pol_Latn", "por_Latn", "prs_Arab", "pbt_Arab", "quy_Latn",
    "ron_Latn", "run_Latn", "rus_Cyrl", "sag_Latn", "san_Deva", "sat_Beng", "scn_Latn", "shn_Mymr", "sin_Sinh",
    "slk_Latn", "slv_Latn", "smo_Latn", "sna_Latn", "snd_Arab", "som_Latn", "sot_Latn", "spa_Latn", "als_Latn",
    "srd_Latn", "srp_Cyrl", "ssw_Latn", "sun_Latn", "swe_Latn", "swh_Latn", "szl_Latn", "tam_Taml", "tat_Cyrl",
    "tel_Telu", "tgk_Cyrl", "tgl_Latn", "tha_Thai", "tir_Ethi", "taq_Latn", "taq_Tfng", "tpi_Latn", "tsn_Latn",
    "tso_Latn", "tuk_Latn", "tum_Latn", "tur_Latn", "twi_Latn", "tzm_Tfng", "uig_Arab", "ukr_Cyrl", "umb_Latn",
    "urd_Arab", "uzn_Latn", "vec_Latn", "vie_Latn", "war_Latn", "wol_Latn", "xho_Latn", "ydd_Hebr", "yor_Latn",
    "yue_Hant", "zho_Hans", "zho_Hant", "zul_Latn",
]

NLLB_LANGUAGE_NAMES: dict[str, str] = {
    "ace_Arab": "Acehnese (Arabic script)", "ace_Latn": "Acehnese (Latin script)",
    "acm_Arab": "Mesopotamian Arabic", "acq_Arab": "Ta'izzi-Adeni Arabic", "aeb_Arab": "Tunisian Arabic",
    "afr_Latn": "Afrikaans", "ajp_Arab": "South Levantine Arabic", "aka_Latn": "Akan", "amh_Ethi": "Amharic",
    "apc_Arab": "North Levantine Arabic", "arb_Arab": "Modern Standard Arabic", "ars_Arab": "Najdi Arabic",
    "ary_Arab": "Moroccan Arabic", "arz_Arab": "Egyptian Arabic", "asm_Beng": "Assamese", "ast_Latn": "Asturian",
    "awa_Deva": "Awadhi", "ayr_Latn": "Central Aymara", "azb_Arab": "South Azerbaijani",
    "azj_Latn": "North Azerbaijani", "bak_Cyrl": "Bashkir", "bam_Latn": "Bambara", "ban_Latn": "Balinese",
    "bel_Cyrl": "Belarusian", "bem_Latn": "Bemba", "ben_Beng": "Bengali", "bho_Deva": "Bhojpuri",
    "bjn_Arab": "Banjar (Arabic script)", "bjn_Latn": "Banjar (Latin script)", "bod_Tibt": "Standard Tibetan",
    "bos_Latn": "Bosnian", "bug_Latn": "Buginese", "bul_Cyrl": "Bulgarian", "cat_Latn": "Catalan",
    "ceb_Latn": "Cebuano", "ces_Latn": "Czech", "cjk_Latn": "Chokwe", "ckb_Arab": "Central Kurdish",
    "crh_Latn": "Crimean Tatar", "cym_Latn": "Welsh", "dan_Latn": "Danish", "deu_Latn": "German",
    "dik_Latn": "Southwestern Dinka", "dyu_Latn": "Dyula", "dzo_Tibt": "Dzongkha", "ell_Grek": "Greek",
    "eng_Latn": "English", "epo_Latn": "Esperanto", "est_Latn": "Estonian", "eus_Latn": "Basque",
    "ewe_Latn": "Ewe", "fao_Latn": "Faroese", "pes_Arab": "Western Persian", "fij_Latn": "Fijian",
    "fin_Latn": "Finnish", "fon_Latn": "Fon", "fra_Latn": "French", "fur_Latn": "Friulian",
    "fuv_Latn": "Nigerian Fulfulde", "gla_Latn": "Scottish Gaelic", "gle_Latn": "Irish", "glg_Latn": "Galician",
    "grn_Latn": "Guarani", "guj_Gujr": "Gujarati", "hat_Latn": "Haitian Creole", "hau_Latn": "Hausa",
    "heb_Hebr": "Hebrew", "hin_Deva": "Hindi", "hne_Deva": "Chhattisgarhi", "hrv_Latn": "Croatian",
    "hun_Latn": "Hungarian", "hye_Armn": "Armenian", "ibo_Latn": "Igbo", "ilo_Latn": "Ilocano",
    "ind_Latn": "Indonesian", "isl_Latn": "Icelandic", "ita_Latn": "Italian", "jav_Latn": "Javanese",
    "jpn_Jpan": "Japanese", "kab_Latn": "Kabyle", "kac_Latn": "Jingpho", "kam_Latn": "Kamba",
    "kan_Knda": "Kannada", "kas_Arab": "Kashmiri (Arabic script)", "kas_Deva": "Kashmiri (Devanagari script)",
    "kat_Geor": "Georgian", "knc_Arab": "Central Kanuri (Arabic script)", "knc_Latn": "Central Kanuri (Latin script)",
    "kaz_Cyrl": "Kazakh", "kbp_Latn": "Kabiyè", "kea_Latn": "Kabuverdianu", "khm_Khmr": "Khmer",
    "kik_Latn": "Kikuyu", "kin_Latn": "Kinyarwanda", "kir_Cyrl": "Kyrgyz", "kmb_Latn": "Kimbundu",
    "kon_Latn": "Kikongo", "kor_Hang": "Korean", "kmr_Latn": "Northern Kurdish", "lao_Laoo": "Lao",
    "lvs_Latn": "Standard Latvian", "lij_Latn": "Ligurian", "lim_Latn": "Limburgish", "lin_Latn": "Lingala",
    "lit_Latn": "Lithuanian", "lmo_Latn": "Lombard", "ltg_Latn": "Latgalian", "ltz_Latn": "Luxembourgish",
    "lua_Latn": "Luba-Kasai", "lug_Latn": "Ganda", "luo_Latn": "Luo", "lus_Latn": "Mizo", "mag_Deva": "Magahi",
    "mai_Deva": "Maithili", "mal_Mlym": "Malayalam", "mar_Deva": "Marathi",
    "min_Latn": "Minangkabau (Latin script)", "mkd_Cyrl": "Macedonian", "plt_Latn": "Plateau Malagasy",
    "mlt_Latn": "Maltese", "mni_Beng": "Meitei (Bengali script)", "khk_Cyrl": "Halh Mongolian",
    "mos_Latn": "Mossi", "mri_Latn": "Maori", "zsm_Latn": "Standard Malay", "mya_Mymr": "Burmese",
    "nld_Latn": "Dutch", "nno_Latn": "Norwegian Nynorsk", "nob_Latn": "Norwegian Bokmål", "npi_Deva": "Nepali",
    "nso_Latn": "Northern Sotho", "nus_Latn": "Nuer", "nya_Latn": "Nyanja", "oci_Latn": "Occitan",
    "gaz_Latn": "West Central Oromo", "ory_Orya": "Odia", "pag_Latn": "Pangasinan", "pan_Guru": "Eastern Panjabi",
    "pap_Latn": "Papiamento", "pol_Latn": "Polish", "por_Latn": "Portuguese", "prs_Arab": "Dari",
    "pbt_Arab": "Southern Pashto", "quy_Latn": "Ayacucho Quechua", "ron_Latn": "Romanian", "run_Latn": "Rundi",
    "rus_Cyrl": "Russian", "sag_Latn": "Sango", "san_Deva": "Sanskrit", "sat_Beng": "Santali",
    "scn_Latn": "Sicilian", "shn_Mymr": "Shan", "sin_Sinh": "Sinhala", "slk_Latn": "Slovak",
    "slv_Latn": "Slovenian", "smo_Latn": "Samoan", "sna_Latn": "Shona", "snd_Arab": "Sindhi",
    "som_Latn": "Somali", "sot_Latn": "Southern Sotho", "spa_Latn": "Spanish", "als_Latn": "Tosk Albanian",
    "srd_Latn": "Sardinian", "srp_Cyrl": "Serbian", "ssw_Latn": "Swati", "sun_Latn": "Sundanese",
    "swe_Latn": "Swedish", "swh_Latn": "Swahili", "szl_Latn": "Silesian", "tam_Taml": "Tamil",
    "tat_Cyrl": "Tatar", "tel_Telu": "Telugu", "tgk_Cyrl": "Tajik", "tgl_Latn": "Tagalog", "tha_Thai": "Thai",
    "tir_Ethi": "Tigrinya", "taq_Latn": "Tamasheq (Latin script)", "taq_Tfng": "Tamasheq (Tifinagh script)",
    "tpi_Latn": "Tok Pisin", "tsn_Latn": "Tswana", "tso_Latn": "Tsonga", "tuk_Latn": "Turkmen",
    "tum_Latn": "Tumbuka", "tur_Latn": "Turkish", "twi_Latn": "Twi", "tzm_Tfng": "Central Atlas Tamazight",
    "uig_Arab": "Uyghur", "ukr_Cyrl": "Ukrainian", "umb_Latn": "Umbundu", "urd_Arab": "Urdu",
    "uzn_Latn": "Northern Uzbek", "vec_Latn": "Venetian", "vie_Latn": "Vietnamese", "war_Latn": "Waray",
    "wol_Latn": "Wolof", "xho_Latn": "Xhosa", "ydd_Hebr": "Eastern Yiddish", "yor_Latn": "Yoruba",
    "yue_Hant": "Yue Chinese", "zho_Hans": "Chinese (Simplified)", "zho_Hant": "Chinese (Traditional)",
    "zul_Latn": "Zulu",
}

# Where one language (or one name people type) has several FLORES-200 codes, the code it resolves to first and
# the alternatives after it. Defaults: the variety with the most speakers or the script the language is mostly
# written in today; the others stay reachable by their code or a script/region tag (`zh-Hant`, `zh-TW`,
# `ks-Deva`). Keys are ISO 639-3 codes (macrolanguages included) and casefolded names.
NLLB_AMBIGUOUS: dict[str, tuple[str, ...]] = {
    "zho": ("zho_Hans", "zho_Hant", "yue_Hant"), "chinese": ("zho_Hans", "zho_Hant", "yue_Hant"),
    "ara": ("arb_Arab", "arz_Arab", "ary_Arab", "apc_Arab", "ajp_Arab", "acm_Arab", "acq_Arab", "aeb_Arab",
            "ars_Arab"),
    "arabic": ("arb_Arab", "arz_Arab", "ary_Arab", "apc_Arab", "ajp_Arab", "acm_Arab", "acq_Arab", "aeb_Arab",
               "ars_Arab"),
    "fas": ("pes_Arab", "prs_Arab"), "persian": ("pes_Arab", "prs_Arab"),
    "nor": ("nob_Latn", "nno_Latn"), "norwegian": ("nob_Latn", "nno_Latn"),
    "kur": ("kmr_Latn", "ckb_Arab"), "kurdish": ("kmr_Latn", "ckb_Arab"),
    "aze": ("azj_Latn", "azb_Arab"), "azerbaijani": ("azj_Latn", "azb_Arab"),
    "lav": ("lvs_Latn", "ltg_Latn"), "latvian": ("lvs_Latn", "ltg_Latn"),
    "ace": ("ace_Latn", "ace_Arab"), "acehnese": ("ace_Latn", "ace_Arab"),
    "bjn": ("bjn_Latn", "bjn_Arab"), "banjar": ("bjn_Latn", "bjn_Arab"),
    "kas": ("kas_Arab", "kas_Deva"), "kashmiri": ("kas_Arab", "kas_Deva"),
    "knc": ("knc_Latn", "knc_Arab"), "kau": ("knc_Latn", "knc_Arab"), "kanuri": ("knc_Latn", "knc_Arab"),
    "central kanuri": ("knc_Latn", "knc_Arab"),
    "taq": ("taq_Latn", "taq_Tfng"), "tmh": ("taq_Latn", "taq_Tfng"), "tamasheq": ("taq_Latn", "taq_Tfng"),
    "srp": ("srp_Cyrl",), "serbian": ("srp_Cyrl",),  # FLORES-200 has Serbian in Cyrillic only
}

# ISO 639-1 codes and ISO 639-2/3 macrolanguage codes of NLLB languages that M2M100 does not have (the
# others go through languages.ISO_ALIASES and languages.FLORES200_CODES).
NLLB_ISO_ALIASES: dict[str, str] = {
    "ak": "aka_Latn", "as": "asm_Beng", "ay": "ayr_Latn", "aym": "ayr_Latn", "bm": "bam_Latn", "bo": "bod_Tibt",
    "tib": "bod_Tibt", "dz": "dzo_Tibt", "ee": "ewe_Latn", "eo": "epo_Latn", "eu": "eus_Latn", "baq": "eus_Latn",
    "fj": "fij_Latn", "fo": "fao_Latn", "gn": "grn_Latn", "ki": "kik_Latn", "kg": "kon_Latn", "ks": "kas_Arab",
    "ku": "kmr_Latn", "ky": "kir_Cyrl", "li": "lim_Latn", "lu": "lua_Latn", "mi": "mri_Latn", "mao": "mri_Latn",
    "mt": "mlt_Latn", "nn": "nno_Latn", "ny": "nya_Latn", "om": "gaz_Latn", "orm": "gaz_Latn", "qu": "quy_Latn",
    "que": "quy_Latn", "rn": "run_Latn", "rw": "kin_Latn", "sa": "san_Deva", "sc": "srd_Latn", "sg": "sag_Latn",
    "sm": "smo_Latn", "sn": "sna_Latn", "st": "sot_Latn", "te": "tel_Telu", "tg": "tgk_Cyrl", "ti": "tir_Ethi",
    "tk": "tuk_Latn", "ts": "tso_Latn", "tt": "tat_Cyrl", "tw": "twi_Latn", "ug": "uig_Arab", "kr": "knc_Latn",
    "kur": "kmr_Latn", "cmn": "zho_Hans", "yue": "yue_Hant", "nb": "nob_Latn", "nob": "nob_Latn",
}

# Names people type that are not (exactly) the FLORES-200 names above.
NLLB_EXTRA_NAMES: dict[str, str] = {
    "cantonese": "yue_Hant", "traditional chinese": "zho_Hant", "simplified chinese": "zho_Hans",
    "chinese traditional": "zho_Hant", "chinese simplified": "zho_Hans", "mandarin": "zho_Hans",
    "dari": "prs_Arab", "farsi": "pes_Arab", "nynorsk": "nno_Latn", "bokmål": "nob_Latn", "bokmal": "nob_Latn",
    "sorani": "ckb_Arab", "kurmanji": "kmr_Latn", "oromo": "gaz_Latn", "quechua": "quy_Latn", "aymara": "ayr_Latn",
    "malay": "zsm_Latn", "mongolian": "khk_Cyrl", "albanian": "als_Latn", "malagasy": "plt_Latn",
    "swahili": "swh_Latn", "punjabi": "pan_Guru", "panjabi": "pan_Guru", "pashto": "pbt_Arab", "tibetan": "bod_Tibt",
    "yiddish": "ydd_Hebr", "uzbek": "uzn_Latn", "tamazight": "tzm_Tfng", "sotho": "sot_Latn", "sesotho": "sot_Latn",
    "chichewa": "nya_Latn", "kirghiz": "kir_Cyrl", "uighur": "uig_Arab", "filipino": "tgl_Latn", "meitei": "mni_Beng",
    "manipuri": "mni_Beng", "limburgan": "lim_Latn", "greek": "ell_Grek", "modern standard arabic": "arb_Arab",
}
# fmt: on

__all__ = ["NLLB_AMBIGUOUS", "NLLB_EXTRA_NAMES", "NLLB_ISO_ALIASES", "NLLB_LANGUAGE_CODES", "NLLB_LANGUAGE_NAMES"]
