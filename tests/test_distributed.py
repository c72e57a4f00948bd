"""teacher.distributed: in one process (no WORLD_SIZE) every helper is a no-op that leaves its tensors as they
were; env_info reads torchrun's RANK / WORLD_SIZE / LOCAL_RANK; and in a real two-process gloo group on the
loopback interface all_gather_cat concatenates in rank order, all_reduce_sum sums, broadcast_ copies rank 0's
values and average_buffers_ averages floating-point buffers only."""

import socket
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from semready.teacher import distributed
from semready.teacher.distributed import DistInfo, all_gather_cat, all_reduce_sum, average_buffers_, broadcast_

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@pytest.fixture
def no_torchrun(monkeypatch):
    for name in TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)


def test_env_info_defaults_without_torchrun(no_torchrun):
    info = distributed.env_info()
    assert info == DistInfo(0, 1, 0)
    assert (info.rank, info.world, info.local_rank) == (0, 1, 0)
    assert not info.enabled and info.main


def test_env_info_reads_torchrun_variables(monkeypatch):
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    info = distributed.env_info()
    assert (info.rank, info.world, info.local_rank) == (3, 4, 1)
    assert info.enabled and not info.main


def test_env_info_world_of_one_is_not_enabled(monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    info = distributed.env_info()
    assert info.world == 1 and not info.enabled and info.main


def test_dist_info_properties():
    assert DistInfo(0, 2, 0).enabled and DistInfo(0, 2, 0).main
    assert DistInfo(1, 2, 1).enabled and not DistInfo(1, 2, 1).main
    assert not DistInfo().enabled


def test_setup_is_a_no_op_in_one_process(no_torchrun):
    device = torch.device("cpu")
    info, out = distributed.setup(device)
    assert info == DistInfo() and out == device
    assert not (dist.is_available() and dist.is_initialized())


def test_helpers_are_no_ops_in_one_process():
    info = DistInfo()
    x = torch.arange(6, dtype=torch.float32).view(3, 2)
    before = x.clone()
    assert all_gather_cat(x, info) is x
    assert torch.equal(x, before)
    assert all_reduce_sum(x, info) is x
    assert torch.equal(x, before)
    tensors = [x, torch.tensor([1, 2, 3])]
    broadcast_(tensors, info)
    assert torch.equal(tensors[0], before) and tensors[1].tolist() == [1, 2, 3]


def test_average_buffers_is_a_no_op_in_one_process():
    bn = nn.BatchNorm1d(3)
    bn.running_mean.copy_(torch.tensor([1.0, -2.0, 3.5]))
    bn.running_var.copy_(torch.tensor([0.5, 2.0, 4.0]))
    bn.num_batches_tracked.fill_(7)
    before = {k: v.clone() for k, v in bn.state_dict().items()}
    average_buffers_(bn, DistInfo())
    for k, v in bn.state_dict().items():
        assert torch.equal(v, before[k]), k


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        info = DistInfo(rank, world, rank)
        gathered = all_gather_cat(torch.full((2, 3), float(rank + 1)) + torch.arange(3.0), info)
        summed = all_reduce_sum(torch.tensor([rank + 1.0, 10.0 * rank]), info)
        shared = [torch.tensor([rank + 5.0, -rank]), torch.full((2,), rank, dtype=torch.long)]
        broadcast_(shared, info)
        bn = nn.BatchNorm1d(2)
        bn.running_mean.copy_(torch.tensor([float(rank), 2.0 * rank + 1]))
        bn.running_var.copy_(torch.tensor([1.0 + rank, 3.0]))
        bn.num_batches_tracked.fill_(5 + rank)  # an integer buffer: left alone
        average_buffers_(bn, info)
        torch.save({"gathered": gathered, "summed": summed, "shared": shared,
                    "buffers": {k: v.clone() for k, v in bn.state_dict().items()}}, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available()
                    or "fork" not in mp.get_all_start_methods(), reason="needs torch.distributed gloo and fork")
def test_two_gloo_processes_gather_sum_broadcast_and_average(tmp_path):
    world = 2
    # fork: a spawned child re-imports torch and semready (~6 s each on 2 cores); the workers use tiny tensors only
    ctx = mp.start_processes(_worker, args=(world, _free_port(), str(tmp_path)), nprocs=world, join=False,
                             start_method="fork")
    deadline = time.monotonic() + 60
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for proc in ctx.processes:
                proc.terminate()
            pytest.fail("the two gloo workers did not finish within 60 s")
    results = [torch.load(tmp_path / f"rank{r}.pt") for r in range(world)]
    row = torch.arange(3.0)
    expected_gather = torch.cat([torch.full((2, 3), 1.0) + row, torch.full((2, 3), 2.0) + row])  # rank order
    for rank, res in enumerate(results):
        assert torch.equal(res["gathered"], expected_gather), rank
        assert res["summed"].tolist() == [3.0, 10.0], rank
        assert res["shared"][0].tolist() == [5.0, 0.0], rank  # rank 0's values
        assert res["shared"][1].tolist() == [0, 0], rank
        b = res["buffers"]
        assert b["running_mean"].tolist() == [0.5, 2.0], rank  # mean of [0, 1] and [1, 3]
        assert b["running_var"].tolist() == [1.5, 3.0], rank
        assert int(b["num_batches_tracked"]) == 5 + rank, rank  # integer buffers are not averaged
