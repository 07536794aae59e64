"""TranslatorOptions (m2m100.options): the Translator's loading options, declared once, are the flags of
`m2m100 translate`, the settings of `m2m100 serve` (flag and M2M100_* variable) and the Ray job's options."""

from __future__ import annotations

import argparse
import inspect

import pytest

from m2m100 import cli
from m2m100.cli.arguments import add_arguments
from m2m100.options import TranslatorOptions, option
from m2m100.server.cli import build_parser as serve_parser
from m2m100.server.cli import settings_from_args
from m2m100.server.settings import SERVER_DEFAULTS, ServerSettings, default_translator_factory, env_var

SPECS = TranslatorOptions.specs()


def translate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_arguments(parser)  # the flags of `m2m100 translate`
    return parser


def test_every_field_is_a_translate_flag_and_a_server_setting():
    translate_help = translate_parser().format_help()
    serve_help = serve_parser().format_help()
    for name, spec in SPECS.items():
        assert spec.help and spec.flag in translate_help, name
        field = ServerSettings.model_fields[name]
        assert field.description == spec.help
        assert field.default == SERVER_DEFAULTS.get(name, spec.default)
        assert "--" + name.replace("_", "-") in serve_help and env_var(name) in serve_help
    assert list(ServerSettings.model_fields)[:len(SPECS)] == list(SPECS)  # the model's options come first


def test_flags_and_settings_give_the_same_options():
    argv = ["--dtype", "bf16", "--no-prepack", "--no-sentence-split", "--max-batch-tokens", "512", "--threads", "2",
            "--no-guards", "--local-files-only"]
    args = translate_parser().parse_args(["-s", "en", "-t", "fr", "-m", "/ckpt", *argv])
    from_cli = TranslatorOptions.from_args(args)
    assert from_cli == TranslatorOptions(model="/ckpt", dtype="bf16", prepack=False, split_sentences=False,
                                         max_batch_tokens=512, threads=2, guards=False, local_files_only=True)
    server_argv = ["--model", "/ckpt", "--dtype", "bf16", "--no-prepack", "--no-split-sentences",
                   "--max-batch-tokens", "512", "--threads", "2", "--no-guards", "--local-files-only",
                   "--max-batch-size", "128"]
    settings = settings_from_args(serve_parser().parse_args(server_argv), {})
    assert settings.translator_options() == from_cli
    env = {"M2M100_DTYPE": "bf16", "M2M100_MAX_INPUT_TOKENS": "64", "M2M100_SPLIT_SENTENCES": "false"}
    from_env = ServerSettings.from_sources({}, env).translator_options()
    assert (from_env.dtype, from_env.max_input_tokens, from_env.split_sentences) == ("bf16", 64, False)
    assert ServerSettings.from_sources({}, {}).max_batch_size == SERVER_DEFAULTS["max_batch_size"]


def test_from_pretrained_keywords_are_the_fields():
    from m2m100.translate import DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_BATCH_TOKENS, Translator

    assert SPECS["max_batch_tokens"].default == DEFAULT_MAX_BATCH_TOKENS
    assert SPECS["max_batch_size"].default == DEFAULT_MAX_BATCH_SIZE
    keywords = set(inspect.signature(Translator.from_pretrained).parameters) - {"path_or_hub_id", "progress"}
    kwargs = TranslatorOptions().from_pretrained_kwargs()
    assert set(kwargs) == keywords  # a new from_pretrained keyword is a new field, and the other way round
    assert kwargs["prepack"] is None and kwargs["guards"] is None  # the Translator's own defaults
    off = TranslatorOptions(prepack=False, guards=False).from_pretrained_kwargs()
    assert off["prepack"] is False and off["guards"] is False


