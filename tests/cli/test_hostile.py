"""Hostile and careless use of the command line (issue #17): outputs shared by two jobs, special files as
--output, -o equal to -i, and exit status 2 for usage errors in every subcommand."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import build_checkpoint, greedy_generation, REPO, run_cli as run

GENERATION = greedy_generation(8)
LINES = ["the house is green.", "we walk to school every morning.", "birds sing!", "", "дом зелёный"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, spm_bpe) -> Path:
    directory = tmp_path_factory.mktemp("hostile_cli_ckpt")
    build_checkpoint(directory, spm_bpe, seed=4, generation=GENERATION)
    return directory


pytestmark = [pytest.mark.usefixtures("no_env_model"), pytest.mark.hostile]


def _env() -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    env.pop("M2M100_MODEL", None)
    return env


@pytest.fixture
def input_file(tmp_path) -> Path:
    path = tmp_path / "in.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


# ---- one job per output ---------------------------------------------------------------------------------------
def test_a_second_job_on_a_locked_output_fails_naming_the_first(capsys, tmp_path, model_dir, input_file):
    out = tmp_path / "out.txt"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from m2m100.cli.outputs import OutputLock; "
         "lock = OutputLock(Path(sys.argv[1])); lock.acquire(); print('locked', flush=True); time.sleep(60)",
         str(out)], stdout=subprocess.PIPE, env=_env())
    try:
        assert holder.stdout.readline().strip() == b"locked"
        code, _, err = run(capsys, "translate", "-s", "en", "-t", "fr", "--model", str(model_dir),
                           "-i", str(input_file), "-o", str(out), "-q")
        assert code == 1
        assert "being written by another m2m100 job" in err and f"pid {holder.pid}" in err
        assert not out.exists()  # nothing published by the refused job
    finally:
        holder.kill()
        holder.wait()
    # Once the other job is gone (its lock released with it), the output can be written.
    code, _, _ = run(capsys, "translate", "-s", "en", "-t", "fr", "--model", str(model_dir),
                     "-i", str(input_file), "-o", str(out), "-q")
    assert code == 0 and len(out.read_text(encoding="utf-8").splitlines()) == len(LINES)
    assert not (tmp_path / ".out.txt.m2m100-lock").exists()


def test_two_concurrent_jobs_never_mix_their_outputs(capsys, tmp_path, model_dir):
    lines = [f"the house is green {i}." for i in range(48)]
    src = tmp_path / "in.txt"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    expected = {}
    for target in ("fr", "de"):
        alone = tmp_path / f"alone.{target}"
        assert run(capsys, "translate", "-s", "en", "-t", target, "--model", str(model_dir), "-i", str(src),
                   "-o", str(alone), "-q", "--chunk-lines", "4")[0] == 0
        expected[target] = alone.read_bytes()
    out = tmp_path / "shared.txt"
    procs = {target: subprocess.Popen(
        [sys.executable, "-m", "m2m100", "translate", "-s", "en", "-t", target, "--model", str(model_dir),
         "-i", str(src), "-o", str(out), "-q", "--chunk-lines", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env()) for target in ("fr", "de")}
    results = {t: (p.wait(timeout=300), p.stderr.read().decode()) for t, p in procs.items()}
    winners = [t for t, (code, _) in results.items() if code == 0]
    assert winners, results
    # Either they ran one after the other (both 0), or the loser stopped with the lock message.
    for target, (code, err) in results.items():
        assert code in (0, 1), err
        if code == 1:
            assert "being written by another m2m100 job" in err, err
    # What is published is exactly one job's complete output.
    assert out.read_bytes() in (expected["fr"], expected["de"])
    if len(winners) == 1:
        assert out.read_bytes() == expected[winners[0]]


# ---- special files and links ---------------------------------------------------------------------------------
def test_output_fifo_is_written_through(capsys, tmp_path, model_dir, input_file):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    code, _, err = run(capsys, "translate", "-s", "en", "-t", "fr", "--model", str(model_dir),
                       "-i", str(input_file), "-o", str(fifo), "-q")
    reader.join(timeout=30)
    assert code == 0, err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still a FIFO, not replaced by a regular file
    assert len(received[0].decode().splitlines()) == len(LINES)
    code, _, err = run(capsys, "translate", "-s", "en", "-t", "fr", "--model", str(model_dir),
                       "-i", str(input_file), "-o", str(fifo), "--resume", "-q")
    assert code == 2 and "special file" in err


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
@pytest.mark.parametrize("mode", ["texts", "file"])
def test_link_to_a_device_is_written_through_never_replaced(capsys, tmp_path, model_dir, input_file, mode):
    link = tmp_path / "null-link"
    link.symlink_to("/dev/null")
    args = ["hello world"] if mode == "texts" else ["-i", str(input_file)]
    code, _, err = run(capsys, "translate", "-s", "en", "-t", "fr", "--model", str(model_dir), *args,
                       "-o", str(link), "-q")
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == "/dev/null"
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial or lock left


@pytest.mark.parametrize("mode", ["texts", "file"])
def test_symlink_output_is_followed_and_kept(capsys, tmp_path, model_dir, input_file, mode):
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    real = real_dir / "target.txt"
    real.write_text("old\n", encoding="utf-8")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    args = ["hello world", "birds sing"] if mode == "texts" else ["-i", str(input_file)]
    code, _, err = run(capsys, "translate", "-s", "en", "-t", "fr", "--model", str(model_dir), *args,
                       "-o", str(link), "-q")
    assert code == 0, err
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert len(real.read_text(encoding="utf-8").splitlines()) == (2 if mode == "texts" else len(LINES))


def test_output_same_file_as_input_is_refused(capsys, tmp_path, model_dir, input_file):
    before = input_file.read_bytes()
    hard = tmp_path / "hardlink.txt"
    os.link(input_file, hard)
    link = tmp_path / "symlink.txt"
    link.symlink_to(input_file)
    for output in (input_file, hard, link, Path(str(tmp_path) + "/./in.txt")):
        code, _, err = run(capsys, "translate", "-s", "en", "-t", "fr", "--model", str(model_dir),
                           "-i", str(input_file), "-o", str(output), "-q")
        assert code == 2 and "same file as --input" in err, (output, err)
    assert input_file.read_bytes() == before


# ---- exit status 2 for usage errors, in every subcommand ---------------------------------------------------------
def test_eval_unknown_language_exits_2(capsys, tmp_path, model_dir):
    src, ref = tmp_path / "src", tmp_path / "ref"
    src.write_text("a\n", encoding="utf-8")
    ref.write_text("b\n", encoding="utf-8")
    for flags in (["-s", "zz", "-t", "de"], ["-s", "en", "-t", "xx-klingon"]):
        code, _, err = run(capsys, "eval", "--model", str(model_dir), *flags, "--src-file", str(src),
                           "--ref-file", str(ref), "-q")
        assert code == 2, err
        assert "zz" in err or "klingon" in err
    code, _, err = run(capsys, "eval", "--model", str(model_dir), "-s", "en", "-t", "de", "--limit", "0",
                       "--src-file", str(src), "--ref-file", str(ref))
    assert code == 2 and "--limit" in err


def test_translate_unknown_language_exits_2(capsys, model_dir):
    code, _, err = run(capsys, "translate", "-s", "zz", "-t", "de", "--model", str(model_dir), "hello")
    assert code == 2 and "zz" in err


def test_train_bad_option_value_exits_2(capsys, tmp_path, model_dir):
    data = tmp_path / "train.tsv"
    data.write_text("a\tb\n", encoding="utf-8")
    code, _, err = run(capsys, "train", "--model", str(model_dir), "--train", str(data), "--output",
                       str(tmp_path / "out"), "--learning-rate", "-1", "--source", "en", "--target", "de")
    assert code == 2 and "learning_rate" in err
    assert not (tmp_path / "out").exists()


def test_a_million_beams_is_a_usage_error_not_an_internal_one(capsys, model_dir):
    start = time.perf_counter()
    code, _, err = run(capsys, "translate", "-s", "en", "-t", "fr", "--model", str(model_dir),
                       "--beam", "1000000", "hello world")
    assert code == 2, err
    assert "num_beams" in err and "internal error" not in err
    assert time.perf_counter() - start < 30
