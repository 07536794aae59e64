"""Ray integration (issue #15): Ray Data map_batches, `m2m100 translate --ray`, resumable blocks, Ray Serve.

One local Ray instance (2 CPUs, no dashboard) for the whole module, a tiny greedy checkpoint; Ray is shut
down at the end. Skipped, with the reason, when ray[data,serve] is not installed.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray", reason='the Ray integration needs ray[data,serve] (pip install "m2m100[ray]")')
pytest.importorskip("ray.data", reason='the Ray integration needs ray[data] (pip install "m2m100[ray]")')
pytest.importorskip("ray.serve", reason='the Ray integration needs ray[serve] (pip install "m2m100[ray]")')
pytest.importorskip("pyarrow", reason="Ray Data needs pyarrow")
httpx = pytest.importorskip("httpx", reason="the Serve test needs httpx (pip install -e '.[dev]')")

import ray  # noqa: E402

from conftest import build_checkpoint, greedy_generation, make_corpus  # noqa: E402
from m2m100 import cli  # noqa: E402
from m2m100.integrations.ray import TranslateBatch, translate_dataset  # noqa: E402
from m2m100.translate import Translator  # noqa: E402

GENERATION = greedy_generation(12)
TARGETS = ["fr", "de", "ja"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, spm_bpe) -> Path:
    directory = tmp_path_factory.mktemp("ray_ckpt")
    build_checkpoint(directory, spm_bpe, seed=7, generation=GENERATION)
    return directory


@pytest.fixture(scope="module")
def reference(model_dir) -> Translator:
    return Translator.from_pretrained(model_dir, device="cpu", progress=False)


@pytest.fixture(scope="module", autouse=True)
def ray_instance():
    """One local Ray for the module. Test-module functions given to actors are pickled by value (the
    workers cannot import this file)."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    yield
    try:
        from ray import serve

        serve.shutdown()
    finally:
        ray.shutdown()


@pytest.fixture(autouse=True)
def _no_env_model(monkeypatch):
    monkeypatch.delenv("M2M100_MODEL", raising=False)


def lines(n: int, seed: int = 3) -> list[str]:
    """Numbered sentences (the number tells which block a text came from), blank and letterless lines mixed in."""
    corpus = make_corpus(n, seed=seed)
    out = []
    for i, text in enumerate(corpus):
        out.append("" if i % 17 == 5 else "😀 2024" if i % 23 == 7 else f"{i} {text}")
    return out


