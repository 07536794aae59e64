"""Benchmark helpers: the random 418M-architecture checkpoints (plain, and edited to end sentences), timing, memory."""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = Path(os.environ.get("M2M100_BENCH_DIR", REPO / "bench" / "out"))
DATA = Path(os.environ.get("M2M100_DATA", REPO.parent / "shared" / "data"))


def build_418m(directory: Path | None = None, seed: int = 0) -> Path:
    """A facebook/m2m100_418M-shaped checkpoint with random weights (hub layout), built once and reused."""
    import torch

    sys.path.insert(0, str(REPO / "tests"))
    from m2m100 import M2M100Config, M2M100ForConditionalGeneration

    directory = Path(directory or OUT / "m2m100_418M_random")
    if (directory / "model.safetensors").exists():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = M2M100ForConditionalGeneration(M2M100Config())
    model.save_pretrained(directory)
    del model
    gc.collect()
    return directory


# FLORES-200 devtest files whose text trains make_text_tokenizer_files' sentencepiece model (load_server's targets)
TOKENIZER_TEXT = ("eng_Latn", "fra_Latn", "deu_Latn", "spa_Latn", "rus_Cyrl", "zho_Hans")


def make_text_tokenizer_files(directory: Path, vocab_size: int = 8000) -> bool:
    """Give a bench checkpoint a tokenizer that splits real sentences about as m2m100_418M's does.

    bench_generate's tokenizer is trained on the tests' synthetic corpus: it cuts an English sentence into near
    characters (a 25-word sentence becomes ~110 tokens, ~3x the real model's), so a server benchmark would spend
    most of its time in the encoder. This one is a BPE model trained on the FLORES-200 devtest text of
    TOKENIZER_TEXT (about 1.3 tokens per English word), its pieces padded with fillers to the same 128,004
    entries. Needs the shared data (M2M100_DATA); without it the checkpoint keeps its tokenizer and this returns
    False. Idempotent: tokenizer_config.json records `bench_tokenizer`.
    """
    import sentencepiece as spm_lib

    config_path = directory / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.exists() else {}
    if config.get("bench_tokenizer") == "flores":
        return True
    files = [DATA / "flores200-devtest" / "plain" / f"{code}.devtest" for code in TOKENIZER_TEXT]
    if not all(f.exists() for f in files):
        print(f"make_text_tokenizer_files: no FLORES text under {DATA}; keeping the synthetic tokenizer")
        return False
    sys.path.insert(0, str(REPO / "tests"))
    from builders import write_vocab_json

    work = OUT / "spm_flores"
    work.mkdir(parents=True, exist_ok=True)
    spm_lib.SentencePieceTrainer.train(
        input=",".join(str(f) for f in files), model_prefix=str(work / "spm_flores"), model_type="bpe",
        vocab_size=vocab_size, character_coverage=0.9995, num_threads=1, minloglevel=2,
    )
    model_file = work / "spm_flores.model"
    vocab = write_vocab_json(model_file, directory / "vocab.json", drop=0)
    for i in range(128004 - len(vocab)):
        vocab[f"▁filler{i}"] = len(vocab)
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (directory / "sentencepiece.bpe.model").write_bytes(model_file.read_bytes())
    config_path.write_text(json.dumps({**config, "bench_tokenizer": "flores"}), encoding="utf-8")
    return True


