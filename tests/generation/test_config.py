"""GenerationConfig and checkpoint generation defaults (as transformers reads them), and the generation examples
of transformers' M2M100 documentation run with only the import changed."""

from __future__ import annotations

import json
import textwrap
import warnings

import pytest
import torch
from conftest import write_tokenizer_files
from generation.test_search import biased_checkpoint

from m2m100 import GenerationConfig, GenerationError, M2M100ForConditionalGeneration

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()
warnings.filterwarnings("ignore", module="transformers")

HUB_GENERATION_KEYS = {"num_beams": 5, "max_length": 200, "early_stopping": True}  # facebook/m2m100_418M's config


@pytest.fixture(scope="module")
def hub_like(tmp_path_factory, spm_bpe):
    """Tokenizer files + a biased random model whose config.json carries the old generation keys, no
    generation_config.json: the layout of facebook/m2m100_418M."""
    directory = tmp_path_factory.mktemp("hub_like")
    vocab_size = write_tokenizer_files(directory, spm_bpe)
    biased_checkpoint(directory, seed=1, eos_bias=1.2, vocab_size=vocab_size, max_position_embeddings=256)
    config_path = directory / "config.json"
    config = json.loads(config_path.read_text())
    config.update(HUB_GENERATION_KEYS)
    config_path.write_text(json.dumps(config))
    (directory / "generation_config.json").unlink(missing_ok=True)
    return directory


# --------------------------------------------------------------------------------------------------
# defaults from the checkpoint
# --------------------------------------------------------------------------------------------------
def test_old_config_generation_keys_are_the_defaults(hub_like):
    ours = M2M100ForConditionalGeneration.from_pretrained(hub_like)
    ref = transformers.M2M100ForConditionalGeneration.from_pretrained(hub_like).eval()
    gc = ours.generation_config
    for key, value in {**HUB_GENERATION_KEYS, "decoder_start_token_id": 2, "eos_token_id": 2, "pad_token_id": 1,
                       "bos_token_id": 0}.items():
        assert getattr(gc, key) == getattr(ref.generation_config, key) == value, key
    lang = ours.config.vocab_size - 108  # the first language token
    ids = torch.tensor([[lang + 5, 40, 51, 67, 99, 2], [lang + 5, 45, 300, 2, 1, 1]])
    mask = (ids != 1).long()
    a = ours.generate(input_ids=ids, attention_mask=mask, forced_bos_token_id=lang + 20)
    b = ref.generate(input_ids=ids, attention_mask=mask, forced_bos_token_id=lang + 20)
    assert torch.equal(a, b)  # five beams, early stopping, up to 200 tokens: the checkpoint's defaults


def test_generation_config_json_wins_and_round_trips(hub_like, tmp_path):
    ours = M2M100ForConditionalGeneration.from_pretrained(hub_like)
    ours.generation_config = GenerationConfig.from_model_config(ours.config)
    ours.generation_config.update(num_beams=3, max_length=40, no_repeat_ngram_size=3, length_penalty=0.5)
    ours.save_pretrained(tmp_path)
    # transformers reads what we wrote ...
    ref_gc = transformers.GenerationConfig.from_pretrained(tmp_path)
    assert (ref_gc.num_beams, ref_gc.max_length, ref_gc.no_repeat_ngram_size, ref_gc.length_penalty) == (3, 40, 3, 0.5)
    # ... and the generation_config.json is preferred over the config.json keys, by both libraries
    reloaded = M2M100ForConditionalGeneration.from_pretrained(tmp_path)
    assert reloaded.generation_config == ours.generation_config
    assert (reloaded.generation_config.num_beams, reloaded.generation_config.max_length) == (3, 40)
    ref_model = transformers.M2M100ForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert ref_model.generation_config.num_beams == 3


def test_reads_transformers_generation_config_json(tmp_path):
    """A file written by transformers (metadata keys, output flags) loads, keeps its unknown keys, and is written back."""
    transformers.GenerationConfig(num_beams=4, max_new_tokens=12, forced_bos_token_id=9, decoder_start_token_id=2,
                                  eos_token_id=2, output_attentions=False).save_pretrained(tmp_path)
    gc = GenerationConfig.from_pretrained(tmp_path)
    assert (gc.num_beams, gc.max_new_tokens, gc.forced_bos_token_id) == (4, 12, 9)
    assert "transformers_version" in gc.extra
    assert json.loads(gc.to_json_string())["transformers_version"] == gc.extra["transformers_version"]
    gc.save_pretrained(tmp_path / "again")
    assert transformers.GenerationConfig.from_pretrained(tmp_path / "again").num_beams == 4


def test_from_model_config_without_generation_keys(hub_like):
    from m2m100 import M2M100Config

    config = M2M100Config(vocab_size=300, d_model=16, encoder_attention_heads=2, decoder_attention_heads=2)
    gc = GenerationConfig.from_model_config(config)
    # marked as derived from the model config, as transformers does (Seq2SeqTrainer reads the mark)
    assert gc.to_dict() == {"bos_token_id": 0, "decoder_start_token_id": 2, "eos_token_id": 2, "pad_token_id": 1,
                            "use_cache": True, "_from_model_config": True}
    assert gc._from_model_config is True
    assert M2M100ForConditionalGeneration(config).generation_config == gc


