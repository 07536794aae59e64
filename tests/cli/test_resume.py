"""The resume state shared by the local and the Ray file job (m2m100.cli.resume): a local job resumes blocks
saved in any order (as a Ray job saves them), the states of earlier versions are read, and a changed input or
setting is refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import build_checkpoint, greedy_generation, run_cli as run
from m2m100.cli.resume import STATE_VERSION, ResumeState
from m2m100.translate import Translator

CHUNK = 8


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, spm_bpe) -> Path:
    directory = tmp_path_factory.mktemp("resume_ckpt")
    build_checkpoint(directory, spm_bpe, seed=4, generation=greedy_generation(12))
    return directory


pytestmark = pytest.mark.usefixtures("no_env_model")


def job_lines(n: int) -> list[str]:
    words = "the house is green and we walk to school every morning while birds sing".split()
    return [" ".join(words[(i * 5 + k) % len(words)] for k in range(2 + i % 7)) if i % 9 else "" for i in range(n)]


class Calls:
    """Counts the texts given to Translator.translate; raises KeyboardInterrupt at call number `fail_at`."""

    def __init__(self, monkeypatch, fail_at: int | None = None):
        self.texts: list[int] = []
        self.fail_at = fail_at
        original = Translator.translate

        def translate(translator, texts, *args, **kwargs):
            self.texts.append(len(texts))
            if len(self.texts) == self.fail_at:
                raise KeyboardInterrupt
            return original(translator, texts, *args, **kwargs)

        monkeypatch.setattr(Translator, "translate", translate)


@pytest.fixture
def job(tmp_path, model_dir, capsys):
    """A 60-line input, its uninterrupted output, and the command for out.txt."""
    src = tmp_path / "in.txt"
    src.write_text("\n".join(job_lines(60)) + "\n", encoding="utf-8")
    args = ["translate", "-m", str(model_dir), "-s", "en", "-t", "fr", "-i", str(src), "--chunk-lines", str(CHUNK)]
    full = tmp_path / "full.txt"
    assert run(capsys, *args, "-o", str(full))[0] == 0
    return args, src, tmp_path / "out.txt", full.read_bytes()


def interrupt(capsys, monkeypatch, args, out, at: int = 4) -> Path:
    """Run the job until Translator.translate call `at` (blocks 0 .. at-2 saved); the state directory."""
    with monkeypatch.context() as patch:
        Calls(patch, fail_at=at)
        code, _, err = run(capsys, *args, "-o", str(out))
    assert code == 130 and "--resume" in err and not out.exists()
    return out.parent / f".{out.name}.m2m100-resume"


def test_the_state_is_a_job_file_and_one_file_per_block(capsys, monkeypatch, job):
    args, src, out, _ = job
    state = interrupt(capsys, monkeypatch, args, out)
    saved = json.loads((state / "job.json").read_text(encoding="utf-8"))
    assert saved["version"] == STATE_VERSION
    assert saved["job"]["input_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert saved["job"]["chunk_lines"] == CHUNK and saved["job"]["blocks"] == 8 and saved["job"]["target"] == "fr"
    blocks = sorted(state.glob("block-*.json"))
    assert [p.name for p in blocks] == ["block-00000000.json", "block-00000001.json", "block-00000002.json"]
    first = json.loads(blocks[0].read_text(encoding="utf-8"))
    assert first["block"] == 0 and len(first["translations"]) == CHUNK


def test_a_local_job_resumes_blocks_saved_in_any_order(capsys, monkeypatch, job, model_dir):
    """Blocks 0 and 2 saved, 1 missing (a Ray job saves blocks as they finish), and block 5 saved by another
    writer of the format: --resume translates only 1, 3, 4, 6 and 7, and the output is the uninterrupted one."""
    args, src, out, expected = job
    state_dir = interrupt(capsys, monkeypatch, args, out)
    (state_dir / "block-00000001.json").unlink()
    state = ResumeState(out)
    block5 = job_lines(60)[5 * CHUNK:6 * CHUNK]
    state.save(5, Translator.from_pretrained(model_dir, progress=False).translate(block5, "en", "fr"))
    calls = Calls(monkeypatch)
    code, _, err = run(capsys, *args, "-o", str(out), "--resume")
    assert code == 0, err
    assert "resuming: 3 of 8 block(s) already translated" in err
    assert calls.texts == [CHUNK, CHUNK, CHUNK, CHUNK, 60 - 7 * CHUNK]  # blocks 1, 3, 4, 6, 7
    assert out.read_bytes() == expected
    assert not state_dir.exists()


def test_a_changed_input_or_setting_is_refused(capsys, monkeypatch, job):
    args, src, out, expected = job
    state = interrupt(capsys, monkeypatch, args, out)
    code, _, err = run(capsys, *[a if a != "fr" else "de" for a in args], "-o", str(out), "--resume")
    assert code == 1 and "cannot resume" in err and "different settings (target)" in err
    code, _, err = run(capsys, *[a if a != str(CHUNK) else "4" for a in args], "-o", str(out), "--resume")
    assert code == 1 and "chunk_lines" in err
    src.write_text(src.read_text(encoding="utf-8") + "one more line\n", encoding="utf-8")
    code, _, err = run(capsys, *args, "-o", str(out), "--resume")
    assert code == 1 and f"{src} changed since the interrupted run" in err
    assert state.is_dir()  # a refused resume keeps the state
    code, _, err = run(capsys, *args, "-o", str(out))  # without --resume: starts over
    assert code == 0 and "starting over" in err and not state.exists()


def _old_local_state(out: Path, src: Path, expected: bytes, model: str, lines: int, job: dict) -> None:
    """The state of m2m100 before the shared format: first `lines` lines done, their output in the partial."""
    prefix = b"".join(src.read_bytes().splitlines(keepends=True)[:lines])
    done = b"".join(expected.splitlines(keepends=True)[:lines])
    (out.parent / f".{out.name}.m2m100-partial").write_bytes(done + b"half a line")  # beyond output_bytes
    fingerprint = {"input": str(src.resolve()), "model": model, "source": "en", "target": "fr", "format": "text",
                   "field": "text", "output_field": "text", "column": None, "errors": "strict", "options": {},
                   "sentence_split": True, **job}
    (out.parent / f".{out.name}.m2m100-state.json").write_text(json.dumps({
        "version": 1, "job": fingerprint, "lines": lines, "input_bytes": len(prefix), "output_bytes": len(done),
        "input_sha256": hashlib.sha256(prefix).hexdigest()}), encoding="utf-8")


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_the_old_local_state_is_resumed(capsys, monkeypatch, tmp_path, model_dir, fmt):
    lines = job_lines(60)
    if fmt == "jsonl":
        src = tmp_path / "in.jsonl"
        src.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" if i % 13 != 4 else "\n"
                               for i, t in enumerate(lines)), encoding="utf-8")
        extra, job = ["--output-field", "fr"], {"format": "jsonl", "output_field": "fr"}
    else:
        src = tmp_path / "in.txt"
        src.write_text("\n".join(lines) + "\n", encoding="utf-8")
        extra, job = [], {}
    args = ["translate", "-m", str(model_dir), "-s", "en", "-t", "fr", "-i", str(src), "--chunk-lines", str(CHUNK),
            *extra]
    full, out = tmp_path / "full", tmp_path / "out"
    assert run(capsys, *args, "-o", str(full))[0] == 0
    expected = full.read_bytes()
    _old_local_state(out, src, expected, str(model_dir), 3 * CHUNK, job)
    calls = Calls(monkeypatch)
    code, _, err = run(capsys, *args, "-o", str(out), "--resume")
    assert code == 0, err
    assert "resuming after line 24" in err
    assert len(calls.texts) == 5  # blocks 3 to 7 only
    assert out.read_bytes() == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([src.name, "full", "out"])


def test_the_old_ray_state_is_resumed_by_a_local_job(capsys, monkeypatch, job):
    args, src, out, expected = job
    state = interrupt(capsys, monkeypatch, args, out)
    saved = json.loads((state / "job.json").read_text(encoding="utf-8"))
    old = out.parent / f".{out.name}.m2m100-ray"
    state.rename(old)
    (old / "job.json").write_text(json.dumps({"version": 1, "job": {**saved["job"], "engine": "ray"}}),
                                  encoding="utf-8")
    calls = Calls(monkeypatch)
    code, _, err = run(capsys, *args, "-o", str(out), "--resume")
    assert code == 0, err
    assert "resuming after line 24" in err and sum(calls.texts) == 60 - 24
    assert out.read_bytes() == expected and not old.exists() and not state.exists()
