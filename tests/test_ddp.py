"""DDP through torchrun: 2 CPU processes (gloo) train a tiny run for one epoch, then resume it for a second
(k-means seeding, eq. 3-4, cluster-aware negatives); the ranks agree, and the result matches uninterrupted
one-process training on the same global batches within a stated tolerance.

What is compared, and why not bitwise: each rank's BatchNorm normalises its own half of the global batch
(16 of 32 items), so the forward passes — and therefore the gradients — differ slightly from one process
normalising all 32. Everything else is the same: initialisation, the epoch permutation, the views (each rank
slices the views of the global batch), the bank (all-gathered keys of the whole global batch, in rank order)
and the gradient (DDP averages the two half-batch means = the global mean). In this tiny
model (width 8, 16 items per BatchNorm) that difference is large: the query encoder's update after 3 steps
has cosine only ~0.65 with plain one-process training (measured), so that comparison cannot catch bugs.

We therefore compare with the one-process computation DDP is meant to equal: the same Trainer, with each
encoder applied to the global batch in 2 chunks (BatchNorm sees exactly what each rank sees):
- ranks: every tensor of the teacher (query and momentum encoders, BN statistics, cluster head, bank) and the
  SGD momentum buffers are bitwise identical on both ranks;
- vs one process: every parameter and the bank (keys, pointer) within rtol 1e-4 / atol 1e-5 (float32
  summation order differs: DDP averages two half-batch gradients); the BN running statistics are left out
  (eval-only; DDP averages each rank's at epoch end, the chunked reference updates them twice per step).
A bank fed only local keys, keys gathered in the wrong order, or gradients not all-reduced fail these checks.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import torch
from safetensors.torch import load_file

from semready.config import build_config, dump_config
from tests.conftest import tiny_overrides

SCRIPT = textwrap.dedent("""
    import os, sys
    from safetensors.torch import save_file
    from semready import pipeline, train
    from semready.config import load_config_file

    seen = {}
    fit = train.Trainer.fit
    def spy(self, *args, **kwargs):
        seen["trainer"] = self
        return fit(self, *args, **kwargs)
    train.Trainer.fit = spy
    if len(sys.argv) > 4:  # resume the run to this many epochs
        pipeline.train(sys.argv[2], resume=True, epochs=int(sys.argv[4]), progress=False)
    else:
        pipeline.train(sys.argv[2], load_config_file(sys.argv[1]), progress=False)
    t = seen["trainer"]
    state = {f"teacher.{k}": v.contiguous() for k, v in t.teacher.state_dict().items()}
    for i, s in t.optimizer.state_dict()["state"].items():
        state[f"optim.{i}"] = s["momentum_buffer"].contiguous()
    save_file(state, os.path.join(sys.argv[3], f"rank{t.dist.rank}.safetensors"))
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_agree_and_match_one_process(tmp_path, tiny_npz):
    over = tiny_overrides(tiny_npz, epochs=1)
    over["rank"] = {"score": "paper"}
    cfg = build_config("quick", overrides=over)
    cfg_file, script = tmp_path / "cfg.yaml", tmp_path / "ddp_train.py"
    cfg_file.write_text(dump_config(cfg))
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def torchrun(*extra: str) -> None:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr",
               "127.0.0.1", "--master_port", str(_free_port()), str(script), str(cfg_file), str(tmp_path / "ddp"),
               str(tmp_path), *extra]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-3000:]

    torchrun()  # epoch 1 (warm-up), checkpointed by rank 0 ...
    torchrun("2")  # ... and resumed by both ranks for epoch 2: k-means seeding, eq. 3-4, cluster-aware negatives

    r0, r1 = (load_file(str(tmp_path / f"rank{r}.safetensors")) for r in (0, 1))
    assert r0.keys() == r1.keys()
    for k in r0:
        assert torch.equal(r0[k], r1[k]), f"ranks disagree on {k}"
    # rank 0 alone wrote the run's outputs, and they are complete
    for name in ("checkpoint.safetensors", "state.json", "log.csv", "samples.csv", "clusters.csv"):
        assert (tmp_path / "ddp" / name).is_file(), name

    ref = _one_process_with_per_rank_batchnorm(cfg, tmp_path / "ref", ranks=2, epochs=2)
    for k, v in ref.items():
        if "running" in k or "num_batches" in k:
            continue  # eval-only statistics: averaged per epoch under DDP, updated per chunk here
        torch.testing.assert_close(r0[f"teacher.{k}"], v, rtol=1e-4, atol=1e-5, msg=lambda m, k=k: f"{k}: {m}")
    ddp_log = json.loads((tmp_path / "ddp" / "state.json").read_text())["log"]
    assert len(ddp_log) == 2
    worst = max(((r0[f"teacher.{k}"] - v).abs().max() / v.abs().max().clamp_min(1e-12)).item()
                for k, v in ref.items() if v.is_floating_point() and "running" not in k)
    print(f"DDP vs one process with per-rank BatchNorm: worst relative difference {worst:.2e}")


class _PerRankBatchNorm(torch.nn.Module):
    """One process, the batch split into ``ranks`` chunks through the module: BatchNorm sees what each rank
    sees. The loss is the mean over the whole batch = the mean of the chunk means that DDP averages."""

    def __init__(self, module, ranks: int):
        super().__init__()
        self.module, self.ranks = module, ranks

    def forward(self, x):
        return torch.cat([self.module(c) for c in x.chunk(self.ranks)])


def _one_process_with_per_rank_batchnorm(cfg, run_dir, ranks, epochs):
    from semready.data import load_data
    from semready.train import Trainer

    t = Trainer(cfg, load_data(cfg.data.spec), run_dir, progress=False)
    t.prime_bank()  # every DDP rank primes with the whole batches too
    t.query = _PerRankBatchNorm(t.teacher.encoder, ranks)
    t.momentum = _PerRankBatchNorm(t.teacher.momentum_encoder, ranks)
    t.cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": epochs})})
    while t.epoch < epochs:  # Trainer.fit's schedule, uninterrupted
        if t.epoch == cfg.train.warmup_epochs:
            t.seed_prototypes()
        t.run_epoch(None)
    return t.teacher.state_dict()


def test_batch_not_divisible_by_ranks_is_refused(tmp_path, tiny_npz, monkeypatch):
    from semready.errors import SemreadyError

    monkeypatch.setenv("WORLD_SIZE", "3")
    cfg = build_config("quick", overrides=tiny_overrides(tiny_npz))
    from semready.data import load_data
    from semready.train import Trainer

    try:
        Trainer(cfg, load_data(cfg.data.spec), Path(tmp_path), progress=False)
    except SemreadyError as exc:
        assert "multiple of" in str(exc)
    else:
        raise AssertionError("a batch of 32 over 3 processes was accepted")
