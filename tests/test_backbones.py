"""Pluggable backbones (model.encoder, model.weights, model.freeze_backbone, model.stem, backbone=): every
architecture named by torchvision or timm, a local weights file read without unpickling, a frozen backbone, your
own module — and runs with any of them still save, resume and load. Tiny models only, nothing downloaded."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from semready import api
from semready.config import build_config
from semready.data import ImageData
from semready.errors import SemreadyError
from semready.teacher import Teacher, Trainer, load_run
from semready.teacher.backbones import build_backbone, feature_width, register_backbone
from semready.teacher.checkpoint import read_tensors
from semready.teacher.weights import load_backbone_weights, read_state_dict


def one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def tiny_module(width: int = 4) -> nn.Module:
    """A backbone without ``out_dim``: its feature width (2w) has to be measured."""
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                         nn.Conv2d(width, 2 * width, 3, stride=2), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def tiny_cfg(tmp: Path | None = None, **model):
    over = {"model": {"width": 4, "embed_dim": 8, "clusters": 2, **model}, "bank": {"size": 32, "min_negatives": 4},
            "train": {"epochs": 2, "batch_size": 16, "warmup_epochs": 1, "threads": 1, "device": "cpu"}}
    if tmp is not None:
        over["data"] = {"spec": f"npz:{tmp}"}
    return build_config("quick", overrides=over)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """32 real images of the embedded sample, uint8 32×3×32×32."""
    return api.load_data("sample").images[:32].clone()


@pytest.fixture(scope="module")
def npz(images, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bb") / "items.npz"
    np.savez(path, x=images.permute(0, 2, 3, 1).numpy())
    return path


# ------------------------------------------------------------------ names


@pytest.mark.parametrize("name, width", [("torchvision:resnet50", 2048), ("torchvision:efficientnet_b0", 1280),
                                         ("torchvision:resnet18", 512), ("torchvision:mobilenet_v3_small", 1024)])
def test_torchvision_architectures_by_name_yield_features_of_their_width(name, width):
    net = build_backbone(name).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 32, 32))
    assert net.out_dim == width and out.shape == (2, width)  # the classifier is gone: not 1,000 logits
    assert not any(isinstance(m, nn.Linear) and m.out_features == 1000 for m in net.modules())


def test_a_torchvision_backbone_starts_random_and_different_per_seed():
    torch.manual_seed(0)
    a = build_backbone("torchvision:resnet18").conv1.weight
    torch.manual_seed(1)
    b = build_backbone("torchvision:resnet18").conv1.weight
    assert not torch.equal(a, b)  # weights=None: nothing pretrained (and nothing downloaded)


@pytest.mark.parametrize("name", ["foo", "torchvision:no_such_net", "torchvision:", "resnet18 ", "timm", "vit:b16"])
def test_an_unknown_backbone_is_one_line_saying_how_to_name_one(name):
    with pytest.raises(SemreadyError) as exc:
        build_backbone(name)
    msg = one_line(exc)
    assert repr(name) in msg and "torchvision:NAME" in msg and "timm:NAME" in msg
    with pytest.raises(SemreadyError) as exc:  # the config refuses it before any run folder exists
        build_config("quick", overrides={"model": {"encoder": name}})
    assert "model.encoder" in one_line(exc) and "torchvision:NAME" in str(exc.value)


def test_a_fixed_size_architecture_names_the_size_it_needs():
    with pytest.raises(SemreadyError) as exc:
        build_backbone("torchvision:vit_b_16", image_size=32)
    assert "data.image_size: 224" in one_line(exc)


def test_an_architecture_without_a_linear_head_is_refused():
    with pytest.raises(SemreadyError) as exc:
        build_backbone("torchvision:squeezenet1_0")
    assert "no linear classifier" in one_line(exc)


def test_timm_without_timm_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm -> ImportError, installed or not
    with pytest.raises(SemreadyError) as exc:
        build_backbone("timm:resnet18")
    assert "pip install timm" in one_line(exc)


def test_timm_architectures_by_name():
    timm = pytest.importorskip("timm")
    net = build_backbone("timm:resnet18").eval()
    with torch.no_grad():
        assert net(torch.rand(2, 3, 32, 32)).shape == (2, net.out_dim)
    with pytest.raises(SemreadyError) as exc:
        build_backbone("timm:no_such_net_xyz")
    assert "timm" in one_line(exc) and timm is not None


# ------------------------------------------------------------------ resnet18 stem


@pytest.mark.parametrize("side, kernel, pooled", [(32, 3, False), (64, 3, False), (65, 7, True), (96, 7, True)])
def test_resnet18_keeps_the_cifar_stem_up_to_64_px_and_the_imagenet_stem_above(side, kernel, pooled):
    net = build_backbone("resnet18", image_size=side)
    assert net.net.conv1.kernel_size == (kernel, kernel)
    assert isinstance(net.net.maxpool, nn.MaxPool2d) == pooled
    assert net.eval()(torch.rand(1, 3, side, side)).shape == (1, 512)


def test_the_stem_setting_overrides_auto_and_the_config_image_size_picks_it():
    assert build_backbone("resnet18", image_size=224, stem="cifar").net.conv1.kernel_size == (3, 3)
    assert build_backbone("resnet18", image_size=32, stem="imagenet").net.conv1.kernel_size == (7, 7)
    cfg = build_config("quick", overrides={"model": {"encoder": "resnet18"}, "data": {"image_size": 96}})
    assert Teacher.from_config(cfg).encoder.backbone.net.conv1.kernel_size == (7, 7)
    assert Teacher.from_config(cfg.model_copy(update={"data": cfg.data.model_copy(update={"image_size": None})}),
                               image_size=32).encoder.backbone.net.conv1.kernel_size == (3, 3)


# ------------------------------------------------------------------ weights files


@pytest.fixture
def saved(tmp_path):
    """A small_cnn (width 4) with recognisable weights, saved as safetensors and as a torch.save state dict."""
    torch.manual_seed(7)
    net = build_backbone("small_cnn", 4)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
        net.body[0][1].running_mean.fill_(0.25)
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    save_file(sd, str(tmp_path / "w.safetensors"))
    torch.save(sd, tmp_path / "w.pt")
    return sd, tmp_path


@pytest.mark.parametrize("file", ["w.safetensors", "w.pt"])
def test_a_weights_file_loads_into_both_encoders(saved, file):
    sd, tmp = saved
    teacher = Teacher.from_config(tiny_cfg(weights=str(tmp / file)))
    for enc in (teacher.encoder, teacher.momentum_encoder):
        got = enc.backbone.state_dict()
        assert all(torch.equal(got[k], v) for k, v in sd.items())
    assert teacher.encoder.backbone.body[0][0].weight.data_ptr() != \
        teacher.momentum_encoder.backbone.body[0][0].weight.data_ptr()


def test_common_wrappers_of_a_state_dict_load(saved):
    sd, tmp = saved
    torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}, "epoch": 3}, tmp / "wrapped.pt")
    got = read_state_dict(tmp / "wrapped.pt")
    assert sorted(got) == sorted(sd) and all(torch.equal(got[k], sd[k]) for k in sd)


def test_a_full_torchvision_checkpoint_loads_without_its_classifier(tmp_path):
    from torchvision.models import resnet18

    full = resnet18(weights=None)
    torch.save(full.state_dict(), tmp_path / "r18.pt")  # still has fc.weight / fc.bias
    net = build_backbone("torchvision:resnet18")
    load_backbone_weights(net, tmp_path / "r18.pt", "torchvision:resnet18")
    assert torch.equal(net.conv1.weight, full.conv1.weight)


class _Tripwire:
    """Unpickling this runs code (it would create a file): a safe loader must refuse it."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_a_pickled_module_or_object_is_refused_and_never_executed(saved):
    sd, tmp = saved
    torch.save(build_backbone("small_cnn", 4), tmp / "module.pt")  # the whole module, pickled
    for name in ("module.pt", "trap.pt"):
        if name == "trap.pt":
            torch.save({"conv": _Tripwire(str(tmp / "pwned"))}, tmp / name)
        with pytest.raises(SemreadyError) as exc:
            Teacher.from_config(tiny_cfg(weights=str(tmp / name)))
        msg = one_line(exc)
        assert "pickled" in msg and "state_dict()" in msg
    assert not (tmp / "pwned").exists()


