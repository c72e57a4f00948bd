"""Multi-process training on PyTorch's own engine: torchrun sets the environment, DDP syncs the gradients.

``torchrun --nproc_per_node N -m semready.cli train ...`` starts N processes with RANK, WORLD_SIZE,
LOCAL_RANK and MASTER_ADDR/PORT set; :func:`setup` joins them into one process group (gloo on the CPU,
nccl on CUDA). Nothing here is a home-made collective: every function is a thin call into
``torch.distributed``. Without WORLD_SIZE > 1 in the environment every helper is a no-op, so single-process
training runs exactly the code it ran before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from semready.errors import SemreadyError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def env_info() -> DistInfo:
    """The process's place in a torchrun launch (rank 0 of 1 when not launched by torchrun)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return DistInfo(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def setup(device: torch.device) -> tuple[DistInfo, torch.device]:
    """Join the process group torchrun described (idempotent); on CUDA each process takes GPU LOCAL_RANK."""
    info = env_info()
    if not info.enabled:
        return info, device
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if not dist.is_available():
            raise SemreadyError("this torch build has no torch.distributed: run without torchrun")
        dist.init_process_group(backend=backend)
    return info, device


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def all_gather_cat(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Concatenate every rank's ``x`` (same shape on every rank) in rank order."""
    if not info.enabled:
        return x
    parts = [torch.empty_like(x) for _ in range(info.world)]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def all_reduce_sum(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        dist.all_reduce(x)
    return x


@torch.no_grad()
def broadcast_(tensors: list[torch.Tensor], info: DistInfo) -> None:
    """Copy rank 0's values into every rank's tensors (in place)."""
    if info.enabled:
        for t in tensors:
            dist.broadcast(t, src=0)


@torch.no_grad()
def average_buffers_(module: nn.Module, info: DistInfo) -> None:
    """Average the floating-point buffers (BatchNorm running statistics) across ranks, in place.

    Each rank normalises its own share of the batch, so its running statistics drift apart from the others';
    averaging them at every epoch end makes every rank's model (and the checkpoint) identical."""
    if not info.enabled:
        return
    for b in module.buffers():
        if b.is_floating_point():
            dist.all_reduce(b)
            b.div_(info.world)
