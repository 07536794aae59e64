"""Quality of the opt-in int8, bf16 and prepacked modes against fp32, on real text through a trained model.

    python bench/quality_quantized.py [--model bench/out/multi30k_en_de] [--limit 500]

Teacher forcing on Multi30k test_2016_flickr (en->de, the reference translation as decoder input): for every
target position, does the quantized model's top-1 token equal fp32's? Also the mean absolute difference of the
log-probabilities, and test BLEU of each mode through the Translator (greedy), so the loss is visible end to end.
The model is the one `bench/train_multi30k.py` writes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, OUT  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=OUT / "multi30k_en_de")
    parser.add_argument("--limit", type=int, default=500, help="test sentences to use (default 500)")
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()

    import sacrebleu

    from m2m100 import M2M100ForConditionalGeneration, M2M100Tokenizer, Translator

    src = (DATA / "multi30k" / "test_2016_flickr.en").read_text(encoding="utf-8").splitlines()[: args.limit]
    ref = (DATA / "multi30k" / "test_2016_flickr.de").read_text(encoding="utf-8").splitlines()[: args.limit]
    tokenizer = M2M100Tokenizer.from_pretrained(args.model, src_lang="en", tgt_lang="de")
    modes = {  # fp32 (plain weights) is the reference; prepack is stated explicitly (the Translator's default is on)
        "fp32": dict(prepack=False),
        "fp32 prepack": dict(prepack=True),
        "int8": dict(quantize="int8"),
        "bf16": dict(dtype=torch.bfloat16, prepack=False),
        "bf16 prepack": dict(dtype=torch.bfloat16, prepack=True),
    }
    from m2m100.packed import cpu_has_native_bf16

    if not cpu_has_native_bf16():  # prepacked bf16 needs AVX-512 BF16 / AMX (a ConfigError otherwise); bf16 is emulated
        print("this CPU has no bfloat16 instructions: 'bf16 prepack' skipped, 'bf16' runs emulated")
        del modes["bf16 prepack"]
    models = {name: M2M100ForConditionalGeneration.from_pretrained(args.model, **kw) for name, kw in modes.items()}

    agree = {name: 0 for name in modes if name != "fp32"}
    logp_diff = {name: 0.0 for name in agree}
    positions = 0
    with torch.inference_mode():
        for start in range(0, len(src), args.batch):
            enc = tokenizer(src[start:start + args.batch], text_target=ref[start:start + args.batch],
                            padding=True, return_tensors="pt")
            labels = enc.pop("labels")
            mask = labels != tokenizer.pad_token_id
            labels = labels.masked_fill(~mask, -100)
            logp = {name: torch.log_softmax(m(**enc, labels=labels).logits.float(), -1) for name, m in models.items()}
            top = {name: lp.argmax(-1) for name, lp in logp.items()}
            positions += int(mask.sum())
            for name in agree:
                agree[name] += int(((top[name] == top["fp32"]) & mask).sum())
                logp_diff[name] += float((logp[name] - logp["fp32"]).abs().amax(-1)[mask].sum())

    bleu = {}
    for name, kw in modes.items():
        translator = Translator.from_pretrained(args.model, device="cpu", progress=False, **kw)
        hyps = translator.translate(src, "en", "de", num_beams=1)
        bleu[name] = round(sacrebleu.corpus_bleu(hyps, [ref]).score, 2)

    result = {
        "sentences": len(src),
        "target_positions": positions,
        "top1_agreement_with_fp32": {n: round(agree[n] / positions, 4) for n in agree},
        "mean_max_abs_logprob_diff": {n: round(logp_diff[n] / positions, 4) for n in agree},
        "greedy_test_bleu": bleu,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
