"""Language codes as LibreTranslate clients know them, mapped to and from M2M100's.

LibreTranslate lists Chinese as `zh-Hans` and Norwegian as `nb`, and still accepts its legacy codes `zt`
(Traditional Chinese) and `pb` (Brazilian Portuguese). M2M100 has one Chinese (`zh`), one Portuguese (`pt`)
and one Norwegian (`no`): every variant is accepted and maps to the model's language; lists and detections
show the LibreTranslate spelling. Everything else (case, regions, scripts, ISO 639-2/3, English names) is the
Translator's normalisation.
"""

from __future__ import annotations

# model code -> the code LibreTranslate lists for it
TO_LIBRE = {"zh": "zh-Hans", "no": "nb"}
# codes LibreTranslate clients send that the Translator's normaliser does not know -> a tag it does know
# (M2M100 reads zh-Hant as zh; an NLLB model as zho_Hant, Traditional Chinese, as zt means)
LEGACY = {"zt": "zh-Hant", "pb": "pt-BR"}


def to_libre(code: str) -> str:
    """The code LibreTranslate clients expect for a model code (`zh` -> `zh-Hans`); others unchanged."""
    return TO_LIBRE.get(code, code)


def from_libre(value: str) -> str:
    """A client's language value with LibreTranslate's legacy codes replaced (`zt` -> `zh-Hant`), ready for the
    Translator's normaliser."""
    return LEGACY.get(value.strip().lower(), value)
