"""The settings table: every option has a default, an M2M100_* variable and a flag; flags beat variables."""

from __future__ import annotations

import pytest

from m2m100.server.cli import build_parser, main, settings_from_args
from m2m100.server.settings import (
    ServerSettings,
    load_api_keys,
    settings_markdown,
    settings_table,
)


def test_every_option_has_flag_env_and_default():
    rows = settings_table()
    assert len(rows) == len(ServerSettings.model_fields)
    flags = {flag for flag, *_ in rows}
    for flag in ("--model", "--host", "--port", "--quantize", "--dtype", "--api-keys", "--max-chars", "--max-texts",
                 "--max-body-bytes", "--request-timeout", "--max-batch-tokens", "--max-batch-size", "--max-queue",
                 "--req-limit", "--drain-timeout"):
        assert flag in flags
    for flag, env, _, description in rows:
        assert env == "M2M100_" + flag[2:].replace("-", "_").upper() and description
    assert "| `--port` | `M2M100_PORT` | 5000 |" in settings_markdown()
    help_text = build_parser().format_help()
    assert all(flag in help_text for flag in flags)


def test_precedence_flag_over_env_over_default():
    env = {"M2M100_PORT": "6000", "M2M100_MAX_CHARS": "100", "M2M100_WARMUP": "no", "M2M100_MODEL": "some/model"}
    args = build_parser().parse_args(["--port", "7000"])
    settings = settings_from_args(args, env)
    assert settings.port == 7000 and settings.max_chars == 100 and settings.warmup is False
    assert settings.model == "some/model" and settings.host == "127.0.0.1"
    assert settings_from_args(build_parser().parse_args([]), {}).port == 5000
    defaults = settings_from_args(build_parser().parse_args([]), {})
    assert defaults.prepack is True
    assert settings_from_args(build_parser().parse_args([]), {"M2M100_PREPACK": "false"}).prepack is False
    assert settings_from_args(build_parser().parse_args(["--no-prepack"]), {"M2M100_PREPACK": "true"}).prepack is False


@pytest.mark.parametrize("env, fragment", [
    ({"M2M100_MAX_CHARS": "abc"}, "--max-chars / M2M100_MAX_CHARS"),
    ({"M2M100_PORT": "70000"}, "--port / M2M100_PORT"),
    ({"M2M100_WARMUP": "maybe"}, "M2M100_WARMUP='maybe'"),
    ({"M2M100_REQUEST_TIMEOUT": "inf"}, "--request-timeout"),
])
def test_bad_values_name_flag_and_variable(env, fragment):
    with pytest.raises(ValueError) as info:
        ServerSettings.from_sources({}, env)
    assert fragment in str(info.value)


def test_cli_errors_exit_2(tmp_path, capsys):
    assert main(["--max-chars", "0"]) == 2
    assert "--max-chars / M2M100_MAX_CHARS" in capsys.readouterr().err
    assert main(["--api-keys", str(tmp_path / "missing.txt")]) == 2
    assert "cannot read API keys file" in capsys.readouterr().err


def test_api_keys_file(tmp_path):
    path = tmp_path / "keys"
    path.write_text("# comment\n\n a \nb # trailing\n", encoding="utf-8")
    assert load_api_keys(path) == {"a", "b"}
    path.write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no keys"):
        load_api_keys(path)


def test_serve_is_a_subcommand_of_the_main_cli(capsys):
    from m2m100.cli import main as m2m100_main

    assert m2m100_main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--max-batch-tokens" in out and "M2M100_MAX_BATCH_TOKENS" in out
    assert m2m100_main(["serve", "--max-texts", "-1"]) == 2


def test_readme_documents_every_option():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert settings_markdown() in readme, "README's HTTP server table is out of date: paste settings_markdown()"
