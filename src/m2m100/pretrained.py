"""The transformers `PreTrainedModel` surface shared by every public module (models, encoder, decoder).

Loading and saving live in m2m100.loading, a layer above the model (it builds models), so this file cannot
import it: the loader is plugged in once with `use_loader` (m2m100/__init__.py does it) and from_pretrained /
save_pretrained forward to it. Here are also the model-level switches users and training libraries (Trainer,
PEFT, accelerate) call: embeddings get/set/resize and tying, activation checkpointing, input-gradient hooks,
sizes, devices and dtypes.
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable

import torch
from torch import nn

from .config import M2M100Config, check_attn_implementation
from .errors import ConfigError, M2M100Error
from .hub import push_to_hub as _upload_to_hub

# The one entry point from the model classes to the loading layer: {"load": ..., "save": ...}.
_LOADER: dict[str, Callable[..., Any]] = {}


def use_loader(load: Callable[..., Any], save: Callable[..., Any]) -> None:
    """Route every model class's from_pretrained to `load(cls, name_or_path, *args, **kwargs)` and
    save_pretrained to `save(model, directory, **kwargs)` (m2m100.loading's load_pretrained / save_pretrained,
    plugged in by m2m100/__init__.py, so they are in place whichever m2m100 module is imported first)."""
    _LOADER.update(load=load, save=save)


def _loader(name: str) -> Callable[..., Any]:
    if name not in _LOADER:  # only while m2m100/__init__.py itself is still running
        raise M2M100Error("no checkpoint loader is plugged in yet: `import m2m100` finishes wiring it")
    return _LOADER[name]


class PreTrainedMixin:
    """Loading, saving, embeddings, checkpointing switches, devices and dtypes, with transformers' names."""

    config: M2M100Config
    config_class = M2M100Config
    base_model_prefix = "model"  # the attribute holding the base M2M100Model (transformers' convention)
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _no_split_modules = ("EncoderLayer", "DecoderLayer")  # accelerate: never split a layer across devices

    # -- files -----------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike | None = None, *args: Any, **kwargs: Any):
        """Load a hub-layout checkpoint (see m2m100.loading.load_pretrained for every option)."""
        return _loader("load")(cls, pretrained_model_name_or_path, *args, **kwargs)

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> None:
        """config.json, model.safetensors and (for generating models) generation_config.json."""
        _loader("save")(self, save_directory, **kwargs)

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> Any:
        """save_pretrained into a temporary directory and upload it with huggingface_hub (returns its commit info)."""
        return _upload_to_hub(self.save_pretrained, repo_id, **kwargs)

    # -- state dicts: tied matrices once -------------------------------------------------------------------
    def _register_tied_state_hooks(self) -> None:
        """state_dict() lists a tied matrix once (under its owner's name), so that tools which write it
        straight to safetensors (Trainer.save_model on a non-transformers model) do not fail on shared
        tensors; load_state_dict() accepts both that and the full alias list."""
        self.register_state_dict_post_hook(_drop_tied_aliases)
        self.register_load_state_dict_pre_hook(_restore_tied_aliases)

    def _tied_aliases(self) -> dict[str, str]:
        """{alias key: owner key} for the parameters that are the very same tensor as another one."""
        owners: dict[int, str] = {}
        aliases: dict[str, str] = {}
        for name, param in self.named_parameters(remove_duplicate=False):
            if id(param) in owners:
                aliases[name] = owners[id(param)]
            else:
                owners[id(param)] = name
        return aliases

    # -- what the model is -----------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    @classmethod
    def can_generate(cls) -> bool:
        return callable(getattr(cls, "generate", None))

    @property
    def base_model(self) -> nn.Module:
        return getattr(self, self.base_model_prefix, self)

    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        """Parameter count; tied weights are counted once."""
        seen, total = set(), 0
        embeddings = {id(m.weight) for m in self.modules() if isinstance(m, nn.Embedding)}
        for p in self.parameters():
            if id(p) in seen or (only_trainable and not p.requires_grad) or (exclude_embeddings and id(p) in embeddings):
                continue
            seen.add(id(p))
            total += p.numel()
        return total

    def get_memory_footprint(self, return_buffers: bool = True) -> int:
        """Bytes held by parameters (and buffers): tied weights once, inference-only caches not included."""
        total = sum(p.nelement() * p.element_size() for p in self.parameters())
        if return_buffers:
            total += sum(b.nelement() * b.element_size() for b in self.buffers())
        return total

    # -- embeddings --------------------------------------------------------------------------------------
    def get_input_embeddings(self) -> nn.Module | None:
        return None

    def set_input_embeddings(self, value: nn.Module) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no input embeddings to replace")

    def get_output_embeddings(self) -> nn.Module | None:
        return None  # only the model with an output projection overrides this

    def set_output_embeddings(self, value: nn.Module) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no output projection to replace")

    def tie_weights(self) -> None:
        """Make the output projection share the input embedding's matrix (when config.tie_word_embeddings)."""
        output = self.get_output_embeddings()
        inputs = self.get_input_embeddings()
        if output is not None and inputs is not None and self.config.tie_word_embeddings:
            output.weight = inputs.weight

    def resize_token_embeddings(
        self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None, mean_resizing: bool = True
    ) -> nn.Embedding:
        """Grow or shrink the vocabulary to `new_num_tokens` (rounded up to `pad_to_multiple_of`).

        Kept rows are copied; new rows are drawn from a normal with the old rows' mean and covariance
        (mean_resizing, as transformers) or from N(0, init_std). The tied output projection and
        config.vocab_size follow. Returns the (new) input embedding. Raises ConfigError for bad sizes.
        """
        old = self.get_input_embeddings()
        if new_num_tokens is None and pad_to_multiple_of is None:
            return old
        if pad_to_multiple_of is not None and (isinstance(pad_to_multiple_of, bool)
                                               or not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of < 1):
            raise ConfigError(f"pad_to_multiple_of must be a positive integer, got {pad_to_multiple_of!r}")
        size = old.weight.shape[0] if new_num_tokens is None else new_num_tokens
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f"new_num_tokens must be a positive integer, got {new_num_tokens!r}")
        if pad_to_multiple_of is not None:
            size = math.ceil(size / pad_to_multiple_of) * pad_to_multiple_of
        if self.config.pad_token_id is not None and self.config.pad_token_id >= size:
            raise ConfigError(f"new_num_tokens {size} would drop the padding token {self.config.pad_token_id}")
        new = resized_embedding(old, size, self.config.init_std, mean_resizing)
        self.set_input_embeddings(new)
        output = self.get_output_embeddings()
        if output is not None:
            if self.config.tie_word_embeddings:
                output.out_features = size
            else:
                self.set_output_embeddings(resized_linear(output, size, self.config.init_std, mean_resizing))
        self.config.vocab_size = size
        self.tie_weights()
        return self.get_input_embeddings()

    # -- training switches ------------------------------------------------------------------------------
    def activation_checkpointing_enable(
        self, activation_checkpointing_kwargs: dict | None = None, every_n_layers: int = 1, offload: bool = False
    ) -> None:
        """Recompute each layer's activations in the backward pass (less memory, ~30% more compute).

        activation_checkpointing_kwargs go to torch.utils.checkpoint.checkpoint (default use_reentrant=False);
        every_n_layers=n checkpoints one layer in n; offload keeps the saved layer inputs in CPU memory.
        Also makes the embedding output require grad, so that gradients reach adapters over frozen weights.
        """
        if isinstance(every_n_layers, bool) or not isinstance(every_n_layers, int) or every_n_layers < 1:
            raise ConfigError(f"every_n_layers must be a positive integer, got {every_n_layers!r}")
        kwargs = {"use_reentrant": False, **dict(activation_checkpointing_kwargs or {})}
        for module in self.modules():
            if hasattr(module, "gradient_checkpointing"):
                module.gradient_checkpointing = True
                module.checkpoint_options = {"kwargs": kwargs, "every_n_layers": every_n_layers, "offload": offload}
        self.enable_input_require_grads()

    def activation_checkpointing_disable(self) -> None:
        for module in self.modules():
            if hasattr(module, "gradient_checkpointing"):
                module.gradient_checkpointing = False

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict | None = None, **kwargs: Any) -> None:
        """The 4.x name of activation_checkpointing_enable (same arguments)."""
        self.activation_checkpointing_enable(gradient_checkpointing_kwargs, **kwargs)

    def gradient_checkpointing_disable(self) -> None:
        self.activation_checkpointing_disable()

    @property
    def is_activation_checkpointing(self) -> bool:
        return any(getattr(m, "gradient_checkpointing", False) for m in self.modules())

    @property
    def is_gradient_checkpointing(self) -> bool:
        return self.is_activation_checkpointing

    def enable_input_require_grads(self) -> None:
        """Make the token embedding's output require grad (a forward hook), so that gradients flow through
        frozen layers to adapters and through reentrant checkpointing."""
        self.disable_input_require_grads()
        embeddings = self.get_input_embeddings()
        if embeddings is None:
            return

        def require_grad(module, inputs, output):
            output.requires_grad_(True)

        self._require_grads_hooks = [embeddings.register_forward_hook(require_grad)]

    def disable_input_require_grads(self) -> None:
        for hook in getattr(self, "_require_grads_hooks", None) or []:
            hook.remove()
        self._require_grads_hooks = []

    def contiguous_parameters(self) -> None:
        """Give every parameter plain row-major storage, in place (ties are kept). Loading already does."""
        with torch.no_grad():
            for p in self.parameters():
                if not p.is_contiguous():
                    p.data = p.data.contiguous()

    def set_attn_implementation(self, impl: str) -> None:
        check_attn_implementation(impl)
        self.config._attn_implementation = impl


