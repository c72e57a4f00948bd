"""DDP through torchrun, 2 CPU processes (gloo), a tiny run over three launches:
1. epoch 1 (warm-up) launched as a two-node job on this machine — two torchrun agents, one process each,
   joined by torchrun's c10d rendezvous, as on two machines (RANK 0 and 1, LOCAL_RANK 0 on both);
2. resumed by one torchrun with 2 processes for epoch 2 (k-means seeding, eq. 3-4, cluster-aware negatives);
3. resumed by one plain process for epoch 3 (a different process count: the checkpoint is global).
The ranks agree, and the result matches one-process training on the same global batches within a stated
tolerance.

What is compared, and why not bitwise: each rank's BatchNorm normalises its own half of the global batch
(16 of 32 items), so the forward passes — and therefore the gradients — differ slightly from one process
normalising all 32. Everything else is the same: initialisation, the epoch permutation, the views (each rank
perturbs its slice with the random parameters of the whole batch), the bank (all-gathered keys of the whole
global batch, in rank order) and the gradient (DDP averages the two half-batch means = the global mean). In this
tiny model (width 8, 16 items per BatchNorm) that difference is large: the query encoder's update after 3 steps
has cosine only ~0.65 with plain one-process training (measured), so that comparison cannot catch bugs.

We therefore compare with the one-process computation DDP is meant to equal: the same Trainer, with each
encoder applied to the global batch in 2 chunks (BatchNorm sees exactly what each rank sees) while 2 processes
train, and whole once one process does:
- ranks: every tensor of the teacher (query and momentum encoders, BN statistics, cluster head, bank) and the
  SGD momentum buffers are bitwise identical on both ranks after epoch 2;
- vs one process: every parameter and the bank (keys, pointer) within rtol 1e-4 / atol 1e-5 after epochs 2
  and 3 (float32 summation order differs: DDP averages two half-batch gradients); the BN running statistics
  are left out (eval-only; DDP averages each rank's at epoch end, the chunked reference updates them twice per
  step).
A bank fed only local keys, keys gathered in the wrong order, views not matching the global batch's, gradients
not all-reduced, or a checkpoint that depends on the process count fail these checks.
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
    from semready import api
    from semready.teacher import train
    from semready.config import load_config_file

    seen = {}
    fit = train.Trainer.fit
    def spy(self, *args, **kwargs):
        seen["trainer"] = self
        return fit(self, *args, **kwargs)
    train.Trainer.fit = spy
    if len(sys.argv) > 4:  # resume the run to this many epochs
        api.train(sys.argv[2], resume=True, epochs=int(sys.argv[4]), progress=False)
    else:
        api.train(sys.argv[2], load_config_file(sys.argv[1]), progress=False)
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
    run = tmp_path / "ddp"

    def launch(*launcher: str, epochs: int | None = None, out: Path = tmp_path) -> subprocess.Popen:
        resume = [str(epochs)] if epochs else []
        cmd = [sys.executable, *launcher, str(script), str(cfg_file), str(run), str(out), *resume]
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def finish(*procs: subprocess.Popen) -> None:
        for proc in procs:
            output, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0, output[-3000:]

    # 1. epoch 1 (warm-up) as two "nodes": two torchrun agents meet at a c10d rendezvous
    rdzv = ["-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1", "--rdzv_backend", "c10d",
            "--rdzv_endpoint", f"127.0.0.1:{_free_port()}", "--rdzv_id", "semready-test"]
    finish(*(launch(*rdzv) for _ in range(2)))
    # 2. resumed by one torchrun with 2 processes for epoch 2: k-means seeding, eq. 3-4, cluster-aware negatives
    finish(launch("-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                  "--master_port", str(_free_port()), epochs=2))

    r0, r1 = (load_file(str(tmp_path / f"rank{r}.safetensors")) for r in (0, 1))
    assert r0.keys() == r1.keys()
    for k in r0:
        assert torch.equal(r0[k], r1[k]), f"ranks disagree on {k}"
    # rank 0 alone wrote the run's outputs, and they are complete
    for name in ("checkpoint.safetensors", "state.json", "log.csv", "samples.csv", "clusters.csv"):
        assert (run / name).is_file(), name
    log = json.loads((run / "state.json").read_text())["log"]
    assert [row["processes"] for row in log] == [2, 2]

    # 3. resumed by one plain process for epoch 3
    (tmp_path / "one").mkdir()
    finish(launch(epochs=3, out=tmp_path / "one"))
    one = load_file(str(tmp_path / "one" / "rank0.safetensors"))
    assert [row["processes"] for row in json.loads((run / "state.json").read_text())["log"]] == [2, 2, 1]

    # (processes, the launch's --epochs: the cosine LR follows it) for epochs 1, 2, 3
    ref = _one_process_reference(cfg, tmp_path / "ref", [(2, 1), (2, 2), (1, 3)], compare_after={2: r0, 3: one})
    assert sorted(ref) == [2, 3]
    for epoch, worst in ref.items():
        print(f"DDP vs one process with per-rank BatchNorm after epoch {epoch}: worst relative difference "
              f"{worst:.2e}")


def _assert_teacher_close(got: dict, ref: dict, epoch: int) -> float:
    """Every teacher tensor but the BN running statistics within the stated tolerance; the worst relative
    difference."""
    worst = 0.0
    for k, v in ref.items():
        if "running" in k or "num_batches" in k:
            continue  # eval-only statistics: averaged per epoch under DDP, updated per chunk here
        torch.testing.assert_close(got[f"teacher.{k}"], v, rtol=1e-4, atol=1e-5,
                                   msg=lambda m, k=k: f"epoch {epoch}, {k}: {m}")
        if v.is_floating_point():
            worst = max(worst, ((got[f"teacher.{k}"] - v).abs().max() / v.abs().max().clamp_min(1e-12)).item())
    return worst


class _PerRankBatchNorm(torch.nn.Module):
    """One process, the batch split into ``ranks`` chunks through the module: BatchNorm sees what each rank
    sees. The loss is the mean over the whole batch = the mean of the chunk means that DDP averages."""

    def __init__(self, module, ranks: int):
        super().__init__()
        self.module, self.ranks = module, ranks

    def forward(self, x):
        return torch.cat([self.module(c) for c in x.chunk(self.ranks)])


def _one_process_reference(cfg, run_dir, launches: list[tuple[int, int]], compare_after: dict[int, dict]
                           ) -> dict[int, float]:
    """Train in one process, uninterrupted, as ``launches[e] = (processes, epochs)`` would train epoch e + 1:
    BatchNorm on that many chunks of each batch, the learning rate of a run planned for that many epochs. After
    each epoch listed in ``compare_after`` check the teacher against the ranks' and return the worst relative
    differences."""
    from semready.data import load_data
    from semready.teacher.train import Trainer

    t = Trainer(cfg, load_data(cfg.data.spec), run_dir, progress=False)
    worst = {}
    while t.epoch < len(launches):  # Trainer.fit's schedule, uninterrupted
        ranks, epochs = launches[t.epoch]
        t.cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": epochs})})
        t.teacher.use_engines(_PerRankBatchNorm(t.teacher.encoder, ranks),
                              _PerRankBatchNorm(t.teacher.momentum_encoder, ranks))
        if t.epoch == 0:
            t.prime_bank()  # the DDP ranks prime the bank with their slices of each batch too
        if t.epoch == cfg.train.warmup_epochs:
            t.seed_prototypes()
        t.run_epoch(None)
        if t.epoch in compare_after:
            worst[t.epoch] = _assert_teacher_close(compare_after[t.epoch], t.teacher.state_dict(), t.epoch)
    return worst


def test_batch_not_divisible_by_ranks_is_refused(tmp_path, tiny_npz, monkeypatch):
    from semready.errors import SemreadyError

    monkeypatch.setenv("WORLD_SIZE", "3")
    cfg = build_config("quick", overrides=tiny_overrides(tiny_npz))
    from semready.data import load_data
    from semready.teacher.train import Trainer

    try:
        Trainer(cfg, load_data(cfg.data.spec), Path(tmp_path), progress=False)
    except SemreadyError as exc:
        assert "multiple of" in str(exc)
    else:
        raise AssertionError("a batch of 32 over 3 processes was accepted")
