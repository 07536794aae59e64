"""Process-group setup from torchrun's environment, model wrapping (DDP or FSDP) and the few collectives we use.

Without torchrun (no WORLD_SIZE) everything degrades to a single process and the collectives are no-ops, so the
trainer has one code path. gloo on CPU, nccl on CUDA. FSDP (fully_shard, per encoder/decoder layer plus the
root) is for models that do not fit one device; DDP is the default when several processes run.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..errors import ConfigError

STRATEGIES = ("auto", "none", "ddp", "fsdp")


@dataclass
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    strategy: str  # "none" | "ddp" | "fsdp"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return dist.is_available() and dist.is_initialized()


def resolve_device(name: str | None, local_rank: int) -> torch.device:
    name = name or "auto"
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name} asks for CUDA, but no CUDA device is available")
        if device.index is None:
            device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    return device


def setup(device: str | None = "auto", strategy: str = "auto") -> DistContext:
    """Read torchrun's RANK/WORLD_SIZE/LOCAL_RANK, pick the device and start the process group when needed."""
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown distributed strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    torch_device = resolve_device(device, local_rank)
    if strategy == "auto":
        strategy = "ddp" if world > 1 else "none"
    if strategy == "none" and world > 1:
        raise ConfigError("several processes need --strategy ddp or fsdp (or auto)")
    if strategy != "none" and "MASTER_ADDR" not in os.environ:
        raise ConfigError(f"--strategy {strategy} needs the torchrun environment: launch with `torchrun --nproc-per-node N`")
    if strategy != "none" and not dist.is_initialized():
        backend = "nccl" if torch_device.type == "cuda" else "gloo"
        dist.init_process_group(backend, rank=rank, world_size=world, timeout=timedelta(minutes=30),
                                **({"device_id": torch_device} if backend == "nccl" else {}))
    return DistContext(rank, world, local_rank, torch_device, strategy)


def wrap(model: nn.Module, ctx: DistContext) -> nn.Module:
    """DDP or FSDP around `model` (already on ctx.device); the unwrapped module stays reachable as `model`."""
    if ctx.strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        import inspect

        config = model.config
        # The only buffers are the sinusoid tables, identical everywhere: no need to sync them in every forward
        # (newer torch renamed the option).
        params = inspect.signature(DistributedDataParallel).parameters
        no_sync = {"forward_sync_buffers": False} if "forward_sync_buffers" in params else {"broadcast_buffers": False}
        return DistributedDataParallel(
            model,
            device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None,
            # LayerDrop skips layers at random, so some parameters get no gradient in a step.
            find_unused_parameters=config.encoder_layerdrop > 0 or config.decoder_layerdrop > 0,
            **no_sync,
        )
    if ctx.strategy == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for layer in [*model.get_encoder().layers, *model.get_decoder().layers]:
            fully_shard(layer)
        fully_shard(model)  # the root group holds the shared embedding, which the output projection is tied to
        return model
    return model


def unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)


@contextlib.contextmanager
def gradient_sync(model: nn.Module, ctx: DistContext, enabled: bool):
    """Skip the gradient all-reduce on all but the last micro-batch of an accumulated step."""
    if enabled or ctx.strategy == "none":
        yield
    elif ctx.strategy == "ddp":
        with model.no_sync():
            yield
    else:
        model.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            model.set_requires_gradient_sync(True)


def all_reduce_sum(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    if ctx.active and ctx.world_size > 1:
        values = values.to(ctx.device)
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values.cpu()


def broadcast_object(obj: Any, ctx: DistContext) -> Any:
    """Rank 0's `obj` on every rank (so all ranks take the same decision)."""
    if not (ctx.active and ctx.world_size > 1):
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def all_gather_object(obj: Any, ctx: DistContext) -> list[Any]:
    if not (ctx.active and ctx.world_size > 1):
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(ctx: DistContext) -> None:
    if ctx.active and ctx.world_size > 1:
        dist.barrier()


def shutdown(ctx: DistContext) -> None:
    if ctx.active:
        dist.destroy_process_group()
