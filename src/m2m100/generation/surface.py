"""transformers' generation surface on the model class: generate(), generation_config and the hooks that
wrappers (PEFT, Seq2SeqTrainer, custom decoding loops) call. M2M100ForConditionalGeneration inherits it; the
searches themselves are in generation.search and below."""

from __future__ import annotations

from typing import Any

import torch

from .config import GenerationConfig
from .scores import compute_transition_scores
from .search import generate


class GenerationMixin:
    """generate() and friends, with transformers' names, for a model with get_encoder() and a `config`."""

    @property
    def generation_config(self) -> GenerationConfig:
        """The model's default generation options (from generation_config.json when loaded, else its config)."""
        if getattr(self, "_generation_config", None) is None:
            self._generation_config = GenerationConfig.from_model_config(self.config)
        return self._generation_config

    @generation_config.setter
    def generation_config(self, value: GenerationConfig | None) -> None:
        self._generation_config = value

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        """Translate: greedy, beam search or sampling (see m2m100.generation.search.generate; with
        `step_scheduler=`, decoding steps take turns, or merge rows, with the scheduler's other jobs)."""
        return generate(self, *args, **kwargs)

    def compute_transition_scores(self, sequences: torch.Tensor, scores: Any, beam_indices: torch.Tensor | None = None,
                                  normalize_logits: bool = False) -> torch.Tensor:
        """Score of each generated token, (rows, steps) (see m2m100.generation.scores)."""
        return compute_transition_scores(sequences, scores, beam_indices, normalize_logits)

    def prepare_inputs_for_generation(self, decoder_input_ids: torch.Tensor, past_key_values: Any = None,
                                      attention_mask: torch.Tensor | None = None, encoder_outputs: Any = None,
                                      **kwargs: Any) -> dict[str, Any]:
        """forward() arguments for one decoding step (transformers' hook, used by wrappers such as PEFT):
        with a cache only the tokens it has not seen are fed."""
        if past_key_values is not None:
            decoder_input_ids = decoder_input_ids[:, past_key_values.get_seq_length():]
        return {"decoder_input_ids": decoder_input_ids, "past_key_values": past_key_values,
                "attention_mask": attention_mask, "encoder_outputs": encoder_outputs,
                "use_cache": kwargs.get("use_cache", past_key_values is not None)}

    def _prepare_encoder_decoder_kwargs_for_generation(self, inputs_tensor: torch.Tensor, model_kwargs: dict[str, Any],
                                                       model_input_name: str | None = None,
                                                       generation_config: Any = None) -> dict[str, Any]:
        """Run the encoder once and put its output in model_kwargs["encoder_outputs"] (transformers' hook)."""
        name = model_input_name or "input_ids"
        model_kwargs["encoder_outputs"] = self.get_encoder()(
            **{name: inputs_tensor}, attention_mask=model_kwargs.get("attention_mask"), return_dict=True)
        return model_kwargs