def build_418m_eos(directory: Path | None = None, seed: int = 0) -> Path:
    """build_418m's checkpoint with its random weights edited (end_after_marked_tokens) so that greedy decoding
    ends after a varied number of tokens; same architecture, files and compute per step. Built once and reused.

    A stand-in for a trained model's natural output lengths, not a translation model: its output is a stream of
    pseudo-random tokens. Measured with greedy search, max_new_tokens 40, on 10 load_server sentences and chat
    lines x 5 targets: tokens before </s> from 2 to 40 (the cap), median 11.5 / mean 15.6 / 18% at the cap in
    float32, median 8 / mean 14.1 / 12% at the cap with quantize="int8".
    """
    import shutil

    from m2m100 import M2M100ForConditionalGeneration

    directory = Path(directory or OUT / "m2m100_418M_eos")
    if (directory / "model.safetensors").exists():
        make_text_tokenizer_files(directory)  # a checkpoint built before the real-text tokenizer existed
        return directory
    source = build_418m()
    if not (source / "vocab.json").exists():
        from bench_generate import make_tokenizer_files

        make_tokenizer_files(source)
    model = M2M100ForConditionalGeneration.from_pretrained(source).eval()
    end_after_marked_tokens(model, seed=seed)
    partial = directory.with_name(directory.name + ".partial")  # a killed build leaves no half checkpoint
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    for name in ("vocab.json", "sentencepiece.bpe.model", "tokenizer_config.json", "special_tokens_map.json"):
        if (source / name).exists():
            shutil.copyfile(source / name, partial / name)
    make_text_tokenizer_files(partial)
    del model
    gc.collect()
    shutil.rmtree(directory, ignore_errors=True)
    partial.rename(directory)
    return directory


# Greedy decoding of random weights never ends: the decoder's last state is mostly the embedding of the token it
# was just fed (the residual stream starts with it), and with the output projection tied to the embedding that
# token gets the top logit: after the forced language token the model says `__fr__ __fr__ ...` up to
# max_new_tokens, and every row of a batch takes the same number of steps. end_after_marked_tokens edits:
#   1. the final layer norm's gain changes sign on a random half of the coordinates, so the fed token's own
#      embedding meets every output row (itself included) with a random sign: the next token becomes a
#      pseudo-random function of the fed token, its position, the earlier tokens and the source, and greedy
#      search wanders through the vocabulary instead of repeating itself;
#   2. a direction u inside the unflipped half is reserved for "the token just fed was marked": u is orthogonal to
#      every sinusoidal position (the table has rank ~240 in 1024 dimensions) and to the all-ones vector (the
#      layer norms' mean subtraction leaves it alone), and every decoder sub-layer's output (self-attention,
#      cross-attention, FFN) is projected off it, so along u the last state holds only the fed token's embedding;
#   3. a random 1/`every` of the ordinary tokens gets +`marker` * u in its embedding row (the others none), and
#      the </s> row becomes `eos_gain` * u: the </s> logit is large right after a marked token, 0 otherwise;
#   4. (`balance`) each embedding row is rescaled to equal energy in both halves, so that a token's own
#      embedding adds exactly nothing to its own logit: without it, tokens whose energy sits in the unflipped
#      half still repeat (23% of the 418M's tokens were back-to-back repeats, 7% with it).
# Sequences therefore stop one step after their first marked token: lengths roughly geometric (mean ~`every`),
# different per source sentence and target language; int8's per-row scales keep the marker (u is spread over
# 512 coordinates). Weights change, shapes and compute do not.


def reserved_direction(dim: int, positions: int, padding_idx: int | None, support, seed: int = 0):
    """A unit vector (float32, `dim`), zero outside the coordinates `support` (bool, `dim`), orthogonal to every
    row of the (positions, dim) sinusoidal table and to the all-ones vector. ValueError if none exists."""
    import torch

    from m2m100.model import sinusoid_table

    table = sinusoid_table(positions, dim, padding_idx).double()[:, support]
    rows = torch.cat([table, torch.ones(1, table.shape[1], dtype=torch.float64)])
    _, singular, vh = torch.linalg.svd(rows, full_matrices=True)
    rank = int((singular > singular[0] * 1e-6).sum())
    if rank >= table.shape[1]:
        raise ValueError(f"positions span all {table.shape[1]} coordinates: no direction is free of them")
    null = vh[rank:]  # orthonormal rows, orthogonal to the positions and to ones
    u = torch.zeros(dim, dtype=torch.float64)
    u[support] = torch.randn(null.shape[0], generator=torch.Generator().manual_seed(seed), dtype=torch.float64) @ null
    return (u / u.norm()).float()