@pytest.mark.parametrize("case, words", [
    ("other_width", ["does not fit", "another shape", "body.0.0.weight"]),
    ("partial", ["does not fit", "missing"]),
    ("extra", ["does not fit", "unexpected", "stray.weight"]),
    ("garbage", ["not a weights file"]),
    ("bad_safetensors", ["not a valid safetensors"]),
    ("absent", ["does not exist"]),
    ("not_tensors", ["not a state dict"]),
])
def test_weights_that_do_not_fit_or_cannot_be_read_are_one_line(saved, case, words):
    sd, tmp = saved
    path = tmp / f"{case}.pt"
    if case == "other_width":
        save_file(build_backbone("small_cnn", 8).state_dict(), str(path))
    elif case == "partial":
        torch.save({k: v for i, (k, v) in enumerate(sd.items()) if i}, path)
    elif case == "extra":
        torch.save({**sd, "stray.weight": torch.zeros(1)}, path)
    elif case == "garbage":
        path.write_bytes(b"this is not a weights file at all")
    elif case == "bad_safetensors":
        path = tmp / "bad.safetensors"
        path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{broken")
    elif case == "not_tensors":
        torch.save([1, 2, 3], path)
    net = build_backbone("small_cnn", 4)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(SemreadyError) as exc:
        load_backbone_weights(net, path, "small_cnn")
    msg = one_line(exc)
    assert all(w in msg for w in words), msg
    assert all(torch.equal(net.state_dict()[k], v) for k, v in before.items())  # all or nothing


# ------------------------------------------------------------------ your own module, freezing


def test_your_own_module_is_the_query_backbone_and_the_momentum_one_a_deep_copy():
    mod = tiny_module(4)
    mod.train()
    stats = mod[1].running_mean.clone()
    teacher = Teacher.from_config(tiny_cfg(), backbone=mod)
    assert teacher.encoder.backbone is mod and mod.training  # its mode is left as it was
    assert torch.equal(mod[1].running_mean, stats)  # the measuring pass left BatchNorm alone
    assert teacher.encoder.projection[0].in_features == 8  # measured: 2 × width
    q = {id(p) for p in teacher.encoder.parameters()} | {p.data_ptr() for p in teacher.encoder.parameters()}
    k = {id(p) for p in teacher.momentum_encoder.parameters()} | {
        p.data_ptr() for p in teacher.momentum_encoder.parameters()}
    assert not q & k
    out = teacher(torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32), clusters_active=False)
    assert torch.isfinite(out.losses["loss"])


