"""The m2m100 command line: inputs and formats, blank lines, atomic output, resume, exit codes and messages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import build_checkpoint, greedy_generation, REPO, run_cli as run
from m2m100 import cli
from m2m100.translate import Translator

GENERATION = greedy_generation(16)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, spm_bpe) -> Path:
    directory = tmp_path_factory.mktemp("cli_ckpt")
    build_checkpoint(directory, spm_bpe, seed=4, generation=GENERATION)
    return directory


@pytest.fixture(scope="session")
def reference(model_dir) -> Translator:
    return Translator.from_pretrained(model_dir, device="cpu")


pytestmark = pytest.mark.usefixtures("no_env_model")


def subprocess_run(*argv: str, stdin: bytes | None = None, env: dict | None = None, timeout: float = 120):
    full_env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1", **(env or {})}
    full_env.pop("M2M100_MODEL", None)
    return subprocess.run([sys.executable, "-m", "m2m100", *argv], input=stdin, capture_output=True,
                          env=full_env, timeout=timeout, cwd=REPO)


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")


LINES = ["the house is green.", "", "we walk to school every morning. birds sing!", "   ", "😀",
         "дом зелёный", "", "the house is green."]


# ------------------------------------------------------------------------------------------------------
# languages, help
# ------------------------------------------------------------------------------------------------------
def test_languages(capsys):
    code, out, err = run(capsys, "languages")
    assert code == 0 and err == ""
    rows = out.splitlines()
    assert len(rows) == 100 and "fr\tFrench" in rows
    code, out, _ = run(capsys, "languages", "--json")
    assert code == 0 and json.loads(out)["de"] == "German"


def test_help_and_version(capsys):
    assert run(capsys, "--help")[0] == 0
    code, out, _ = run(capsys, "translate", "--help")
    assert code == 0 and "--max-batch-tokens" in out and "--resume" in out
    assert run(capsys, "--version")[0] == 0


# ------------------------------------------------------------------------------------------------------
# translate: arguments, stdin, files
# ------------------------------------------------------------------------------------------------------
def test_texts_as_arguments(capsys, model_dir, reference):
    code, out, err = run(capsys, "translate", "-m", str(model_dir), "-s", "en", "-t", "French", "--quiet",
                         "the house is green", "", "birds sing")
    assert code == 0, err
    expected = reference.translate(["the house is green", "", "birds sing"], "en", "fr")
    assert out.split("\n")[:-1] == expected


def test_text_file_line_by_line_blank_lines_kept(capsys, tmp_path, model_dir, reference):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    dst = tmp_path / "out.txt"
    code, _, err = run(capsys, "translate", "-m", str(model_dir), "-s", "en", "-t", "de", "-i", str(src),
                       "-o", str(dst))
    assert code == 0, err
    got = lines_of(dst)
    assert len(got) == len(LINES) + 1 and got[-1] == ""
    assert got[:-1] == reference.translate(LINES, "en", "de")
    assert got[1] == "" and got[3] == "   " and got[4] == "😀"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.txt"]  # no temp or state files left


def test_stdin_to_stdout_subprocess_keeps_line_count(model_dir, reference):
    data = ("\n".join(LINES) + "\nno final newline").encode("utf-8")
    proc = subprocess_run("translate", "-m", str(model_dir), "-s", "en", "-t", "fr", stdin=data)
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode("utf-8")
    assert out.count("\n") == data.count(b"\n") and not out.endswith("\n")
    assert out.split("\n") == reference.translate(LINES + ["no final newline"], "en", "fr")
    assert proc.stderr == b""  # not a TTY: no progress bar


def test_crlf_and_bom_kept(capsys, tmp_path, model_dir, reference):
    src = tmp_path / "in.txt"
    src.write_bytes("\ufeffthe house\r\n\r\nbirds sing\r\n".encode("utf-8"))
    dst = tmp_path / "out.txt"
    assert run(capsys, "translate", "-m", str(model_dir), "-s", "en", "-t", "fr", "-i", str(src), "-o", str(dst))[0] == 0
    a, b = reference.translate(["the house", "birds sing"], "en", "fr")
    assert dst.read_bytes() == f"\ufeff{a}\r\n\r\n{b}\r\n".encode("utf-8")


def test_jsonl_field(capsys, tmp_path, model_dir, reference):
    src = tmp_path / "in.jsonl"
    records = [{"id": 1, "text": "the house", "src": "x"}, {"id": 2, "text": ""}, None, {"id": 3, "text": "birds"}]
    src.write_text("\n".join(json.dumps(r) if r else "" for r in records) + "\n", encoding="utf-8")
    dst = tmp_path / "out.jsonl"
    code, _, err = run(capsys, "translate", "-m", str(model_dir), "-s", "en", "-t", "fr", "-i", str(src),
                       "-o", str(dst))
    assert code == 0, err
    got = lines_of(dst)
    assert got[2] == "" and len(got) == 5
    first, second, third = json.loads(got[0]), json.loads(got[1]), json.loads(got[3])
    assert list(first) == ["id", "text", "src"] and first["src"] == "x"
    assert [first["text"], second["text"], third["text"]] == reference.translate(["the house", "", "birds"], "en", "fr")
    # --output-field keeps the original; another field name.
    src.write_text(json.dumps({"body": "the house"}) + "\n", encoding="utf-8")
    code, out, err = run(capsys, "translate", "-m", str(model_dir), "-s", "en", "-t", "fr", "-i", str(src),
                         "--field", "body", "--output-field", "fr")
    assert code == 0, err
    assert json.loads(out) == {"body": "the house", "fr": reference.translate("the house", "en", "fr")}


def test_jsonl_errors_name_the_line(capsys, tmp_path, model_dir):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "a"}\n{"txt": "b"}\n', encoding="utf-8")
    code, _, err = run(capsys, "translate", "-m", str(model_dir), "-s", "en", "-t", "fr", "-i", str(src))
    assert code == 1 and "line 2" in err and "'text'" in err and err.count("\n") == 1
    src.write_text('{"text": "a"}\n{not json\n', encoding="utf-8")
    code, _, err = run(capsys, "translate", "-m", str(model_dir), "-s", "en", "-t", "fr", "-i", str(src))
    assert code == 1 and "line 2: invalid JSON" in err


def test_tsv_column_number_and_header_name(capsys, tmp_path, model_dir, reference):
    src = tmp_path / "in.tsv"
    src.write_text("1\tthe house\tx\n\n2\tbirds sing\ty\n", encoding="utf-8")
    code, out, err = run(capsys, "translate", "-m", str(model_dir), "-s", "en", "-t", "fr", "-i", str(src),
                         "--column", "2")
    assert code == 0, err
    a, b = reference.translate(["the house", "birds sing"], "en", "fr")
    assert out == f"1\t{a}\tx\n\n2\t{b}\ty\n"
    src.write_text("id\tsentence\n1\tthe house\n", encoding="utf-8")
    code, out, err = run(capsys, "translate", "-m", str(model_dir), "-s", "en", "-t", "fr", "-i", str(src),
                         "--column", "sentence")
    assert code == 0, err
    assert out == f"id\tsentence\n1\t{a}\n"
    src.write_text("1\tthe house\n2\n", encoding="utf-8")
    code, _, err = run(capsys, "translate", "-m", str(model_dir), "-s", "en", "-t", "fr", "-i", str(src),
                       "--column", "2")
    assert code == 1 and "line 2" in err


def test_invalid_utf8_names_the_line_and_leaves_no_output(capsys, tmp_path, model_dir, reference):
    src = tmp_path / "in.txt"
    src.write_bytes(b"the house\nbirds\nbad \xff byte\n")
    dst = tmp_path / "out.txt"
    code, _, err = run(capsys, "translate", "-m", str(model_dir), "-s", "en", "-t", "fr", "-i", str(src),
                       "-o", str(dst))
    assert code == 1 and "line 3: invalid UTF-8" in err and "--errors replace" in err
    assert not dst.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]
    code, _, err = run(capsys, "translate", "-m", str(model_dir), "-s", "en", "-t", "fr", "-i", str(src),
                       "-o", str(dst), "--errors", "replace")
    assert code == 0, err
    assert lines_of(dst)[:3] == reference.translate(["the house", "birds", "bad \ufffd byte"], "en", "fr")


def test_invalid_utf8_on_stdin_subprocess(model_dir):
    proc = subprocess_run("translate", "-m", str(model_dir), "-s", "en", "-t", "fr", stdin=b"ok\n\xc3\x28\n")
    assert proc.returncode == 1
    assert proc.stderr.decode().strip().startswith("m2m100: error: line 2: invalid UTF-8")
    assert b"Traceback" not in proc.stderr


# ------------------------------------------------------------------------------------------------------
# Exit codes and messages
# ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, needle", [
    (["translate", "-s", "en", "hello"], "-t/--target"),
    (["translate", "-s", "en", "-t", "zz", "hello"], "'zz'"),
    (["translate", "-s", "Klingon", "-t", "fr", "hello"], "--source"),
    (["translate", "-s", "en", "-t", "fr", "--beam", "0", "hello"], "--beam"),
    (["translate", "-s", "en", "-t", "fr", "--beam", "-1", "hello"], "--beam"),
    (["translate", "-s", "en", "-t", "fr", "--beam", "1.5", "hello"], "--beam"),
    (["translate", "-s", "en", "-t", "fr", "--max-new-tokens", "0", "hello"], "--max-new-tokens"),
    (["translate", "-s", "en", "-t", "fr", "--max-new-tokens", "-5", "hello"], "--max-new-tokens"),
    (["translate", "-s", "en", "-t", "fr", "--max-batch-tokens", "0", "hello"], "--max-batch-tokens"),
    (["translate", "-s", "en", "-t", "fr", "-i", "x.txt", "hello"], "not both"),
    (["translate", "-s", "en", "-t", "fr", "--resume", "hello"], "--resume"),
    (["translate", "-s", "en", "-t", "fr", "--field", "x", "hello"], "--field"),
    (["frobnicate"], "invalid choice"),
    ([], "no command"),
])
def test_usage_errors_exit_2_with_one_line(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2, err
    assert out == "" and needle in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("m2m100")


def test_runtime_errors_exit_1(capsys, tmp_path, model_dir):
    code, _, err = run(capsys, "translate", "-m", str(model_dir), "-s", "en", "-t", "fr", "-i", str(tmp_path / "no.txt"))
    assert code == 1 and "no.txt" in err and err.count("\n") == 1
    code, _, err = run(capsys, "translate", "-m", str(tmp_path / "missing_model"), "-s", "en", "-t", "fr", "hi")
    assert code == 1 and "missing_model" in err and err.count("\n") == 1 and "Traceback" not in err
    code, _, err = run(capsys, "translate", "-m", str(model_dir), "-s", "en", "-t", "fr", "-o",
                       str(tmp_path / "nodir" / "out.txt"), "hi")
    assert code == 1 and "nodir" in err


def test_debug_shows_traceback(capsys, tmp_path):
    code, _, err = run(capsys, "translate", "--debug", "-m", str(tmp_path / "missing"), "-s", "en", "-t", "fr", "x")
    assert code == 1 and "Traceback" in err and err.strip().splitlines()[-1].startswith("m2m100: error:")


def test_offline_default_model_message_points_at_model_flag(model_dir):
    proc = subprocess_run("translate", "-s", "en", "-t", "fr", "hello",
                          env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(model_dir / "no_hf_home"),
                               "HF_HUB_CACHE": str(model_dir / "no_hf_home" / "hub")})
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert "facebook/m2m100_418M" in err and "--model" in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("m2m100: error:")


def test_model_from_environment(capsys, monkeypatch, model_dir, reference):
    monkeypatch.setenv("M2M100_MODEL", str(model_dir))
    code, out, err = run(capsys, "translate", "-s", "en", "-t", "fr", "the house")
    assert code == 0, err
    assert out == reference.translate("the house", "en", "fr") + "\n"


def test_unavailable_external_command(capsys, monkeypatch):
    monkeypatch.setitem(cli.EXTERNAL_COMMANDS, "frob", ("m2m100.no_such_module", "frobnicate"))
    code, _, err = run(capsys, "frob", "--x")
    assert code == 1 and "not available" in err and err.count("\n") == 1


def test_external_command_is_loaded_lazily(capsys, monkeypatch, tmp_path):
    (tmp_path / "m2m100_fake_cmd.py").write_text(
        "def add_arguments(p):\n    p.add_argument('--n', type=int, default=1)\n"
        "def run(args):\n    print('ran', args.n)\n    return 0\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.EXTERNAL_COMMANDS, "fake", ("m2m100_fake_cmd", "a fake command"))
    assert run(capsys, "fake", "--n", "3")[:2] == (0, "ran 3\n")


# ------------------------------------------------------------------------------------------------------
# Atomic output and resume
# ------------------------------------------------------------------------------------------------------
def _job_lines(n: int) -> list[str]:
    words = "the house is green and we walk to school every morning while birds sing".split()
    return [" ".join(words[(i * 7 + k) % len(words)] for k in range(2 + i % 9)) if i % 11 else ""
            for i in range(n)]


def test_interrupted_job_resumes_to_identical_output(capsys, tmp_path, model_dir, monkeypatch):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(_job_lines(60)) + "\n", encoding="utf-8")
    full = tmp_path / "full.txt"
    args = ["translate", "-m", str(model_dir), "-s", "en", "-t", "fr", "-i", str(src), "--chunk-lines", "8"]
    assert run(capsys, *args, "-o", str(full))[0] == 0

    out = tmp_path / "out.txt"
    calls = []
    fail_at = [4]
    original = Translator.translate

    def failing(self, texts, *a, **k):
        calls.append(len(texts))
        if len(calls) == fail_at[0]:
            raise KeyboardInterrupt
        return original(self, texts, *a, **k)

    monkeypatch.setattr(Translator, "translate", failing)
    code, _, err = run(capsys, *args, "-o", str(out))
    assert code == 130 and "--resume" in err
    assert not out.exists()  # never a partial output file
    state = tmp_path / ".out.txt.m2m100-resume"  # the resume state (m2m100.cli.resume): blocks 0-2 translated
    assert sorted(p.name for p in state.glob("block-*.json")) == [f"block-{i:08d}.json" for i in range(3)]

    # Different settings refuse to resume.
    code, _, err = run(capsys, *[a if a != "fr" else "de" for a in args], "-o", str(out), "--resume")
    assert code == 1 and "cannot resume" in err and "target" in err

    calls.clear()
    fail_at[0] = None
    code, _, err = run(capsys, *args, "-o", str(out), "--resume")
    assert code == 0, err
    assert "resuming after line 24" in err
    assert sum(calls) == 60 - 24  # only the remaining lines were translated
    assert out.read_bytes() == full.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full.txt", "in.txt", "out.txt"]


def test_killed_subprocess_resumes(tmp_path, model_dir, capsys):
    """A real SIGKILL in the middle of a file job, then --resume: same bytes as an uninterrupted run."""
    src = tmp_path / "in.txt"
    src.write_text("\n".join(_job_lines(150)) + "\n", encoding="utf-8")
    out = tmp_path / "out.txt"
    state = tmp_path / ".out.txt.m2m100-resume"
    args = ["translate", "-m", str(model_dir), "-s", "en", "-t", "fr", "-i", str(src), "--chunk-lines", "5"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "m2m100", *args, "-o", str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 90
    killed_at = None
    while time.time() < deadline and proc.poll() is None:
        lines = 5 * len(list(state.glob("block-*.json")))  # blocks of --chunk-lines 5
        if lines >= 10:
            os.kill(proc.pid, signal.SIGKILL)
            killed_at = lines
            break
        time.sleep(0.01)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()
    if killed_at is None:
        pytest.fail("the job finished before it could be killed")
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()

    resumed = subprocess_run(*args, "-o", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert "resuming after line" in resumed.stderr.decode()
    full = tmp_path / "full.txt"
    assert run(capsys, *args, "-o", str(full))[0] == 0
    assert out.read_bytes() == full.read_bytes()
    assert len(lines_of(out)) == 151


def test_control_characters_and_odd_separators_keep_line_count(capsys, tmp_path, model_dir):
    src = tmp_path / "in.txt"
    lines = ["a\x00b the house", "\x0c", "form\x0cfeed house", "tab\there", "line\u2028sep", "\x1b[1mbold\x1b[0m", "\ufeff"]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = run(capsys, "translate", "-m", str(model_dir), "-s", "en", "-t", "fr", "-i", str(src))
    assert code == 0, err
    assert out.count("\n") == len(lines) and out.split("\n")[1] == "\x0c"


@pytest.mark.parametrize("option", [("--quantize", "int8"), ("--dtype", "bf16"), ("--dtype", "bfloat16")])
def test_opt_in_speed_modes(capsys, model_dir, option):
    code, out, err = run(capsys, "translate", "--model", str(model_dir), "-s", "en", "-t", "fr", *option,
                         "the house is green.", "we walk to school.")
    assert code == 0, err
    assert len(out.splitlines()) == 2


def test_no_prepack_gives_the_same_translations(capsys, model_dir):
    texts = ("the house is green.", "we walk to school every morning.")
    code, packed, err = run(capsys, "translate", "--model", str(model_dir), "-s", "en", "-t", "fr", *texts)
    assert code == 0, err
    code, plain, err = run(capsys, "translate", "--model", str(model_dir), "-s", "en", "-t", "fr", "--no-prepack",
                           *texts)
    assert code == 0, err
    assert plain == packed and len(plain.splitlines()) == 2


@pytest.mark.parametrize("option, needle", [(("--quantize", "int4"), "quantize"), (("--dtype", "int3"), "dtype")])
def test_bad_speed_mode_is_one_clear_line(capsys, model_dir, option, needle):
    code, out, err = run(capsys, "translate", "--model", str(model_dir), "-s", "en", "-t", "fr", *option, "hello")
    assert code in (1, 2) and out == ""
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
