"""Checkpoint reading/writing: hub layouts, legacy uploads, and every way a checkpoint can be broken."""

import json
import pickle

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import random_state_init
from m2m100 import CheckpointError, ConfigError, M2M100Config, M2M100ForConditionalGeneration, M2M100Model
from m2m100.checkpoint import KEY_RULES, map_key

transformers = pytest.importorskip("transformers")

TINY = dict(vocab_size=90, d_model=16, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2,
            decoder_attention_heads=2, encoder_ffn_dim=24, decoder_ffn_dim=24, max_position_embeddings=40,
            dropout=0.0, attention_dropout=0.0, encoder_layerdrop=0.0, decoder_layerdrop=0.0)
INPUTS = dict(input_ids=torch.tensor([[5, 6, 7, 2], [8, 9, 2, 1]]), attention_mask=torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]]),
              decoder_input_ids=torch.tensor([[2, 10, 11], [2, 12, 13]]))


def ours_model(seed=0):
    torch.manual_seed(seed)
    model = M2M100ForConditionalGeneration(M2M100Config(**TINY)).eval()
    random_state_init(model, seed)
    return model


def logits(model):
    with torch.no_grad():
        return model(**INPUTS).logits


@pytest.fixture
def saved(tmp_path):
    model = ours_model()
    model.save_pretrained(tmp_path)
    return tmp_path, logits(model)


def test_ours_to_transformers_and_back(tmp_path, saved):
    path, want = saved
    ref = transformers.M2M100ForConditionalGeneration.from_pretrained(path).eval()
    torch.testing.assert_close(logits(ref), want, atol=1e-6, rtol=0)
    ref.save_pretrained(tmp_path / "from_ref")
    back = M2M100ForConditionalGeneration.from_pretrained(tmp_path / "from_ref")
    torch.testing.assert_close(logits(back), want, atol=1e-6, rtol=0)
    # tied weights stay tied after loading, and the file stores them once (as transformers does)
    assert back.lm_head.weight is back.model.shared.weight
    assert back.model.encoder.embed_tokens.weight is back.model.shared.weight
    keys = load_file(path / "model.safetensors").keys()
    assert "model.shared.weight" in keys and "lm_head.weight" not in keys
    assert not any("embed_positions" in k for k in keys)


def test_base_model_checkpoint_and_cross_loading(tmp_path, saved):
    path, _ = saved
    base = M2M100Model.from_pretrained(path)  # ForConditionalGeneration checkpoint into the base model
    base.save_pretrained(tmp_path / "base")
    keys = set(load_file(tmp_path / "base" / "model.safetensors"))
    assert "shared.weight" in keys and not any(k.startswith("model.") for k in keys)
    ref_base = transformers.M2M100Model.from_pretrained(tmp_path / "base")
    full = M2M100ForConditionalGeneration.from_pretrained(tmp_path / "base")  # base checkpoint, tied head
    with torch.no_grad():
        torch.testing.assert_close(base(**INPUTS).last_hidden_state, ref_base(**INPUTS).last_hidden_state, atol=1e-6, rtol=0)
    torch.testing.assert_close(logits(full), saved[1], atol=1e-6, rtol=0)


def test_sharded_safetensors(tmp_path, saved):
    path, want = saved
    state = load_file(path / "model.safetensors")
    names = sorted(state)
    half = len(names) // 2
    shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
    out = tmp_path / "sharded"
    out.mkdir()
    (out / "config.json").write_text((path / "config.json").read_text())
    for fname, keys in shards.items():
        save_file({k: state[k] for k in keys}, out / fname, metadata={"format": "pt"})
    index = {"metadata": {}, "weight_map": {k: f for f, ks in shards.items() for k in ks}}
    (out / "model.safetensors.index.json").write_text(json.dumps(index))
    torch.testing.assert_close(logits(M2M100ForConditionalGeneration.from_pretrained(out)), want, atol=0, rtol=0)
    ref = transformers.M2M100ForConditionalGeneration.from_pretrained(out)
    torch.testing.assert_close(logits(ref), want, atol=1e-6, rtol=0)


