"""Builders of test material that need no pytest: generated multilingual text, self-trained sentencepiece
models, tiny hub-layout checkpoints. tests/conftest.py re-exports them for the tests; .ci/tiny_model.py uses them
to build the local checkpoint CI translates with (without pytest installed).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("M2M100_DATA", REPO.parent / "shared" / "data"))

# Word lists in many scripts; sentences are random draws so the sentencepiece models see every script.
WORDS = {
    "latin": "the house is green and we walk to school every morning while birds sing über straße café niño "
             "été forêt ça l'école àçéèêëîïôûù ß å ø æ".split(),
    "cyrillic": "дом зелёный мы идём в школу каждое утро птицы поют привет мир язык книга".split(),
    "arabic": "البيت أخضر نحن نذهب إلى المدرسة كل صباح الطيور تغني مرحبا عالم".split(),
    "devanagari": "घर हरा है हम हर सुबह स्कूल जाते हैं पक्षी गाते नमस्ते दुनिया भाषा".split(),
    "cjk": "我们 每天 早上 去 学校 房子 是 绿色 的 鸟 唱歌 你好 世界 日本語 東京 ありがとう".split(),
    "thai": "บ้าน สี เขียว เรา ไป โรงเรียน ทุก เช้า นก ร้อง เพลง สวัสดี".split(),
    "ethiopic": "ቤቱ አረንጓዴ ነው እኛ በየቀኑ ጠዋት ወደ ትምህርት ቤት እንሄዳለን ሰላም".split(),
    "greek": "το σπίτι είναι πράσινο πηγαίνουμε στο σχολείο κάθε πρωί γεια κόσμε".split(),
    "hebrew": "הבית ירוק אנחנו הולכים לבית הספר כל בוקר שלום עולם".split(),
    "korean": "집은 초록색 입니다 우리는 매일 아침 학교에 갑니다 안녕하세요 세계".split(),
}


def make_corpus(n_sentences: int = 3000, seed: int = 0) -> list[str]:
    """Deterministic multilingual sentences, 3-15 words each, one script per sentence, some digits."""
    rng = random.Random(seed)
    scripts = sorted(WORDS)
    lines = []
    for i in range(n_sentences):
        words = WORDS[scripts[i % len(scripts)]]
        sent = " ".join(rng.choice(words) for _ in range(rng.randint(3, 15)))
        if rng.random() < 0.2:
            sent += f" {rng.randint(0, 9999)}"
        lines.append(sent + rng.choice([".", "!", "?", ""]))
    return lines


def train_sentencepiece(out_dir: Path, model_type: str = "bpe", vocab_size: int = 800, seed: int = 0) -> Path:
    """Train a small sentencepiece model the way fairseq's M2M100 one is laid out; return its path."""
    import sentencepiece as spm

    out_dir.mkdir(parents=True, exist_ok=True)
    corpus = out_dir / "corpus.txt"
    corpus.write_text("\n".join(make_corpus(seed=seed)) + "\n", encoding="utf-8")
    prefix = out_dir / f"spm_{model_type}"
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(prefix), model_type=model_type, vocab_size=vocab_size,
        character_coverage=1.0, num_threads=1, minloglevel=2,
    )
    return prefix.with_suffix(".model")


def write_vocab_json(spm_model: Path, out: Path, seed: int = 0, drop: int = 5) -> dict[str, int]:
    """A fairseq-style vocab.json: the four specials first, then the pieces in a shuffled order.

    The real M2M100 dictionary orders pieces by corpus frequency, not by sentencepiece id, and lacks some
    pieces; shuffling and dropping `drop` pieces makes tests exercise that mapping (dropped pieces -> <unk>).
    """
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(spm_model))
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    pieces = [p for p in pieces if p not in ("<unk>", "<s>", "</s>", "<pad>")]
    rng = random.Random(seed)
    rng.shuffle(pieces)
    pieces = pieces[drop:]
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for piece in pieces:
        vocab[piece] = len(vocab)
    out.write_text(json.dumps(vocab, ensure_ascii=False, indent=2), encoding="utf-8")
    return vocab


def write_tokenizer_files(directory: Path, spm_model: Path, seed: int = 0, language_codes: str = "m2m100") -> int:
    """Put sentencepiece.bpe.model, vocab.json and tokenizer_config.json in `directory`; return the model vocab size."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sentencepiece.bpe.model").write_bytes(spm_model.read_bytes())
    vocab = write_vocab_json(spm_model, directory / "vocab.json", seed=seed)
    n_langs = 100 if language_codes == "m2m100" else 8
    tokenizer_config = {
        "tokenizer_class": "M2M100Tokenizer",
        "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
        "src_lang": None, "tgt_lang": None, "language_codes": language_codes, "num_madeup_words": 8,
        "model_max_length": 1024,
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2), encoding="utf-8")
    # As on the hub: the language tokens are listed as additional special tokens.
    from m2m100.languages import FAIRSEQ_LANGUAGE_CODES

    special = {
        "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
        "additional_special_tokens": [f"__{c}__" for c in FAIRSEQ_LANGUAGE_CODES[language_codes]],
    }
    (directory / "special_tokens_map.json").write_text(json.dumps(special, indent=2), encoding="utf-8")
    return len(vocab) + n_langs + 8


TINY = dict(
    d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
    encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128, dropout=0.0, attention_dropout=0.0,
    encoder_layerdrop=0.0, decoder_layerdrop=0.0,
)


def random_state_init(model: torch.nn.Module, seed: int, std: float = 0.5) -> None:
    """Large random weights (including layer norms and biases) so that bugs show up as big differences."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in sorted(model.named_parameters()):
            if name.endswith("layer_norm.weight"):
                param.copy_(1.0 + 0.2 * torch.randn(param.shape, generator=gen))
            else:
                param.copy_(std * torch.randn(param.shape, generator=gen) / max(1, param.shape[-1]) ** 0.25)


