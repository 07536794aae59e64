"""Real clients that must run unchanged on our model: transformers' Seq2SeqTrainer and PEFT's LoRA (issue 19)."""

from __future__ import annotations

import warnings

import pytest
import torch
from conftest import TINY, random_state_init

from m2m100 import M2M100Config, M2M100ForConditionalGeneration

transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")
pytest.importorskip("accelerate")
transformers.logging.set_verbosity_error()
warnings.filterwarnings("ignore")

VOCAB = 64


def tiny_model(seed=0):
    torch.manual_seed(seed)
    model = M2M100ForConditionalGeneration(M2M100Config(**{**TINY, "vocab_size": VOCAB}))
    random_state_init(model, seed, std=0.1)
    return model


def examples(n=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        src = torch.randint(4, VOCAB, (6,), generator=gen).tolist() + [2]
        out.append({"input_ids": src, "attention_mask": [1] * len(src), "labels": src[::-1][1:] + [2]})
    return out


class Collate:
    def __call__(self, rows):
        width = max(len(r["input_ids"]) for r in rows)
        def pad(seq, value):
            return seq + [value] * (width - len(seq))

        return {
            "input_ids": torch.tensor([pad(r["input_ids"], 1) for r in rows]),
            "attention_mask": torch.tensor([pad(r["attention_mask"], 0) for r in rows]),
            "labels": torch.tensor([pad(r["labels"], -100) for r in rows]),
        }


def test_seq2seq_trainer_fine_tunes_predicts_saves_and_reloads(tmp_path):
    model = tiny_model()
    before = model.model.encoder.layers[0].fc1.weight.detach().clone()
    args = transformers.Seq2SeqTrainingArguments(
        output_dir=str(tmp_path / "run"), per_device_train_batch_size=4, per_device_eval_batch_size=4,
        max_steps=3, learning_rate=1e-2, predict_with_generate=True, generation_max_length=8, report_to=[],
        use_cpu=True, save_strategy="no", logging_steps=1, dataloader_num_workers=0,
    )
    trainer = transformers.Seq2SeqTrainer(model=model, args=args, train_dataset=examples(), eval_dataset=examples(4, 1),
                                          data_collator=Collate())
    result = trainer.train()
    assert result.global_step == 3 and torch.isfinite(torch.tensor(result.training_loss))
    assert not torch.equal(before, model.model.encoder.layers[0].fc1.weight.detach())
    prediction = trainer.predict(examples(4, 1))
    # generation_max_length=8 bounds generation; the trainer pads to the generation config's max_length (20)
    assert prediction.predictions.shape[0] == 4
    model.eval()
    expected = model.generate(input_ids=torch.tensor([examples(1, 1)[0]["input_ids"]]), max_new_tokens=7)
    assert (prediction.predictions[0][: expected.shape[1]] == expected[0].numpy()).all()
    source = torch.tensor([examples(1, 1)[0]["input_ids"]])
    # Trainer.save_model writes a non-transformers model's state_dict (tied matrix once) without a config.json
    trainer.save_model(str(tmp_path / "saved"))
    reloaded = M2M100ForConditionalGeneration.from_pretrained(tmp_path / "saved", config=model.config)
    assert torch.equal(reloaded.generate(input_ids=source, max_new_tokens=7), expected)
    model.save_pretrained(tmp_path / "full")  # config, weights and generation config
    reloaded = M2M100ForConditionalGeneration.from_pretrained(tmp_path / "full")
    assert torch.equal(reloaded.generate(input_ids=source, max_new_tokens=7), expected)


def test_peft_lora_trains_with_checkpointing_merges_saves_and_reloads(tmp_path):
    model = tiny_model(1)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="SEQ_2_SEQ_LM")
    lora = peft.get_peft_model(model, config)
    trainable = [n for n, p in lora.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    lora.train()
    optimizer = torch.optim.AdamW([p for p in lora.parameters() if p.requires_grad], lr=1e-2)
    batch = Collate()(examples())
    losses = []
    for _ in range(4):
        optimizer.zero_grad()
        loss = lora(**batch).loss
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert losses[-1] < losses[0]
    lora.eval()
    with torch.no_grad():
        adapted = lora(**batch).logits
    generated = lora.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], max_new_tokens=5)
    merged = lora.merge_and_unload()
    assert torch.equal(merged.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                       max_new_tokens=5), generated)
    assert type(merged) is M2M100ForConditionalGeneration
    with torch.no_grad():
        torch.testing.assert_close(merged(**batch).logits, adapted, atol=1e-4, rtol=1e-4)
    merged.save_pretrained(tmp_path / "merged")
    reloaded = M2M100ForConditionalGeneration.from_pretrained(tmp_path / "merged")
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch).logits, adapted, atol=1e-4, rtol=1e-4)
    ref = transformers.M2M100ForConditionalGeneration.from_pretrained(tmp_path / "merged").eval()
    with torch.no_grad():
        torch.testing.assert_close(ref(**batch).logits, adapted, atol=1e-4, rtol=1e-4)