# -- what the model classes call: initialisation and the per-layer training switches -------------------------
def init_weights(model: nn.Module, std: float) -> None:
    """Normal(0, std) for Linear and Embedding weights, zeros for biases and padding rows, ones and zeros for
    layer norms (transformers' scheme)."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=std)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def layer_dropped(training: bool, layerdrop: float) -> bool:
    """LayerDrop: whether to skip this layer now. The same random draw as the reference (one torch.rand per
    layer), so that seeded runs line up."""
    return training and layerdrop > 0.0 and bool(torch.rand([]) < layerdrop)


def run_layer(layer: nn.Module, index: int, checkpoint_options: dict | None, *args: Any) -> Any:
    """layer(*args), recomputed in the backward pass when activation checkpointing is on for this layer
    (`checkpoint_options` as activation_checkpointing_enable sets them; None: off)."""
    if checkpoint_options is None or not torch.is_grad_enabled() or index % checkpoint_options["every_n_layers"]:
        return layer(*args)
    from torch.utils.checkpoint import checkpoint

    if checkpoint_options["offload"]:
        with torch.autograd.graph.save_on_cpu(pin_memory=torch.cuda.is_available()):
            return checkpoint(layer, *args, **checkpoint_options["kwargs"])
    return checkpoint(layer, *args, **checkpoint_options["kwargs"])


def _new_rows(old: torch.Tensor, count: int, std: float, mean_resizing: bool) -> torch.Tensor:
    """`count` fresh rows for a matrix whose rows are `old`: N(mean, cov of old rows) or N(0, std)."""
    data = old.detach().float()
    if mean_resizing and data.shape[0] > 1:
        mean = data.mean(0)
        centred = data - mean
        cov = centred.T @ centred / data.shape[0]
        try:
            dist = torch.distributions.MultivariateNormal(mean, covariance_matrix=1e-9 * cov)
            return dist.sample((count,)).to(old.dtype)
        except ValueError:  # not positive definite (e.g. tiny or degenerate matrices): fall back to the mean
            return mean.expand(count, -1).to(old.dtype).clone()
    return (torch.randn(count, old.shape[1]) * std).to(old.dtype)


def resized_embedding(old: nn.Embedding, size: int, std: float, mean_resizing: bool) -> nn.Embedding:
    with torch.device("meta"):  # the weight is replaced below: no point initialising one
        if hasattr(old, "embed_scale"):
            new = type(old)(size, old.embedding_dim, old.padding_idx, old.embed_scale)
        else:
            new = nn.Embedding(size, old.embedding_dim, old.padding_idx)
    weight = old.weight.detach()
    keep = min(size, weight.shape[0])
    rows = [weight[:keep]]
    if size > keep:
        rows.append(_new_rows(weight, size - keep, std, mean_resizing).to(weight.device))
    new.weight = nn.Parameter(torch.cat(rows).contiguous(), requires_grad=old.weight.requires_grad)
    new.train(old.training)
    return new


def resized_linear(old: nn.Linear, size: int, std: float, mean_resizing: bool) -> nn.Linear:
    new = nn.Linear(old.in_features, size, bias=old.bias is not None, device=old.weight.device, dtype=old.weight.dtype)
    keep = min(size, old.out_features)
    with torch.no_grad():
        new.weight[:keep] = old.weight[:keep]
        if size > keep:
            new.weight[keep:] = _new_rows(old.weight, size - keep, std, mean_resizing).to(new.weight.device)
        if old.bias is not None:
            new.bias.zero_()
            new.bias[:keep] = old.bias[:keep]
    return new


def _drop_tied_aliases(module, state_dict, prefix, local_metadata) -> None:
    for alias in module._tied_aliases():
        state_dict.pop(prefix + alias, None)


def _restore_tied_aliases(module, state_dict, prefix, local_metadata, strict, missing, unexpected, errors) -> None:
    for alias, owner in module._tied_aliases().items():
        if prefix + alias not in state_dict and prefix + owner in state_dict:
            state_dict[prefix + alias] = state_dict[prefix + owner]
