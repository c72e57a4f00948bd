"""The GPU fast path's switches, exercised on the CPU: device refusal, bf16 autocast + channels_last, compile."""

import pytest
import torch

from semready import api
from semready.cli import main
from semready.config import build_config
from semready.errors import SemreadyError
from semready.teacher.device import resolve_device
from tests.conftest import tiny_overrides


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is visible")
def test_cuda_refused_clearly_without_a_gpu(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--out", str(tmp_path / "run"), "--device", "cuda", "--epochs", "1"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no CUDA GPU is visible" in err and "--device cpu" in err
    assert not (tmp_path / "run").exists()
    with pytest.raises(SemreadyError, match="no CUDA GPU"):
        resolve_device("cuda:1")
    assert resolve_device("auto").type == "cpu"


def test_bf16_autocast_and_channels_last_train_on_cpu(tmp_path, tiny_npz):
    over = tiny_overrides(tiny_npz, epochs=2, amp=True, channels_last=True)
    cfg = build_config("quick", overrides=over)
    from semready.data import load_data
    from semready.teacher.train import Trainer

    trainer = Trainer(cfg, load_data(cfg.data.spec), tmp_path / "run", progress=False)
    conv = trainer.teacher.encoder.backbone.body[0][0]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    seen = []
    conv.register_forward_hook(lambda m, i, o: seen.append((o.dtype, i[0].is_contiguous(
        memory_format=torch.channels_last))))
    log = trainer.fit()
    assert seen and all(d == torch.bfloat16 and cl for d, cl in seen)  # the step ran in bf16, NHWC
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in log) and log[-1]["l_d"] > 0
    assert all(p.dtype == torch.float32 for p in trainer.teacher.parameters())  # weights stay float32
    assert trainer.teacher.bank.keys.dtype == torch.float32


def test_compile_switch_compiles_both_encoders_and_keeps_results(tmp_path, tiny_npz, monkeypatch):
    real = torch.compile
    compiled = []

    def spy(module, **kwargs):  # dynamo's eager backend: the real graph capture, without inductor's C++ build
        compiled.append(type(module).__name__)
        return real(module, backend="eager")

    monkeypatch.setattr(torch, "compile", spy)
    over = tiny_overrides(tiny_npz, epochs=2)
    plain = api.train(tmp_path / "plain", build_config("quick", overrides=over), progress=False)
    over["train"]["compile"] = True
    fast = api.train(tmp_path / "compiled", build_config("quick", overrides=over), progress=False)
    assert compiled == ["Encoder", "Encoder"]  # query and momentum encoders
    assert [r["loss"] for r in fast["log"]] == [r["loss"] for r in plain["log"]]


def test_routing_caches_the_bank_membership_until_bank_or_prototypes_change(tmp_path, tiny_cfg):
    from semready.data import load_data
    from semready.teacher.infer import TrainedRun
    from semready.teacher.train import Trainer

    data = load_data(tiny_cfg.data.spec)
    trainer = Trainer(tiny_cfg, data, tmp_path, progress=False)
    trainer.prime_bank()
    trainer.seed_prototypes()
    run = TrainedRun(tmp_path, tiny_cfg, trainer.teacher, trainer.device, tuple(data.images.shape[1:]))
    _, first = run.bank_membership()
    assert run.bank_membership()[1] is first  # cached
    with torch.no_grad():
        trainer.teacher.cluster_head.prototypes.mul_(-1)  # every key changes cluster
    _, flipped = run.bank_membership()
    assert flipped is not first and not torch.equal(flipped, first)
    trainer.teacher.bank.enqueue(torch.nn.functional.normalize(torch.randn(8, tiny_cfg.model.embed_dim), dim=1))
    assert run.bank_membership()[1] is not flipped
    labels = trainer.teacher.cluster_head(trainer.teacher.bank.valid_keys()).argmax(1)
    assert torch.equal(run.bank_membership()[1].argmax(1), labels)