# --------------------------------------------------------------------------------------------------
# the config object
# --------------------------------------------------------------------------------------------------
def test_update_returns_unused_and_validates():
    gc = GenerationConfig(num_beams=2)
    unused = gc.update(num_beams=4, top_p=0.5, foo=1, attention_mask=None)
    assert unused == {"foo": 1, "attention_mask": None}
    assert (gc.num_beams, gc.top_p) == (4, 0.5)
    for bad in ({"num_beams": 0}, {"top_p": 2.0}, {"max_new_tokens": 0}, {"early_stopping": "maybe"},
                {"bad_words_ids": [1, 2]}, {"temperature": -0.1}):
        name = next(iter(bad))
        with pytest.raises(GenerationError, match=name):
            GenerationConfig(**bad)
        with pytest.raises(GenerationError, match=name):
            GenerationConfig().update(**bad)
    gc = GenerationConfig(temperature=0.0)  # allowed (ignored without sampling), as in transformers
    assert gc.temperature == 0.0


def test_per_row_tokens_serialise_as_lists():
    gc = GenerationConfig(forced_bos_token_id=torch.tensor([5, 6]))
    assert json.loads(gc.to_json_string())["forced_bos_token_id"] == [5, 6]
    assert GenerationConfig.from_dict(gc.to_dict()) == gc


def test_unsupported_option_in_config_file_is_refused(tmp_path, hub_like):
    model = M2M100ForConditionalGeneration.from_pretrained(hub_like)
    model.generation_config = GenerationConfig.from_dict({"num_beams": 1, "num_beam_groups": 2})
    with pytest.raises(GenerationError, match="num_beam_groups"):
        model.generate(input_ids=torch.tensor([[5, 6, 2]]))


# --------------------------------------------------------------------------------------------------
# transformers' M2M100 documentation examples, import changed
# --------------------------------------------------------------------------------------------------
HINDI_CHINESE = """
from transformers import M2M100ForConditionalGeneration, M2M100Tokenizer

hi_text = "जीवन एक चॉकलेट बॉक्स की तरह है।"
chinese_text = "生活就像一盒巧克力。"

model = M2M100ForConditionalGeneration.from_pretrained("facebook/m2m100_418M")
tokenizer = M2M100Tokenizer.from_pretrained("facebook/m2m100_418M")

# translate Hindi to French
tokenizer.src_lang = "hi"
encoded_hi = tokenizer(hi_text, return_tensors="pt")
generated_tokens = model.generate(**encoded_hi, forced_bos_token_id=tokenizer.get_lang_id("fr"))
french = tokenizer.batch_decode(generated_tokens, skip_special_tokens=True)
french_ids = generated_tokens

# translate Chinese to English
tokenizer.src_lang = "zh"
encoded_zh = tokenizer(chinese_text, return_tensors="pt")
generated_tokens = model.generate(**encoded_zh, forced_bos_token_id=tokenizer.get_lang_id("en"))
english = tokenizer.batch_decode(generated_tokens, skip_special_tokens=True)
english_ids = generated_tokens
"""

MODEL_DOCSTRING = """
from transformers import AutoTokenizer, M2M100ForConditionalGeneration

model = M2M100ForConditionalGeneration.from_pretrained("facebook/m2m100_418M")
tokenizer = AutoTokenizer.from_pretrained("facebook/m2m100_418M")

text_to_translate = "Life is like a box of chocolates"
model_inputs = tokenizer(text_to_translate, return_tensors="pt")

# translate to French
gen_tokens = model.generate(**model_inputs, forced_bos_token_id=tokenizer.get_lang_id("fr"))
print(tokenizer.batch_decode(gen_tokens, skip_special_tokens=True))
"""


def run_snippet(snippet: str, library: str, checkpoint) -> dict:
    code = textwrap.dedent(snippet).replace('"facebook/m2m100_418M"', repr(str(checkpoint)))
    if library == "m2m100":
        code = code.replace("from transformers import", "from m2m100 import")
        assert "transformers" not in code
    namespace: dict = {}
    exec(compile(code, f"<{library} docs example>", "exec"), namespace)
    return namespace


def test_docs_hindi_and_chinese_examples(hub_like):
    ref = run_snippet(HINDI_CHINESE, "transformers", hub_like)
    ours = run_snippet(HINDI_CHINESE, "m2m100", hub_like)
    for key in ("french_ids", "english_ids"):
        assert torch.equal(ours[key], ref[key]), key
        assert ours[key].shape[1] > 3  # something was translated, not just the language token
    assert ours["french"] == ref["french"] and ours["english"] == ref["english"]
    assert ours["encoded_hi"]["input_ids"].tolist() == ref["encoded_hi"]["input_ids"].tolist()


def test_docs_model_docstring_example(hub_like, capsys):
    ref = run_snippet(MODEL_DOCSTRING, "transformers", hub_like)
    ref_printed = capsys.readouterr().out
    ours = run_snippet(MODEL_DOCSTRING, "m2m100", hub_like)
    assert torch.equal(ours["gen_tokens"], ref["gen_tokens"])
    assert capsys.readouterr().out == ref_printed