@pytest.mark.parametrize("module, words", [
    (nn.Conv2d(3, 4, 3), "returns (2, 4, 30, 30)"),
    (nn.Linear(5, 5), "fails on a 2×3×32×32 batch"),
])
def test_a_module_that_does_not_yield_features_is_one_line(module, words):
    with pytest.raises(SemreadyError) as exc:
        feature_width(module)
    assert words in one_line(exc)


def test_a_frozen_backbone_stays_fixed_while_the_head_and_ema_train(npz, images, tmp_path):
    torch.manual_seed(0)
    data = ImageData(images, None, None, f"npz:{npz}")
    trainer = Trainer(tiny_cfg(npz, freeze_backbone=True), data, tmp_path / "run", progress=False)
    t = trainer.teacher
    in_sgd = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert not in_sgd & {id(p) for p in t.encoder.backbone.parameters()}
    assert {id(p) for p in t.encoder.projection.parameters()} <= in_sgd
    before = {n: v.clone() for n, v in t.state_dict().items()}
    trainer.fit()
    after = t.state_dict()
    for prefix in ("encoder.backbone.", "momentum_encoder.backbone."):  # weights and BatchNorm statistics
        assert all(torch.equal(after[n], v) for n, v in before.items() if n.startswith(prefix))
    for prefix in ("encoder.projection.0.", "momentum_encoder.projection.0.", "cluster_head."):
        assert any(not torch.equal(after[n], v) for n, v in before.items() if n.startswith(prefix)), prefix
    assert not t.encoder.backbone.training and t.encoder.projection.training


