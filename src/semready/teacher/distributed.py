"""Multi-process training on PyTorch's own engine: torchrun sets the environment, DDP syncs the gradients.

``torchrun --nproc_per_node N -m semready.cli train ...`` starts N processes with RANK, WORLD_SIZE,
LOCAL_RANK and MASTER_ADDR/PORT set; :func:`setup` joins them into one process group (gloo on the CPU,
nccl on CUDA). Nothing here is a home-made collective: every function is a thin call into
``torch.distributed``. Without WORLD_SIZE > 1 in the environment every helper is a no-op, so a single process
runs plain single-process code.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from semready.errors import SemreadyError


@dataclass(frozen=True)
class DistInfo:
    """A process's place in a torchrun launch.

    Attributes:
        rank: the global rank (0 = main process).
        world: the number of processes (WORLD_SIZE).
        local_rank: the rank on this node; on CUDA, the GPU index it uses.

    >>> DistInfo().enabled, DistInfo(rank=1, world=2).main
    (False, False)
    """

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """Whether more than one process trains."""
        return self.world > 1

    @property
    def main(self) -> bool:
        """Whether this is rank 0, the process that writes files."""
        return self.rank == 0


def env_info() -> DistInfo:
    """The process's place in a torchrun launch (rank 0 of 1 when not launched by torchrun)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return DistInfo(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def setup(device: torch.device) -> tuple[DistInfo, torch.device]:
    """Join the process group torchrun described (idempotent); on CUDA each process takes GPU LOCAL_RANK.

    Args:
        device: the requested device.

    Returns:
        (this process's :class:`DistInfo`, the device it should use).
    """
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


def teardown(barrier: bool = True) -> None:
    """Leave the process group (a no-op outside one); with ``barrier``, first wait for every rank.

    Args:
        barrier: wait for the other ranks first (False when this rank is failing and they may never come).
    """
    if dist.is_available() and dist.is_initialized():
        if barrier:
            dist.barrier()
        dist.destroy_process_group()


def all_gather_cat(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Concatenate every rank's ``x`` (same shape on every rank) in rank order.

    Args:
        x: this rank's tensor, n×… .
        info: the process's place; a single process returns ``x`` itself.

    Returns:
        (world·n)×… .

    >>> all_gather_cat(torch.ones(2, 3), DistInfo()).shape
    torch.Size([2, 3])
    """
    if not info.enabled:
        return x
    parts = [torch.empty_like(x) for _ in range(info.world)]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def all_reduce_sum(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum ``x`` over all ranks, in place; return it (unchanged in a single process).

    Args:
        x: any shape, the same on every rank.
        info: the process's place.

    Returns:
        ``x``, now the sum over ranks.
    """
    if info.enabled:
        dist.all_reduce(x)
    return x


@torch.no_grad()
def broadcast_(tensors: list[torch.Tensor], info: DistInfo) -> None:
    """Copy rank 0's values into every rank's tensors (in place).

    Args:
        tensors: the same shapes on every rank.
        info: the process's place; a single process does nothing.
    """
    if info.enabled:
        for t in tensors:
            dist.broadcast(t, src=0)


@torch.no_grad()
def average_buffers_(module: nn.Module, info: DistInfo) -> None:
    """Average the floating-point buffers (BatchNorm running statistics) across ranks, in place.

    Each rank normalises its own share of the batch, so its running statistics drift apart from the others';
    averaging them at every epoch end makes every rank's model (and the checkpoint) identical.

    Args:
        module: the model whose buffers are averaged.
        info: the process's place; a single process does nothing.
    """
    if not info.enabled:
        return
    for b in module.buffers():
        if b.is_floating_point():
            dist.all_reduce(b)
            b.div_(info.world)


def wrap_teacher(teacher: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """The module the step calls: the Teacher itself, or under torchrun the Teacher wrapped whole by DDP (which
    all-reduces the gradients of the query encoder and the cluster head; the momentum encoder gets none, its EMA
    follows the synced query encoder). The plain Teacher is what checkpoints save."""
    if not info.enabled:
        return teacher
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index] if device.type == "cuda" else None
    # buffers (BatchNorm statistics, the bank) are not broadcast at each forward: BatchNorm's are averaged at
    # every epoch end (distributed.average_buffers_), the bank is filled with all-gathered keys on every rank
    no_sync = "forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DDP).parameters \
        else "broadcast_buffers"
    # the cluster head gets no gradient during warm-up or with L_D switched off
    return DDP(teacher, device_ids=ids, find_unused_parameters=True, **{no_sync: False})