def end_after_marked_tokens(model, every: int = 15, marker: float = 1.0, eos_gain: float = 4.0,
                            balance: bool = True, seed: int = 0):
    """Edit a float M2M100ForConditionalGeneration in place (see the comment above) so that greedy decoding emits
    </s> right after a random 1/`every` of the ordinary tokens (ids 4 .. vocab_size - 109; the specials and the
    100 language + 8 made-up tokens at the end are never marked). Returns the marked ids (1-D tensor).
    ValueError when the positions leave no free direction (d_model too small for max_position_embeddings)."""
    import torch

    config = model.config
    d = config.d_model
    gen = torch.Generator().manual_seed(seed)
    signs = torch.ones(d)
    signs[torch.randperm(d, generator=gen)[: d // 2]] = -1.0
    u = reserved_direction(d, config.max_position_embeddings + config.pad_token_id + 1, config.pad_token_id,
                           signs > 0, seed)
    with torch.no_grad():
        for layer in model.model.decoder.layers:
            for linear in (layer.self_attn.out_proj, layer.encoder_attn.out_proj, layer.fc2):
                linear.weight.sub_(torch.outer(u, u @ linear.weight))  # (I - u u^T) W: outputs lose their u part
                linear.bias.sub_(u * (u @ linear.bias))
        model.model.decoder.layer_norm.weight.mul_(signs)
        embedding = model.model.shared.weight  # (vocab, d_model), also the lm_head
        embedding.sub_(torch.outer(embedding @ u, u))
        if balance:  # each row: as much energy in the flipped half as in the other, so that e D e^T = 0
            flipped = signs < 0
            half_norms = torch.stack([embedding[:, ~flipped].norm(dim=1), embedding[:, flipped].norm(dim=1)], 1)
            target = half_norms.norm(dim=1, keepdim=True) / 2 ** 0.5
            scale = target / half_norms.clamp_min(1e-12)  # (vocab, 2)
            embedding[:, ~flipped] *= scale[:, :1]
            embedding[:, flipped] *= scale[:, 1:]
        first, last = 4, config.vocab_size - 108  # after the 4 specials, before 100 languages + 8 made-up words
        marked = first + torch.nonzero(torch.rand(last - first, generator=gen) < 1 / every).flatten()
        embedding[marked] += marker * u
        embedding[config.eos_token_id] = eos_gain * u
    return marked


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB.

    VmHWM (this address space's high-water mark) rather than getrusage's ru_maxrss: Linux carries ru_maxrss
    across fork and exec, so an engine started from a large benchmark process reported the parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# The instruction sets that decide which CPU kernels run (oneDNN / fbgemm pick theirs at run time).
ISA_FLAGS = {
    "avx2": "AVX2", "fma": "FMA", "avx512f": "AVX-512", "avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI",
    "avx512_bf16": "AVX-512 BF16", "amx_tile": "AMX", "amx_bf16": "AMX-BF16", "amx_int8": "AMX-INT8",
}


def cpu_model_and_isa() -> tuple[str, list[str]]:
    """(CPU model name, the ISA extensions of ISA_FLAGS it has), read from /proc/cpuinfo (Linux)."""
    import platform

    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return model, [name for flag, name in ISA_FLAGS.items() if flag in flags]


def machine() -> str:
    """One line for a benchmark's header: CPU model, ISA, cores, torch version."""
    import torch

    model, isa = cpu_model_and_isa()
    return (f"{model} [{', '.join(isa) or 'no AVX2'}], {os.cpu_count()} cores, torch {torch.__version__}, "
            f"oneDNN bf16 {'yes' if torch.ops.mkldnn._is_mkldnn_bf16_supported() else 'no'}")
