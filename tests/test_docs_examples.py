"""The code examples of transformers' M2M100 documentation run on ours with only the import changed.

Each snippet is executed twice against the same local hub-layout checkpoint: once as written for
transformers, once with `transformers` replaced by `m2m100` in its import line; the results must agree.
"""

import textwrap

import pytest
import torch

pytest.importorskip("transformers")

TRAINING = """
from transformers import M2M100Config, M2M100ForConditionalGeneration, M2M100Tokenizer

model = M2M100ForConditionalGeneration.from_pretrained("facebook/m2m100_418M")
tokenizer = M2M100Tokenizer.from_pretrained("facebook/m2m100_418M", src_lang="en", tgt_lang="fr")

src_text = "Life is like a box of chocolates."
tgt_text = "La vie est comme une boîte de chocolat."

model_inputs = tokenizer(src_text, text_target=tgt_text, return_tensors="pt")

loss = model(**model_inputs).loss  # forward pass
"""

TOKENIZER = """
from transformers import M2M100ForConditionalGeneration, M2M100Tokenizer

model = M2M100ForConditionalGeneration.from_pretrained("facebook/m2m100_418M")
tokenizer = M2M100Tokenizer.from_pretrained("facebook/m2m100_418M", src_lang="en", tgt_lang="ro")
src_text = " UN Chief Says There Is No Military Solution in Syria"
tgt_text = "Şeful ONU declară că nu există o soluţie militară în Siria"
model_inputs = tokenizer(src_text, text_target=tgt_text, return_tensors="pt")
outputs = model(**model_inputs)  # should work
"""

CONFIG = """
from transformers import M2M100Config, M2M100Model

# Initializing a M2M100 facebook/m2m100_418M style configuration
configuration = M2M100Config()

# Initializing a model (with random weights) from the facebook/m2m100_418M style configuration
model = M2M100Model(configuration)

# Accessing the model configuration
configuration = model.config
"""


def run(snippet: str, library: str, checkpoint) -> dict:
    code = textwrap.dedent(snippet).replace('"facebook/m2m100_418M"', repr(str(checkpoint)))
    if library == "m2m100":
        code = code.replace("from transformers import", "from m2m100 import")
        assert "transformers" not in code
    namespace: dict = {}
    with torch.no_grad():
        exec(compile(code, f"<{library} docs example>", "exec"), namespace)
    return namespace


def test_supervised_training_example(tiny_checkpoint):
    ref, ours = run(TRAINING, "transformers", tiny_checkpoint), run(TRAINING, "m2m100", tiny_checkpoint)
    assert ours["model_inputs"]["input_ids"].tolist() == ref["model_inputs"]["input_ids"].tolist()
    assert ours["model_inputs"]["labels"].tolist() == ref["model_inputs"]["labels"].tolist()
    torch.testing.assert_close(ours["loss"], ref["loss"], atol=1e-5, rtol=0)


def test_tokenizer_example(tiny_checkpoint):
    ref, ours = run(TOKENIZER, "transformers", tiny_checkpoint), run(TOKENIZER, "m2m100", tiny_checkpoint)
    for key in ("input_ids", "attention_mask", "labels"):
        assert ours["model_inputs"][key].tolist() == ref["model_inputs"][key].tolist(), key
    torch.testing.assert_close(ours["outputs"].logits, ref["outputs"].logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(ours["outputs"].loss, ref["outputs"].loss, atol=1e-5, rtol=0)


def test_config_and_model_example(tiny_checkpoint):
    ours = run(CONFIG, "m2m100", tiny_checkpoint)
    ref = run(CONFIG, "transformers", tiny_checkpoint)
    assert ours["model"].num_parameters() == ref["model"].num_parameters() == 483_905_536
    assert ours["configuration"].d_model == ref["configuration"].d_model == 1024
    # same architecture: identical parameter names (tied aliases included) and shapes
    def shapes(model):
        return {k: v.shape for k, v in model.named_parameters(remove_duplicate=False)}

    assert shapes(ours["model"]) == shapes(ref["model"])
    # state_dict() lists the tied shared matrix once (README: deliberate differences); nothing else differs
    aliases = {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight"}
    assert set(ref["model"].state_dict()) - set(ours["model"].state_dict()) == aliases