@pytest.mark.parametrize("bad", ["../evil.safetensors", "/etc/passwd", "sub/../../x.safetensors"])
def test_shard_index_outside_directory_rejected(tmp_path, saved, bad):
    path, _ = saved
    out = tmp_path / "evil"
    out.mkdir()
    (out / "config.json").write_text((path / "config.json").read_text())
    (out / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"model.shared.weight": bad}}))
    with pytest.raises(CheckpointError, match="outside the model directory"):
        M2M100ForConditionalGeneration.from_pretrained(out)


def test_legacy_pytorch_bin_with_position_tables_and_no_lm_head(tmp_path, saved):
    """Old uploads: pickled weights, sinusoid tables stored, lm_head omitted, embed_tokens duplicated."""
    path, want = saved
    state = load_file(path / "model.safetensors")
    state["model.encoder.embed_positions.weights"] = torch.zeros(42, 16)
    state["model.decoder.embed_positions.weights"] = torch.zeros(42, 16)
    state["model.encoder.embed_tokens.weight"] = state["model.shared.weight"]
    state["model.decoder.embed_tokens.weight"] = state["model.shared.weight"]
    out = tmp_path / "legacy"
    out.mkdir()
    (out / "config.json").write_text((path / "config.json").read_text())
    torch.save(state, out / "pytorch_model.bin")
    model = M2M100ForConditionalGeneration.from_pretrained(out)
    torch.testing.assert_close(logits(model), want, atol=0, rtol=0)
    assert model.lm_head.weight is model.model.shared.weight


def test_pickle_that_runs_code_is_refused(tmp_path, saved):
    path, _ = saved

    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    out = tmp_path / "pickle"
    out.mkdir()
    (out / "config.json").write_text((path / "config.json").read_text())
    with open(out / "pytorch_model.bin", "wb") as handle:
        pickle.dump({"model.shared.weight": Exploit()}, handle)
    with pytest.raises(CheckpointError, match="pytorch_model.bin"):
        M2M100ForConditionalGeneration.from_pretrained(out)


def corrupt_copy(tmp_path, path, data: bytes):
    out = tmp_path / "corrupt"
    out.mkdir(exist_ok=True)
    (out / "config.json").write_text((path / "config.json").read_text())
    (out / "model.safetensors").write_bytes(data)
    return out


@pytest.mark.parametrize("kind", ["empty", "half", "absurd_header", "garbage_header", "tiny"])
def test_corrupt_safetensors_name_the_file(tmp_path, saved, kind):
    path, _ = saved
    data = (path / "model.safetensors").read_bytes()
    bad = {
        "empty": b"",
        "half": data[: len(data) // 2],
        "absurd_header": (10**15).to_bytes(8, "little") + data[8:],
        "garbage_header": (20).to_bytes(8, "little") + b"\xff" * 20 + data[28:],
        "tiny": b"abc",
    }[kind]
    out = corrupt_copy(tmp_path, path, bad)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        M2M100ForConditionalGeneration.from_pretrained(out)


def test_shape_mismatch_names_key_and_shapes(tmp_path, saved):
    path, _ = saved
    config = json.loads((path / "config.json").read_text())
    config["decoder_ffn_dim"] = 32
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"decoder\.layers\.0\.fc1\.bias.*\(24,\).*\(32,\)"):
        M2M100ForConditionalGeneration.from_pretrained(path)


def test_missing_and_unexpected_keys_are_fatal(tmp_path, saved):
    path, _ = saved
    state = load_file(path / "model.safetensors")
    missing = dict(state)
    del missing["model.decoder.layers.1.fc2.bias"]
    save_file(missing, path / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"missing 1 weight.*layers\.1\.fc2\.bias"):
        M2M100ForConditionalGeneration.from_pretrained(path)
    save_file({**state, "model.encoder.surprise": torch.zeros(1)}, path / "model.safetensors")
    with pytest.raises(CheckpointError, match="unexpected key 'model.encoder.surprise'"):
        M2M100ForConditionalGeneration.from_pretrained(path)