# ------------------------------------------------------------------ runs: save, resume, load


def _teacher_tensors(run: Path) -> dict[str, torch.Tensor]:
    tensors, _ = read_tensors(run / "checkpoint.safetensors")
    return tensors


def test_a_run_with_a_torchvision_backbone_and_weights_saves_resumes_bit_exactly(npz, tmp_path):
    torch.manual_seed(3)
    net = build_backbone("torchvision:mobilenet_v3_small")
    torch.save(net.state_dict(), tmp_path / "mnv3.pt")
    cfg = tiny_cfg(npz, encoder="torchvision:mobilenet_v3_small", weights=str(tmp_path / "mnv3.pt"))
    api.train(tmp_path / "straight", cfg, progress=False)
    api.train(tmp_path / "resumed", cfg, epochs=1, progress=False)
    (tmp_path / "mnv3.pt").unlink()  # a resumed or loaded run needs its checkpoint only
    api.train(tmp_path / "resumed", resume=True, epochs=2, progress=False)
    a, b = _teacher_tensors(tmp_path / "straight"), _teacher_tensors(tmp_path / "resumed")
    assert sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)
    run = load_run(tmp_path / "resumed", "cpu")
    assert torch.equal(run.teacher.encoder.backbone.features[0][0].weight,
                       a["teacher.encoder.backbone.features.0.0.weight"])


def test_a_run_with_your_own_module_saves_resumes_and_loads(npz, images, tmp_path):
    data = ImageData(images, None, None, f"npz:{npz}")
    cfg = tiny_cfg(npz)
    torch.manual_seed(0)
    Trainer(cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": 1})}), data,
            tmp_path / "run", progress=False, backbone=tiny_module()).fit()
    trainer = Trainer(cfg, data, tmp_path / "run", progress=False, backbone=tiny_module())
    trainer.fit(resume=True)
    assert trainer.epoch == 2 and len(trainer.log) == 2
    run = load_run(tmp_path / "run", "cpu", backbone=tiny_module())
    saved = _teacher_tensors(tmp_path / "run")
    assert torch.equal(run.teacher.momentum_encoder.backbone[0].weight,
                       saved["teacher.momentum_encoder.backbone.0.weight"])
    assert run.assign_all(images).clusters.shape == (32,)


def test_a_registered_module_runs_through_the_facade_and_is_named_when_missing(npz, images, tmp_path):
    name = register_backbone("tests-tiny", tiny_module())
    assert name == "module:tests-tiny"
    cfg = tiny_cfg(npz, encoder=name)
    summary = api.train(tmp_path / "run", cfg, progress=False)  # trains, loads the run back, splits
    assert summary["items"] == 32
    api.route(tmp_path / "run", f"npz:{npz}", tmp_path / "routed.csv")
    assert len((tmp_path / "routed.csv").read_text().splitlines()) == 33
    from semready.teacher import backbones

    del backbones._REGISTRY["tests-tiny"]  # as in another process
    with pytest.raises(SemreadyError) as exc:
        load_run(tmp_path / "run", "cpu")
    assert "register_backbone('tests-tiny', module)" in one_line(exc)


def test_a_resnet18_run_on_items_above_64_px_trains_and_loads_with_the_imagenet_stem(images, tmp_path):
    big = torch.nn.functional.interpolate(images[:16].float(), size=72, mode="bilinear").round().clamp(0, 255)
    np.savez(tmp_path / "big.npz", x=big.to(torch.uint8).permute(0, 2, 3, 1).numpy())
    cfg = tiny_cfg(tmp_path / "big.npz", encoder="resnet18", embed_dim=8)
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": 1, "warmup_epochs": 0})})
    api.train(tmp_path / "run", cfg, progress=False)  # data.image_size unset: the items' own 72 px decide
    assert _teacher_tensors(tmp_path / "run")["teacher.encoder.backbone.net.conv1.weight"].shape == (64, 3, 7, 7)
    run = load_run(tmp_path / "run", "cpu")  # rebuilt from the checkpoint's image shape, not from the config
    assert run.teacher.encoder.backbone.net.conv1.kernel_size == (7, 7)