def save_random_model(directory: Path, config: dict, seed: int = 0, std: float = 0.3, eos_boost: float = 1.0) -> Path:
    """A model-only checkpoint (config.json + model.safetensors) with large random weights.

    eos_boost > 1 scales the </s> embedding row (tied to the output projection) so that generation ends early for
    some rows and outputs get varied lengths.
    """
    from m2m100 import M2M100Config, M2M100ForConditionalGeneration

    torch.manual_seed(seed)
    model = M2M100ForConditionalGeneration(M2M100Config(**config))
    random_state_init(model, seed, std=std)
    with torch.no_grad():
        model.model.shared.weight[2] *= eos_boost
    model.save_pretrained(directory)
    return directory


def greedy_generation(max_length: int) -> dict:
    """A generation_config.json for the tiny checkpoints: greedy, `max_length` tokens, M2M100's special ids."""
    return {"max_length": max_length, "num_beams": 1, "decoder_start_token_id": 2, "bos_token_id": 0,
            "eos_token_id": 2, "pad_token_id": 1}


def build_checkpoint(directory: Path, spm_model: Path, seed: int = 0, generation: dict | None = None,
                     **config_overrides) -> Path:
    """A complete hub-layout checkpoint (config, safetensors, tokenizer files) written by our own code, with
    `generation` as its generation_config.json when given."""
    from m2m100 import M2M100Config, M2M100ForConditionalGeneration

    vocab_size = write_tokenizer_files(directory, spm_model, seed=seed)
    config = M2M100Config(**{**TINY, "vocab_size": vocab_size, **config_overrides})
    torch.manual_seed(seed)
    model = M2M100ForConditionalGeneration(config)
    random_state_init(model, seed)
    model.save_pretrained(directory)
    if generation is not None:
        (directory / "generation_config.json").write_text(json.dumps(generation), encoding="utf-8")
    return directory


def write_nllb_tokenizer(directory: Path, spm_model: Path) -> int:
    """An NLLB-200-layout tokenizer directory built by transformers (the oracle) from `spm_model`; returns its
    length (sentencepiece size + 1 + 202 codes + <mask>).

    transformers 5.x builds an NLLB tokenizer from a bare sentencepiece file only with the 202 codes passed as
    additional_special_tokens, and then numbers `<mask>` before the codes; hub checkpoints (and fairseq) put
    the codes at size + 1 ... size + 202 and `<mask>` after them. The saved tokenizer.json is renumbered into
    the hub layout, which both of transformers' NLLB classes and ours then load.
    """
    import shutil

    import sentencepiece as spm
    from transformers import NllbTokenizer

    from m2m100.languages_nllb import NLLB_LANGUAGE_CODES

    size = spm.SentencePieceProcessor(model_file=str(spm_model)).get_piece_size()
    raw, converted = directory / "_spm_only", directory / "_converted"
    raw.mkdir(parents=True)
    shutil.copy(spm_model, raw / "sentencepiece.bpe.model")
    NllbTokenizer.from_pretrained(str(raw), additional_special_tokens=list(NLLB_LANGUAGE_CODES)).save_pretrained(
        str(converted))
    remap = {size + 2 + i: size + 1 + i for i in range(len(NLLB_LANGUAGE_CODES))}
    remap[size + 1] = size + 1 + len(NLLB_LANGUAGE_CODES)  # <mask>

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("ids"), list):
                node["ids"] = [remap.get(i, i) for i in node["ids"]]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    data = json.loads((converted / "tokenizer.json").read_text(encoding="utf-8"))
    for token in data["added_tokens"]:
        token["id"] = remap.get(token["id"], token["id"])
    data["added_tokens"].sort(key=lambda token: token["id"])
    walk(data["post_processor"])
    (directory / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    config = json.loads((converted / "tokenizer_config.json").read_text(encoding="utf-8"))
    if isinstance(config.get("added_tokens_decoder"), dict):
        config["added_tokens_decoder"] = {str(remap.get(int(k), int(k))): v
                                          for k, v in config["added_tokens_decoder"].items()}
    (directory / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    shutil.copy(spm_model, directory / "sentencepiece.bpe.model")
    shutil.rmtree(raw)
    shutil.rmtree(converted)
    return size + 2 + len(NLLB_LANGUAGE_CODES)


NLLB_TINY = dict(
    d_model=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
    encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64, dropout=0.0, attention_dropout=0.0,
    activation_dropout=0.0, encoder_layerdrop=0.0, decoder_layerdrop=0.0, scale_embedding=True,
    pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
)


def build_nllb_checkpoint(directory: Path, spm_model: Path, seed: int = 0, extra_rows: int = 2,
                          **config_overrides) -> Path:
    """A random NLLB-200-layout checkpoint saved by transformers: the tokenizer of write_nllb_tokenizer and an
    M2M100ForConditionalGeneration whose embedding matrix has `extra_rows` more rows than the tokenizer has
    tokens (hub NLLB-200: 256,206 rows for 256,204 tokens), unless vocab_size is given."""
    import transformers

    size = write_nllb_tokenizer(directory, spm_model)
    config = transformers.M2M100Config(**{**NLLB_TINY, "vocab_size": size + extra_rows, **config_overrides})
    torch.manual_seed(seed)
    model = transformers.M2M100ForConditionalGeneration(config)
    random_state_init(model, seed)
    model.save_pretrained(directory)
    return directory