# ------------------------------------------------------------------------------------------------------
# Ray Data: TranslateBatch
# ------------------------------------------------------------------------------------------------------
def test_translate_batch_formats_nulls_and_bad_cells(model_dir, reference):
    """The callable itself, in this process: numpy dict, pandas and pyarrow batches; None stays None."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    texts = ["the house is green.", None, "", "we walk to school."]
    udf = TranslateBatch(str(model_dir), source="English", target="fr")
    expected = reference.translate([t for t in texts if t is not None], "en", "fr")
    expected = [expected[0], None, expected[1], expected[2]]
    numpy_out = udf({"text": np.array(texts, dtype=object), "id": np.arange(4)})
    assert list(numpy_out["translation"]) == expected and list(numpy_out["id"]) == [0, 1, 2, 3]
    pandas_out = udf(pd.DataFrame({"text": texts}))
    assert [None if v is None else v for v in pandas_out["translation"]] == expected
    arrow_out = udf(pa.table({"text": texts}))
    assert arrow_out.column("translation").to_pylist() == expected
    with pytest.raises(TypeError, match=r"column 'text', row 1"):
        udf({"text": np.array(["ok", b"bytes"], dtype=object)})
    with pytest.raises(KeyError, match="no column 'body'"):
        TranslateBatch(str(model_dir), source="en", target="fr", column="body")({"text": np.array(["x"])})
    with pytest.raises(ValueError, match="exactly one of source"):
        TranslateBatch(str(model_dir), target="fr")
    with pytest.raises(Exception, match="zz"):
        TranslateBatch(str(model_dir), source="zz", target="fr")
    # source="auto": detected per text, exactly what the Translator gives for "auto"
    mixed = ["the house is green and we walk to school every morning.", "дом зелёный мы идём в школу каждое утро."]
    auto = TranslateBatch(str(model_dir), source="auto", target="fr")({"text": np.array(mixed, dtype=object)})
    assert list(auto["translation"]) == reference.translate(mixed, "auto", "fr")


def test_map_batches_gives_the_translator_outputs_in_order(model_dir, reference):
    texts = lines(300)
    targets = [TARGETS[i % 3] for i in range(len(texts))]  # per-row target column
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    try:
        ds = ray.data.from_items([{"text": t, "tgt": g} for t, g in zip(texts, targets)], override_num_blocks=6)
        out = translate_dataset(ds, str(model_dir), source="en", target_column="tgt", concurrency=1, num_cpus=1,
                                batch_size=64).take_all()
    finally:
        context.execution_options.preserve_order = False
    assert [row["text"] for row in out] == texts  # order kept, input columns kept
    assert [row["translation"] for row in out] == reference.translate(texts, "en", targets)


# ------------------------------------------------------------------------------------------------------
# m2m100 translate --ray
# ------------------------------------------------------------------------------------------------------
def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_ray_writes_the_local_file(capsys, tmp_path, model_dir):
    """JSONL with --output-field, blank lines, a BOM and CRLF (text files: the resume test below)."""
    rows = [json.dumps({"id": i, "text": t, "keep": [i]}, ensure_ascii=False) if i % 9 else ""
            for i, t in enumerate(lines(120, seed=5))]
    (tmp_path / "in.jsonl").write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n").encode("utf-8"))
    for name, extra in (("in.jsonl", ["--output-field", "fr"]),):
        common = ["translate", "-m", str(model_dir), "-s", "en", "-t", "fr", "-i", str(tmp_path / name),
                  "--chunk-lines", "32", "-q", *extra]
        code, _, err = run_cli(capsys, *common, "-o", str(tmp_path / f"local.{name}"))
        assert code == 0, err
        code, _, err = run_cli(capsys, *common, "-o", str(tmp_path / f"ray.{name}"), "--ray", "--ray-actors", "1")
        assert code == 0, err
        assert (tmp_path / f"ray.{name}").read_bytes() == (tmp_path / f"local.{name}").read_bytes()
        assert not (tmp_path / f".ray.{name}.m2m100-resume").exists()  # block state removed once written


def test_cli_ray_parquet(capsys, tmp_path, model_dir, reference):
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = lines(90)
    column = [None if i % 10 == 3 else t for i, t in enumerate(texts)]
    pq.write_table(pa.table({"id": list(range(90)), "text": column}), tmp_path / "in.parquet", row_group_size=40)
    code, _, err = run_cli(capsys, "translate", "-m", str(model_dir), "-s", "en", "-t", "de", "-q", "--ray",
                           "--ray-actors", "1", "-i", str(tmp_path / "in.parquet"), "-o", str(tmp_path / "out.parquet"),
                           "--output-field", "de", "--chunk-lines", "25")
    assert code == 0, err
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column_names == ["id", "text", "de"]
    assert table.column("text").to_pylist() == column and table.column("id").to_pylist() == list(range(90))
    expected = iter(reference.translate([t for t in column if t is not None], "en", "de"))
    assert table.column("de").to_pylist() == [None if t is None else next(expected) for t in column]


class CountingFactory:
    """Loads the Translator like the CLI, and records the first text of every block it translates in `marker`.
    While `poison` exists, the block starting with `poisoned` waits (a job stuck there can be killed), then
    fails as a crashed worker would."""

    def __init__(self, model: str, marker: str, poison: str, poisoned: str):
        self.model, self.marker, self.poison, self.poisoned = model, marker, poison, poisoned

    def __call__(self) -> Translator:
        import time

        translator = Translator.from_pretrained(self.model, progress=False)
        original = translator.translate
        marker, poison, poisoned = self.marker, self.poison, self.poisoned

        def translate(texts, *args, **kwargs):
            if texts and texts[0] == poisoned and os.path.exists(poison):
                while os.path.exists(poison):
                    time.sleep(0.1)
                raise RuntimeError("worker crashed (test)")
            with open(marker, "a", encoding="utf-8") as handle:
                handle.write(texts[0] + "\n")
            return original(texts, *args, **kwargs)

        translator.translate = translate
        return translator


KILLED_JOB = """
import sys, ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
import test_ray
ray.cloudpickle.register_pickle_by_value(test_ray)
from m2m100 import cli
from m2m100.cli import ray as cli_ray
argv = sys.argv[6:]
cli_ray.run(cli.build_parser(argv).parse_args(argv), translator_factory=test_ray.CountingFactory(*sys.argv[2:6]))
"""


def test_cli_ray_killed_job_resumes_without_redoing_finished_blocks(capsys, tmp_path, model_dir):
    """A `--ray` job whose driver is killed (SIGKILL) while block 3 of 5 is stuck: the finished blocks are saved,
    `--resume` translates only the others (counted by the marker), and the output is the local command's."""
    import signal
    import subprocess
    import time

    from m2m100.cli import ray as cli_ray

    texts = [f"{i} {t}" for i, t in enumerate(make_corpus(160, seed=9))]  # every line translated, 5 blocks of 32
    (tmp_path / "in.txt").write_bytes(("\ufeff" + "\r\n".join(texts) + "\r\n").encode("utf-8"))  # BOM, CRLF
    out = tmp_path / "out.txt"
    argv = ["translate", "-m", str(model_dir), "-s", "en", "-t", "fr", "-i", str(tmp_path / "in.txt"), "-o",
            str(out), "--chunk-lines", "32", "-q", "--ray", "--ray-actors", "1"]
    marker, poison = tmp_path / "marker.txt", tmp_path / "poison"
    poison.touch()
    factory_args = [str(model_dir), str(marker), str(poison), texts[3 * 32]]  # block 3 hangs
    state = tmp_path / ".out.txt.m2m100-resume"
    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here), str(here.parent / "src")]),
           "OMP_NUM_THREADS": "1"}
    address = ray.get_runtime_context().gcs_address
    log = open(tmp_path / "job.log", "wb")  # a file, not a pipe: a full pipe would stall the job
    job = subprocess.Popen([sys.executable, "-c", KILLED_JOB, address, *factory_args, *argv], env=env,
                           stdout=log, stderr=subprocess.STDOUT)
    try:
        # Wait until every block but 3 is saved, or (an actor running its tasks strictly in order) 0-2 are
        # saved and nothing more comes for 5 s: block 3 is then stuck in the translator.
        deadline, count, since = time.monotonic() + 120, 0, time.monotonic()
        while job.poll() is None and time.monotonic() < deadline and count < 4:
            time.sleep(0.2)
            now = len(list(state.glob("block-*.json")))
            if now != count:
                count, since = now, time.monotonic()
            elif count >= 3 and time.monotonic() - since > 5:
                break
        assert job.poll() is None, (tmp_path / "job.log").read_text(errors="replace")[-3000:]
    finally:
        job.send_signal(signal.SIGKILL)
        job.wait()
        log.close()
    poison.unlink()
    assert not out.exists()  # complete or not at all
    saved = sorted(int(p.stem.split("-")[1]) for p in state.glob("block-*.json"))
    assert {0, 1, 2} <= set(saved) and 3 not in saved, saved
    first = [int(line.split()[0]) // 32 for line in marker.read_text(encoding="utf-8").split("\n") if line]
    assert sorted(first) == saved  # every translated block reached the driver and was saved
    marker.unlink()

    args = cli.build_parser([*argv, "--resume"]).parse_args([*argv, "--resume"])
    assert cli_ray.run(args, translator_factory=CountingFactory(*factory_args)) == 0
    again = [int(line.split()[0]) // 32 for line in marker.read_text(encoding="utf-8").split("\n") if line]
    assert sorted(again) == sorted(set(range(5)) - set(saved))  # only the missing blocks, each once
    code, _, err = run_cli(capsys, *argv[:-3], "-o", str(tmp_path / "local.txt"))
    assert code == 0, err
    assert out.read_bytes() == (tmp_path / "local.txt").read_bytes()
    assert not state.exists()


def test_failed_ray_job_is_one_line_naming_the_error():
    """Ray hands the worker's error over as traceback text; the CLI reports its `Name: message` line."""
    from m2m100.cli.ray import describe_ray_error as _describe

    remote = ("\x1b[36mray::MapWorker(MapBatches(TranslateBlocks)).submit()\x1b[39m (pid=1)\n"
              '  File "x.py", line 3, in translate\n    raise RuntimeError("worker crashed")\n'
              "m2m100.errors.CheckpointError: checkpoint directory not found: /nowhere\n\n"
              "The above exception was the direct cause of the following exception:\n\n"
              "ray.exceptions.UserCodeException: UDF failed to process a data block.")
    assert _describe(RuntimeError(remote)) == "CheckpointError: checkpoint directory not found: /nowhere"
    assert _describe(ValueError("plain")) == "ValueError: plain"


def test_cli_ray_usage_and_resume_errors(capsys, tmp_path, model_dir):
    (tmp_path / "in.txt").write_text("a\nb\n", encoding="utf-8")
    base = ["translate", "-m", str(model_dir), "-s", "en", "-t", "fr", "-q"]
    code, _, err = run_cli(capsys, *base, "--ray", "-i", str(tmp_path / "in.txt"))
    assert code == 2 and "--ray needs --input FILE and --output FILE" in err
    code, _, err = run_cli(capsys, *base, "-i", str(tmp_path / "x.parquet"), "-o", str(tmp_path / "y.parquet"))
    assert code == 2 and "Parquet input needs --ray" in err
    code, _, err = run_cli(capsys, *base, "--ray", "-i", str(tmp_path / "in.txt"), "-o", str(tmp_path / "o"),
                           "--ray-actors", "0")
    assert code == 2 and "--ray-actors must be a positive integer" in err
    code, _, err = run_cli(capsys, "translate", "-m", str(model_dir), "-s", "en", "-t", "zz", "--ray", "-i",
                           str(tmp_path / "in.txt"), "-o", str(tmp_path / "o"))
    assert code == 2 and "zz" in err
    # an interrupted job's state with other settings: --resume refuses, naming what changed
    state = tmp_path / ".o.txt.m2m100-resume"
    state.mkdir()
    (state / "job.json").write_text(json.dumps({"version": 2, "job": {"target": "de"}}), encoding="utf-8")
    code, _, err = run_cli(capsys, *base, "--ray", "-i", str(tmp_path / "in.txt"), "-o", str(tmp_path / "o.txt"),
                           "--resume")
    assert code == 1 and "cannot resume" in err and "target" in err


# ------------------------------------------------------------------------------------------------------
# Ray Serve
# ------------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_deployment_answers_like_the_single_process_server(model_dir):
    from fastapi.testclient import TestClient
    from ray import serve

    from m2m100.integrations.ray_serve import build_app
    from m2m100.server import ServerSettings, create_app

    args = {"model": str(model_dir), "threads": 1, "max_texts": 8, "max_chars": 500, "num_cpus": 1}
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app(args), name="m2m100", route_prefix="/")
    requests = [
        ("GET", "/languages", None),
        ("POST", "/translate", {"q": "the house is green.", "source": "en", "target": "fr"}),
        ("POST", "/translate", {"q": ["we walk to school.", "", "дом зелёный"], "source": "English", "target": "de"}),
        ("POST", "/translate", {"q": "hello", "source": "en", "target": "zz"}),  # unknown language
        ("POST", "/translate", {"q": ["x"] * 9, "source": "en", "target": "fr"}),  # over max_texts
        ("POST", "/translate", {"q": 42, "source": "en", "target": "fr"}),  # not a string
    ]
    settings = ServerSettings.from_sources({k: v for k, v in args.items() if k != "num_cpus"}, environ={})
    with TestClient(create_app(settings)) as local, httpx.Client(base_url=f"http://127.0.0.1:{port}",
                                                                 timeout=60.0) as remote:
        for _ in range(300):  # the single-process server loads its model in the background
            if local.get("/health").status_code == 200:
                break
            import time

            time.sleep(0.1)
        for method, path, body in requests:
            want = local.request(method, path, json=body)
            got = remote.request(method, path, json=body)
            assert (got.status_code, got.json()) == (want.status_code, want.json()), (path, body)
        codes = [remote.request(m, p, json=b).status_code for m, p, b in requests]
        assert codes[:3] == [200, 200, 200] and all(400 <= c < 500 for c in codes[3:])
        assert remote.get("/health").status_code == 200
    serve.delete("m2m100")