def test_missing_files(tmp_path, saved):
    path, _ = saved
    (path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no weights found"):
        M2M100ForConditionalGeneration.from_pretrained(path)
    with pytest.raises(CheckpointError, match="not found"):
        M2M100ForConditionalGeneration.from_pretrained(tmp_path / "nope")


def test_key_table_is_data_and_every_rule_is_used():
    assert map_key("model.encoder.embed_positions.weights") is None
    assert map_key("model.decoder.embed_tokens.weight") == "model.shared.weight"
    assert map_key("lm_head.weight") == "lm_head.weight"
    assert map_key("model.encoder.layers.3.fc1.bias") == "model.encoder.layers.3.fc1.bias"
    with pytest.raises(KeyError):
        map_key("bert.pooler.dense.weight")
    assert len(KEY_RULES) >= 4


def test_dtype_auto_and_names(tmp_path, saved):
    path, _ = saved
    half = M2M100ForConditionalGeneration.from_pretrained(path, dtype=torch.bfloat16)
    assert half.dtype == torch.bfloat16
    half.save_pretrained(tmp_path / "bf16")
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["dtype"] == "bfloat16"
    assert M2M100ForConditionalGeneration.from_pretrained(tmp_path / "bf16", dtype="auto").dtype == torch.bfloat16
    assert M2M100ForConditionalGeneration.from_pretrained(tmp_path / "bf16").dtype == torch.float32
    assert M2M100ForConditionalGeneration.from_pretrained(path, torch_dtype="float16").dtype == torch.float16
    with pytest.raises(ConfigError, match="dtype"):
        M2M100ForConditionalGeneration.from_pretrained(path, dtype="int3")


def test_device_map(saved):
    path, _ = saved
    assert M2M100ForConditionalGeneration.from_pretrained(path, device_map="auto").device.type in ("cpu", "cuda", "mps")
    assert M2M100ForConditionalGeneration.from_pretrained(path, device_map={"": "cpu"}).device.type == "cpu"
    with pytest.raises(ConfigError, match="device_map"):
        M2M100ForConditionalGeneration.from_pretrained(path, device_map="warp-drive")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA"):
            M2M100ForConditionalGeneration.from_pretrained(path, device_map="cuda")


def test_save_is_atomic_and_does_not_leave_temp_files(tmp_path, saved, monkeypatch):
    path, want = saved
    import m2m100.hub as hub

    model = M2M100ForConditionalGeneration.from_pretrained(path)
    real_replace = hub.os.replace

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(hub.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        model.save_pretrained(path)
    monkeypatch.setattr(hub.os, "replace", real_replace)
    assert [p.name for p in path.iterdir() if p.name.endswith(".tmp")] == []
    torch.testing.assert_close(logits(M2M100ForConditionalGeneration.from_pretrained(path)), want, atol=0, rtol=0)


def test_hub_id_offline_says_to_pass_a_local_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="local directory"):
        M2M100ForConditionalGeneration.from_pretrained("facebook/m2m100_418M", cache_dir=tmp_path)


def test_saved_files_are_readable_by_others(saved):
    import os
    import stat

    path, _ = saved
    umask = os.umask(0)
    os.umask(umask)
    for name in ("model.safetensors", "config.json"):
        mode = stat.S_IMODE((path / name).stat().st_mode)
        assert mode == 0o666 & ~umask, (name, oct(mode))


def test_untied_output_projection_round_trips_through_transformers(tmp_path):
    torch.manual_seed(0)
    model = M2M100ForConditionalGeneration(M2M100Config(**TINY, tie_word_embeddings=False)).eval()
    random_state_init(model, 3)
    assert model.lm_head.weight is not model.model.shared.weight
    model.save_pretrained(tmp_path)
    ref = transformers.M2M100ForConditionalGeneration.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(logits(ref), logits(model), atol=1e-6, rtol=0)
    back = M2M100ForConditionalGeneration.from_pretrained(tmp_path)
    torch.testing.assert_close(logits(back), logits(model), atol=0, rtol=0)