@pytest.mark.parametrize("argv, message", [
    (["--max-batch-tokens", "0"], "--max-batch-tokens must be a positive integer, got 0"),
    (["--max-batch-size", "-3"], "--max-batch-size must be a positive integer, got -3"),
    (["--max-input-tokens", "2"], "--max-input-tokens must be at least 4, got 2"),
    (["--threads", "5000"], "--threads must be between 1 and 1024, got 5000"),
    (["--dtype", "int3"], "--dtype: invalid dtype 'int3'; use one of float32"),
    (["--device", "toaster"], "--device: invalid device 'toaster'; use cpu, cuda, cuda:N or mps"),
])
def test_bad_values_name_the_option_everywhere(argv, message, capsys):
    args = translate_parser().parse_args(["-s", "en", "-t", "fr", *argv])
    with pytest.raises(ValueError) as info:
        TranslatorOptions.from_args(args)
    assert str(info.value).startswith(message)
    code = cli.main(["translate", "-s", "en", "-t", "fr", *argv, "hello"])  # a usage error, before any model
    assert code == 2 and message in capsys.readouterr().err
    name = argv[0][2:].replace("-", "_")
    with pytest.raises(ValueError, match=f"^{name}"):  # from Python: the field's name
        TranslatorOptions(**{name: int(argv[1]) if argv[1].lstrip("-").isdigit() else argv[1]}).validate()
    with pytest.raises(ValueError, match=f"{argv[0]} / M2M100_{name.upper()}"):  # the server: flag and variable
        ServerSettings.from_sources({}, {f"M2M100_{name.upper()}": argv[1]})


def test_wrong_types_and_unknown_fields():
    with pytest.raises(ValueError, match="prepack must be true or false"):
        TranslatorOptions(prepack="yes").validate()
    with pytest.raises(ValueError, match="max_batch_tokens must be an integer"):
        TranslatorOptions(max_batch_tokens=1.5).validate()
    with pytest.raises(ValueError, match="attn_implementation must be one of eager, sdpa"):
        TranslatorOptions(attn_implementation="fast").validate()
    with pytest.raises(TypeError):
        TranslatorOptions(no_such_option=1)
    assert "hf_secret" not in repr(TranslatorOptions(token="hf_secret"))
    assert "hf_secret" not in repr(ServerSettings.from_sources({"token": "hf_secret"}, {}))


def test_a_new_field_is_a_flag():
    """Declaring a field is all a new option takes: add_arguments and from_args derive from the fields."""
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Extended(TranslatorOptions):
        beam_cache: int = option(8, "a made-up option", minimum=1, metavar="N")

    parser = argparse.ArgumentParser()
    Extended.add_arguments(parser)
    assert "--beam-cache N" in parser.format_help() and "a made-up option" in parser.format_help()
    assert Extended.from_args(parser.parse_args(["--beam-cache", "3"])).beam_cache == 3
    with pytest.raises(ValueError, match="--beam-cache must be a positive integer, got 0"):
        Extended.from_args(parser.parse_args(["--beam-cache", "0"]))


def test_load_and_the_server_factory_call_from_pretrained(monkeypatch):
    import torch

    from m2m100.translate import Translator

    calls = []
    monkeypatch.setattr(Translator, "from_pretrained", classmethod(lambda cls, name, **kw: calls.append((name, kw))))
    monkeypatch.setattr(torch, "set_num_threads", lambda n: calls.append(("threads", n)))
    monkeypatch.setenv("M2M100_MODEL", "/default/model")
    TranslatorOptions(dtype="bf16").load()
    assert calls[-1][0] == "/default/model" and calls[-1][1]["dtype"] == "bf16" and calls[-1][1]["progress"] is False
    settings = ServerSettings.from_sources({"model": "/m", "threads": 3, "shortlist": "/s.json"}, {})
    default_translator_factory(settings)
    assert calls[-2] == ("threads", 3)
    name, kwargs = calls[-1]
    assert name == "/m" and kwargs["shortlist"] == "/s.json" and kwargs["max_batch_size"] == 64
    assert kwargs["progress"] is False and "threads" not in kwargs


def test_the_ray_callable_takes_the_fields_as_keywords(monkeypatch):
    from m2m100.integrations.ray import loading_options

    options = loading_options(None, model="/m", device="cpu", prepack=None, max_batch_tokens=256)
    assert options == TranslatorOptions(model="/m", device="cpu", max_batch_tokens=256)  # None: the default
    assert loading_options(options, dtype="bf16").max_batch_tokens == 256
    with pytest.raises(TypeError, match="unknown loading option"):
        loading_options(None, devise="cpu")
