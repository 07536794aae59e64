import json

import pytest
import torch

from m2m100 import ConfigError, M2M100Config, M2M100Model

transformers = pytest.importorskip("transformers")


def test_defaults_match_transformers():
    ours, ref = M2M100Config(), transformers.M2M100Config()
    for key, value in ours.to_dict().items():
        if key in ("architectures", "model_type"):
            continue
        assert getattr(ref, key) == value, key


def test_418m_parameter_count():
    with torch.device("meta"):
        model = M2M100Model(M2M100Config())
    assert model.num_parameters() == 483_905_536


def test_aliases_read_and_write():
    config = M2M100Config(hidden_size=64, num_attention_heads=8, num_hidden_layers=3)
    assert (config.d_model, config.encoder_attention_heads, config.encoder_layers) == (64, 8, 3)
    assert (config.hidden_size, config.num_attention_heads, config.num_hidden_layers) == (64, 8, 3)


def test_unknown_keys_kept_and_written_back(tmp_path):
    config = M2M100Config(d_model=64, my_custom_key=[1, 2], num_beams=5, max_length=200, early_stopping=True)
    assert config.my_custom_key == [1, 2]
    assert config.generation_defaults() == {"num_beams": 5, "max_length": 200, "early_stopping": True}
    config.save_pretrained(tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    assert data["my_custom_key"] == [1, 2] and data["num_beams"] == 5 and data["model_type"] == "m2m_100"
    again = M2M100Config.from_pretrained(tmp_path)
    assert again == config and again.d_model == 64


def test_reads_a_real_style_hub_config(tmp_path):
    # facebook/m2m100_418M's config.json (abridged to the keys that matter): old generation keys, aliases.
    hub = {
        "_name_or_path": "hf_models/m2m100_418M", "activation_dropout": 0.0, "activation_function": "relu",
        "architectures": ["M2M100ForConditionalGeneration"], "attention_dropout": 0.1, "bos_token_id": 0,
        "d_model": 1024, "decoder_attention_heads": 16, "decoder_ffn_dim": 4096, "decoder_layerdrop": 0.05,
        "decoder_layers": 12, "decoder_start_token_id": 2, "dropout": 0.1, "early_stopping": True,
        "encoder_attention_heads": 16, "encoder_ffn_dim": 4096, "encoder_layerdrop": 0.05, "encoder_layers": 12,
        "eos_token_id": 2, "gradient_checkpointing": False, "init_std": 0.02, "is_encoder_decoder": True,
        "max_length": 200, "max_position_embeddings": 1024, "model_type": "m2m_100", "num_beams": 5,
        "num_hidden_layers": 12, "pad_token_id": 1, "scale_embedding": True, "transformers_version": "4.4.0.dev0",
        "use_cache": True, "vocab_size": 128112,
    }
    (tmp_path / "config.json").write_text(json.dumps(hub))
    config = M2M100Config.from_pretrained(tmp_path)
    assert config.vocab_size == 128112 and config.num_beams == 5 and config.early_stopping is True
    assert config.extra["_name_or_path"] == "hf_models/m2m100_418M"
    ref = transformers.M2M100Config.from_pretrained(tmp_path)
    assert ref.d_model == config.d_model and ref.encoder_layers == config.encoder_layers


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        (dict(d_model=30, encoder_attention_heads=4), "divisible"),
        (dict(d_model=32, decoder_attention_heads=5), "decoder_attention_heads"),
        (dict(vocab_size=0), "vocab_size"),
        (dict(dropout=1.5), "dropout"),
        (dict(activation_function="nope"), "activation_function"),
        (dict(encoder_layers=-1), "encoder_layers"),
        (dict(attn_implementation="magic"), "attn_implementation"),
    ],
)
def test_invalid_values_raise_naming_the_key(kwargs, needle):
    with pytest.raises(ConfigError, match=needle):
        M2M100Config(**kwargs)
    assert issubclass(ConfigError, ValueError)


def test_bad_config_files(tmp_path):
    from m2m100 import CheckpointError

    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json"):
        M2M100Config.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="JSON object"):
        M2M100Config.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ConfigError, match="bert"):
        M2M100Config.from_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="checkpoint directory not found"):
        M2M100Config.from_pretrained(tmp_path / "missing_dir_that_is/local")
    (tmp_path / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json not found"):
        M2M100Config.from_pretrained(tmp_path)
