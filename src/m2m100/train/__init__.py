"""Fine-tuning M2M100 models: `m2m100 train` and its Python API.

    >>> from m2m100.train import TrainingConfig, train
    >>> train(TrainingConfig(model="facebook/m2m100_418M", train_file="pairs.tsv", output_dir="out",
    ...                      source_lang="en", target_lang="de", max_steps=1000, warmup_steps=100))

Modules: data (streamed readers, token-budget batching, replayable order), optim (loss, AdamW, schedules,
freezing), checkpointing (atomic save and resume), distributed (torchrun, DDP/FSDP), trainer (the loop), cli.
"""

from .trainer import TrainingConfig, TrainResult, Trainer, train

__all__ = ["TrainingConfig", "TrainResult", "Trainer", "train"]
