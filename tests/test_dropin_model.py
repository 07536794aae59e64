"""Model and loading surface of transformers' M2M100 classes (issue 19): each behaviour compared with transformers."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from conftest import TINY, random_state_init

from m2m100 import (
    CheckpointError,
    M2M100Config,
    M2M100ForConditionalGeneration,
    M2M100Model,
)
from m2m100.model import M2M100Decoder, M2M100Encoder

pytestmark = pytest.mark.parity

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()
warnings.filterwarnings("ignore", module="transformers")
ref_modeling = transformers.models.m2m_100.modeling_m2m_100

VOCAB = 96
IDS = torch.tensor([[5, 9, 17, 33, 2], [7, 8, 2, 1, 1]])
MASK = (IDS != 1).long()
DEC = torch.tensor([[2, 11, 12], [2, 13, 1]])


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    directory = tmp_path_factory.mktemp("dropin_model")
    config = M2M100Config(**{**TINY, "vocab_size": VOCAB})
    torch.manual_seed(0)
    model = M2M100ForConditionalGeneration(config)
    random_state_init(model, 0)
    model.save_pretrained(directory)
    return directory


def run(model, **kwargs):
    with torch.no_grad():
        return model(input_ids=IDS, attention_mask=MASK, decoder_input_ids=DEC, **kwargs)


def assert_same_outputs(ours, ref):
    for name in ("encoder_hidden_states", "decoder_hidden_states", "encoder_attentions", "decoder_attentions",
                 "cross_attentions"):
        a, b = getattr(ours, name), getattr(ref, name)
        assert (a is None) == (b is None), name
        if a is not None:
            assert len(a) == len(b), name
            for x, y in zip(a, b):
                torch.testing.assert_close(x, y, atol=1e-5, rtol=0)


@pytest.mark.parametrize("where", ["kwarg", "config"])
def test_config_flags_drive_outputs(ckpt, where):
    flags = dict(output_hidden_states=True, output_attentions=True)
    if where == "kwarg":
        ours = M2M100ForConditionalGeneration.from_pretrained(ckpt, **flags)
        ref = transformers.M2M100ForConditionalGeneration.from_pretrained(ckpt, **flags)
    else:
        ours = M2M100ForConditionalGeneration.from_pretrained(ckpt)
        # transformers wants the eager backend for attention weights; ours returns them whatever the backend
        ref = transformers.M2M100ForConditionalGeneration.from_pretrained(ckpt, attn_implementation="eager")
        for model in (ours, ref):
            model.config.output_hidden_states = model.config.output_attentions = True
    a, b = run(ours), run(ref.eval())
    assert a.encoder_hidden_states is not None and a.cross_attentions is not None
    assert_same_outputs(a, b)
    # the call's own switch still wins over the config
    assert run(ours, output_attentions=False).decoder_attentions is None


def test_return_dict_false_in_config_gives_tuples(ckpt):
    ours = M2M100ForConditionalGeneration.from_pretrained(ckpt, return_dict=False)
    # transformers 5.24 fails on a config-level return_dict=False (its encoder returns a tuple to its own model):
    # compare with its per-call switch instead
    ref = transformers.M2M100ForConditionalGeneration.from_pretrained(ckpt).eval()
    a, b = run(ours), run(ref, return_dict=False)
    assert isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b)
    torch.testing.assert_close(a[0], b[0], atol=1e-5, rtol=0)


def test_parameters_contiguous_and_in_place_edit_changes_generation(ckpt):
    model = M2M100ForConditionalGeneration.from_pretrained(ckpt)
    assert all(p.is_contiguous() for p in model.parameters())
    assert model.model.shared.weight.view(-1).shape[0] == VOCAB * TINY["d_model"]  # .view works
    before = model.generate(IDS, attention_mask=MASK, max_new_tokens=6, eos_token_id=-1)
    token = int(before[0, 1])
    with torch.no_grad():  # an in-place edit: the cached inference layout must not go stale
        model.lm_head.weight[token] -= 100.0
    after = model.generate(IDS, attention_mask=MASK, max_new_tokens=6, eos_token_id=-1)
    assert int(after[0, 1]) != token
    with torch.no_grad():
        model.lm_head.weight[token] += 100.0
    assert torch.equal(model.generate(IDS, attention_mask=MASK, max_new_tokens=6, eos_token_id=-1), before)
    # an edit of the whole matrix through .data (which bypasses torch's version counter) is caught by the sample
    model.model.shared.weight.data.mul_(-1.0)
    flipped = model.generate(IDS, attention_mask=MASK, max_new_tokens=6, eos_token_id=-1)
    with torch.enable_grad():  # the plain nn.Linear path, no cache involved
        plain = model(input_ids=IDS, attention_mask=MASK, decoder_input_ids=flipped[:, :-1]).logits.argmax(-1)
    assert torch.equal(plain[:, 1:], flipped[:, 2:])
    ref = transformers.M2M100ForConditionalGeneration.from_pretrained(ckpt).eval()
    ref_out = ref.generate(IDS, attention_mask=MASK, max_new_tokens=6, eos_token_id=-1)
    assert torch.equal(before, ref_out)


def test_embedding_accessors_match_transformers(ckpt):
    ours, ref = M2M100ForConditionalGeneration.from_pretrained(ckpt), transformers.M2M100ForConditionalGeneration.from_pretrained(ckpt)
    assert ours.get_output_embeddings() is ours.lm_head and ref.get_output_embeddings() is ref.lm_head
    base, ref_base = M2M100Model(ours.config), transformers.M2M100Model(ref.config)
    assert base.get_output_embeddings() is None and ref_base.get_output_embeddings() is None
    assert base.get_input_embeddings() is base.shared
    assert ours.get_encoder().get_input_embeddings() is ours.model.shared
    new_head = torch.nn.Linear(TINY["d_model"], VOCAB, bias=False)
    ours.set_output_embeddings(new_head)
    assert ours.get_output_embeddings() is new_head
    ours.tie_weights()  # re-ties, as transformers
    assert ours.lm_head.weight is ours.model.shared.weight


@pytest.mark.parametrize("size, multiple", [(VOCAB + 7, None), (VOCAB + 7, 16), (VOCAB - 6, None), (None, 64)])
def test_resize_token_embeddings_like_transformers(ckpt, size, multiple):
    ours = M2M100ForConditionalGeneration.from_pretrained(ckpt)
    ref = transformers.M2M100ForConditionalGeneration.from_pretrained(ckpt).eval()
    a = ours.resize_token_embeddings(size, pad_to_multiple_of=multiple)
    b = ref.resize_token_embeddings(size, pad_to_multiple_of=multiple)
    assert a.weight.shape == b.weight.shape and ours.config.vocab_size == ref.config.vocab_size
    assert ours.lm_head.weight is ours.model.shared.weight and ours.lm_head.out_features == a.weight.shape[0]
    keep = min(VOCAB, a.weight.shape[0])
    torch.testing.assert_close(a.weight[:keep], b.weight[:keep].detach())
    # logits over the kept tokens agree; the model still runs on the new size
    torch.testing.assert_close(run(ours).logits[..., :keep], run(ref).logits[..., :keep], atol=1e-5, rtol=0)


def test_gradient_checkpointing_switches(ckpt):
    ours = M2M100ForConditionalGeneration.from_pretrained(ckpt)
    ref = transformers.M2M100ForConditionalGeneration.from_pretrained(ckpt)
    assert ours.supports_gradient_checkpointing and ref.supports_gradient_checkpointing
    for model in (ours, ref):
        model.train()
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
        assert model.is_gradient_checkpointing and model.is_activation_checkpointing
    assert ours.model.encoder.checkpoint_options["kwargs"] == {"use_reentrant": True}
    # reentrant checkpointing with frozen embeddings still gives layer gradients (input-grad hook)
    grads = []
    for model in (ours, ref):
        model.get_input_embeddings().weight.requires_grad_(False)
        model.zero_grad()
        loss = model(input_ids=IDS, attention_mask=MASK, labels=DEC).loss
        loss.backward()
        grads.append(model.model.encoder.layers[0].fc1.weight.grad)
    assert grads[0] is not None and grads[1] is not None
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-4)
    ours.disable_input_require_grads()
    ours.activation_checkpointing_disable()
    assert not ours.is_activation_checkpointing
    ours.activation_checkpointing_enable()
    assert ours.model.decoder.checkpoint_options["kwargs"] == {"use_reentrant": False}
    ours.gradient_checkpointing_disable()
    assert not ours.is_gradient_checkpointing


def test_enable_input_require_grads(ckpt):
    for model in (M2M100ForConditionalGeneration.from_pretrained(ckpt),
                  transformers.M2M100ForConditionalGeneration.from_pretrained(ckpt)):
        for p in model.parameters():
            p.requires_grad_(False)
        model.enable_input_require_grads()
        emb = model.get_input_embeddings()(IDS)
        assert emb.requires_grad
        model.disable_input_require_grads()
        assert not model.get_input_embeddings()(IDS).requires_grad


def test_from_pretrained_options(ckpt, tmp_path):
    ref = transformers.M2M100ForConditionalGeneration.from_pretrained(ckpt).eval()
    expected = run(ref).logits
    # keyword name, subfolder, output_loading_info
    ours = M2M100ForConditionalGeneration.from_pretrained(pretrained_model_name_or_path=ckpt)
    torch.testing.assert_close(run(ours).logits, expected, atol=1e-5, rtol=0)
    ours.save_pretrained(tmp_path / "repo" / "sub")
    sub = M2M100ForConditionalGeneration.from_pretrained(tmp_path / "repo", subfolder="sub")
    ref_sub = transformers.M2M100ForConditionalGeneration.from_pretrained(tmp_path / "repo", subfolder="sub").eval()
    torch.testing.assert_close(run(sub).logits, run(ref_sub).logits, atol=1e-5, rtol=0)
    with pytest.raises(CheckpointError, match="subfolder"):
        M2M100ForConditionalGeneration.from_pretrained(tmp_path / "repo" / "sub", subfolder="../sub")
    _, info = M2M100ForConditionalGeneration.from_pretrained(ckpt, output_loading_info=True)
    _, ref_info = transformers.M2M100ForConditionalGeneration.from_pretrained(ckpt, output_loading_info=True)
    assert set(info) == set(ref_info) and info["missing_keys"] == ref_info["missing_keys"] == set()
    # no files: config + state_dict
    state = ref.state_dict()
    built = M2M100ForConditionalGeneration.from_pretrained(None, config=M2M100Config.from_pretrained(ckpt),
                                                           state_dict=state)
    torch.testing.assert_close(run(built).logits, expected, atol=1e-5, rtol=0)
    with pytest.raises(CheckpointError):
        M2M100ForConditionalGeneration.from_pretrained(None)


def test_ignore_mismatched_sizes(ckpt):
    config = M2M100Config.from_pretrained(ckpt)
    config.vocab_size = VOCAB + 4
    with pytest.raises(CheckpointError, match="shape mismatch"):  # strict by default
        M2M100ForConditionalGeneration.from_pretrained(ckpt, config=config)
    ours, info = M2M100ForConditionalGeneration.from_pretrained(ckpt, config=config, ignore_mismatched_sizes=True,
                                                                output_loading_info=True)
    ref_config = transformers.M2M100Config.from_pretrained(ckpt, vocab_size=VOCAB + 4)
    ref, ref_info = transformers.M2M100ForConditionalGeneration.from_pretrained(
        ckpt, config=ref_config, ignore_mismatched_sizes=True, output_loading_info=True)
    assert info["mismatched_keys"] == ref_info["mismatched_keys"]
    assert ours.model.shared.weight.shape == ref.model.shared.weight.shape
    # everything else is the checkpoint's
    plain = M2M100ForConditionalGeneration.from_pretrained(ckpt)
    torch.testing.assert_close(ours.model.encoder.layers[0].fc1.weight, plain.model.encoder.layers[0].fc1.weight)


def test_hub_cache_revision_cache_dir_local_files_only(ckpt, tmp_path, monkeypatch):
    # a Hugging Face cache laid out by hand: models--org--tiny/{refs/main, snapshots/<commit>/...}
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "cache" / "models--org--tiny"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "generation_config.json"):
        (snapshot / name).write_bytes((ckpt / name).read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    kwargs = dict(cache_dir=tmp_path / "cache", revision="main", local_files_only=True, token=False)
    ours = M2M100ForConditionalGeneration.from_pretrained("org/tiny", **kwargs)
    ref = transformers.M2M100ForConditionalGeneration.from_pretrained("org/tiny", **kwargs).eval()
    torch.testing.assert_close(run(ours).logits, run(ref).logits, atol=1e-5, rtol=0)
    with pytest.raises(CheckpointError):
        M2M100ForConditionalGeneration.from_pretrained("org/tiny", **{**kwargs, "revision": "v9"})


def test_save_writes_generation_config_and_surface(ckpt, tmp_path):
    fresh = M2M100ForConditionalGeneration(M2M100Config(**{**TINY, "vocab_size": VOCAB}))
    fresh.save_pretrained(tmp_path / "ours")
    ref = transformers.M2M100ForConditionalGeneration(transformers.M2M100Config(**{**TINY, "vocab_size": VOCAB}))
    ref.save_pretrained(tmp_path / "ref")
    assert (tmp_path / "ours" / "generation_config.json").is_file()
    ours_gc = transformers.GenerationConfig.from_pretrained(tmp_path / "ours")
    ref_gc = transformers.GenerationConfig.from_pretrained(tmp_path / "ref")
    for key in ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id"):
        assert getattr(ours_gc, key) == getattr(ref_gc, key), key
    ours = M2M100ForConditionalGeneration.from_pretrained(ckpt)
    ref = transformers.M2M100ForConditionalGeneration.from_pretrained(ckpt)
    assert ours.num_parameters() == ref.num_parameters()
    assert ours.num_parameters(exclude_embeddings=True) == ref.num_parameters(exclude_embeddings=True)
    assert ours.get_memory_footprint() == ref.get_memory_footprint(return_buffers=False) + sum(
        b.nelement() * b.element_size() for b in ours.buffers())
    assert ours.can_generate() and ref.can_generate()
    assert not M2M100Model.can_generate() and not transformers.M2M100Model.can_generate()
    assert ours.main_input_name == ref.main_input_name == "input_ids"
    assert ours.base_model_prefix == ref.base_model_prefix
    assert ours.base_model is ours.model and ref.base_model is ref.model
    assert ours.config_class is M2M100Config
    assert ours.dtype == ref.dtype and ours.device == ref.device


def test_push_to_hub_uploads_a_loadable_folder(ckpt, tmp_path, monkeypatch):
    import shutil

    import huggingface_hub

    uploaded = tmp_path / "uploaded"
    calls = {}

    def create_repo(self, repo_id, **kwargs):
        calls["repo"] = repo_id
        return huggingface_hub.RepoUrl(f"https://huggingface.co/{repo_id}")

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        calls["upload"] = (repo_id, kwargs.get("commit_message"))
        shutil.copytree(folder_path, uploaded)
        return "commit"

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    ours = M2M100ForConditionalGeneration.from_pretrained(ckpt)
    assert ours.push_to_hub("me/tiny", commit_message="first") == "commit"
    assert calls == {"repo": "me/tiny", "upload": ("me/tiny", "first")}
    assert {"config.json", "model.safetensors", "generation_config.json"} <= {p.name for p in uploaded.iterdir()}
    ref = transformers.M2M100ForConditionalGeneration.from_pretrained(uploaded).eval()
    torch.testing.assert_close(run(ours).logits, run(ref).logits, atol=1e-5, rtol=0)


@pytest.mark.parametrize("part", ["encoder", "decoder"])
def test_encoder_and_decoder_save_and_load_alone(ckpt, tmp_path, part):
    ours = M2M100ForConditionalGeneration.from_pretrained(ckpt)
    ref = transformers.M2M100ForConditionalGeneration.from_pretrained(ckpt).eval()
    ours_part = ours.get_encoder() if part == "encoder" else ours.get_decoder()
    ours_part.save_pretrained(tmp_path / "ours")
    ref_part = ref.get_encoder() if part == "encoder" else ref.get_decoder()
    ref_part.save_pretrained(tmp_path / "ref")
    from safetensors.torch import load_file

    assert set(load_file(tmp_path / "ours" / "model.safetensors")) == set(load_file(tmp_path / "ref" / "model.safetensors"))
    cls = M2M100Encoder if part == "encoder" else M2M100Decoder
    ref_cls = ref_modeling.M2M100Encoder if part == "encoder" else ref_modeling.M2M100Decoder
    ours_loaded = cls.from_pretrained(tmp_path / "ref")  # what transformers wrote
    ref_loaded = ref_cls.from_pretrained(tmp_path / "ours").eval()  # what we wrote
    assert json.loads((tmp_path / "ours" / "config.json").read_text())["architectures"] == [cls.__name__]
    with torch.no_grad():
        if part == "encoder":
            a = ours_loaded(input_ids=IDS, attention_mask=MASK).last_hidden_state
            b = ref_loaded(input_ids=IDS, attention_mask=MASK).last_hidden_state
        else:
            enc = ref.get_encoder()(input_ids=IDS, attention_mask=MASK).last_hidden_state
            a = ours_loaded(input_ids=DEC, encoder_hidden_states=enc, encoder_attention_mask=MASK).last_hidden_state
            b = ref_loaded(input_ids=DEC, encoder_hidden_states=enc, encoder_attention_mask=MASK).last_hidden_state
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    # a whole model's checkpoint loads into the part too
    whole = cls.from_pretrained(ckpt)
    torch.testing.assert_close(whole.layer_norm.weight, ours_part.layer_norm.weight)


# -- config ------------------------------------------------------------------------------------------------
def test_config_json_dict_and_diff_like_transformers(tmp_path):
    kwargs = dict(d_model=32, encoder_layers=1, num_labels=3, my_key=[1, 2])
    ours, ref = M2M100Config(**kwargs), transformers.M2M100Config(**kwargs)
    ours.to_json_file(tmp_path / "ours.json")
    ref.to_json_file(tmp_path / "ref.json")
    a, b = json.loads((tmp_path / "ours.json").read_text()), json.loads((tmp_path / "ref.json").read_text())
    for key, value in b.items():
        if key not in ("transformers_version", "architectures", "_name_or_path", "chunk_size_feed_forward",
                       "problem_type", "dtype"):
            assert a.get(key) == value, key
    # each loads the other's file
    assert transformers.M2M100Config.from_json_file(tmp_path / "ours.json").id2label == ref.id2label
    assert M2M100Config.from_json_file(tmp_path / "ref.json").id2label == ours.id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    assert ours.to_dict()["my_key"] == ref.to_dict()["my_key"] == [1, 2]
    diff_ours, diff_ref = ours.to_diff_dict(), ref.to_diff_dict()
    for key in ("output_attentions", "output_hidden_states", "return_dict"):  # defaults everywhere: left out
        assert key not in diff_ours and key not in diff_ref
    assert diff_ours["id2label"] == diff_ref["id2label"] and diff_ours["d_model"] == diff_ref["d_model"] == 32
    assert set(diff_ref) - {"transformers_version"} <= set(diff_ours)


def test_config_labels_dtype_iteration_like_transformers():
    ours, ref = M2M100Config(d_model=32), transformers.M2M100Config(d_model=32)
    assert ours.num_labels == ref.num_labels == 2 and ours.id2label == ref.id2label and ours.label2id == ref.label2id
    ours.num_labels = ref.num_labels = 4
    assert ours.id2label == ref.id2label and ours.label2id == ref.label2id
    for value in ("float16", "bfloat16", torch.float16):
        a, b = M2M100Config(dtype=value), transformers.M2M100Config(dtype=value)
        assert a.dtype == b.dtype and isinstance(a.dtype, torch.dtype)
        assert a.to_dict()["dtype"] == b.to_dict()["dtype"]
    assert ("d_model" in ours) == ("d_model" in ref) is True
    assert ("no_such_key" in ours) == ("no_such_key" in ref) is False
    keys = set(iter(ours))
    assert {"d_model", "vocab_size", "id2label", "output_attentions"} <= keys and keys & set(iter(ref)) >= {"d_model"}
    ours.custom_flag = ref.custom_flag = True  # a new key is kept and written, as in transformers
    assert ours.to_dict()["custom_flag"] is ref.to_dict()["custom_flag"] is True
