"""Backbones ψ: a small CNN sized for 2 CPU cores, ResNet-18 (CIFAR stem for small items), any torchvision or timm
classification architecture by name, and modules registered from Python. Local weights files load here too
(:mod:`semready.teacher.weights`).

Naming (``model.encoder``): ``small_cnn``, ``resnet18``, ``torchvision:NAME`` (e.g. ``torchvision:resnet50``),
``timm:NAME`` (needs ``pip install timm``), ``module:NAME`` (a module given to :func:`register_backbone`).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torchvision.models import resnet18

from semready.backbone_names import BACKBONE_NAMING, check_backbone_name
from semready.errors import SemreadyError

# the stem switch of ``resnet18`` under ``model.stem: auto``: CIFAR stem up to this side, ImageNet stem above
CIFAR_STEM_MAX = 64
_REGISTRY: dict[str, nn.Module] = {}


def _block(c_in: int, c_out: int, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class SmallCNN(nn.Module):
    """Four conv blocks (width w, 2w, 4w, 8w), max-pooled, then global average pooling -> 8w features.

    Args:
        width: w, the channels of the first block.

    >>> SmallCNN(width=4)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 32])
    """

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.body = nn.Sequential(
            _block(3, w, pool=True), _block(w, 2 * w, pool=True), _block(2 * w, 4 * w, pool=True),
            _block(4 * w, 8 * w, pool=False),
        )
        self.out_dim = 8 * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of a batch.

        Args:
            x: images, float N×3×H×W.

        Returns:
            float N×8w.
        """
        return self.body(x).mean(dim=(2, 3))


class CifarResNet18(nn.Module):
    """torchvision's ResNet-18 without its classifier, with the CIFAR stem (3×3 stride-1 conv, no max-pool) or
    the standard ImageNet stem (7×7 stride-2 conv, max-pool) for larger items.

    ``out_dim`` is 512; weights are randomly initialised (nothing is downloaded).

    Args:
        stem: ``cifar`` or ``imagenet``.

    >>> CifarResNet18("imagenet").net.conv1.kernel_size
    (7, 7)
    """

    def __init__(self, stem: str = "cifar"):
        super().__init__()
        net = resnet18(weights=None)
        if stem == "cifar":
            net.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        net.fc = nn.Identity()
        self.net = net
        self.out_dim = 512

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of a batch.

        Args:
            x: images, float N×3×H×W.

        Returns:
            float N×512.
        """
        return self.net(x)


def register_backbone(name: str, module: nn.Module) -> str:
    """Make ``module`` buildable by name, so configs (and the runs they describe) can use it.

    Every teacher built from the name gets its own deep copy, starting from the module's current weights; a run
    that uses it can be loaded again (routing, splitting, resuming) only in a process that registered it.

    Args:
        name: letters, digits, ``_ . -``.
        module: maps images float N×3×H×W to features N×F.

    Returns:
        The ``model.encoder`` value, ``module:NAME``.

    >>> register_backbone("tiny", nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()))
    'module:tiny'
    """
    if not isinstance(module, nn.Module):
        raise SemreadyError(f"register_backbone({name!r}, ...) got a {type(module).__name__}: pass a torch.nn.Module")
    full = check_backbone_name(f"module:{name}")
    _REGISTRY[name] = module
    return full


def resnet_stem(stem: str, image_size: int | None) -> str:
    """The ``resnet18`` stem: ``stem`` unless ``auto``, which picks ``cifar`` for items of at most
    :data:`CIFAR_STEM_MAX` px (or of unknown size) and ``imagenet`` above.

    >>> resnet_stem("auto", 32), resnet_stem("auto", 96), resnet_stem("cifar", 224)
    ('cifar', 'imagenet', 'cifar')
    """
    if stem != "auto":
        return stem
    return "imagenet" if image_size is not None and image_size > CIFAR_STEM_MAX else "cifar"


def _drop_linear_head(net: nn.Module, name: str) -> nn.Module:
    """Replace the last ``nn.Linear`` (torchvision registers the classifier last) by an identity; record the
    feature width it took and its name (a weights file's head keys are ignored, :mod:`semready.teacher.weights`)."""
    linears = [(n, m) for n, m in net.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise SemreadyError(f"backbone {name!r} has no linear classifier to remove: choose another architecture "
                            "or pass your own module (backbone=...)")
    head, linear = linears[-1]
    parent, _, child = head.rpartition(".")
    setattr(net.get_submodule(parent) if parent else net, child, nn.Identity())
    net.out_dim = linear.in_features
    net.head_name = head
    return net


def _torchvision(name: str, arch: str, image_size: int | None) -> nn.Module:
    from torchvision import models

    # Inception-style models otherwise return auxiliary outputs in train mode
    extra = {"aux_logits": False, "init_weights": True} if arch in ("googlenet", "inception_v3") else {}
    net = _drop_linear_head(models.get_model(arch, weights=None, **extra), name)
    fixed = getattr(net, "image_size", None)  # ViTs take one input size only
    if isinstance(fixed, int) and image_size is not None and image_size != fixed:
        raise SemreadyError(f"backbone {name!r} takes {fixed}×{fixed} items but the data is {image_size} px: set "
                            f"data.image_size: {fixed} (--image-size {fixed})")
    return net


def _timm(name: str, arch: str) -> nn.Module:
    try:
        import timm
    except ImportError:
        raise SemreadyError(f"backbone {name!r} needs timm, which is not installed: pip install timm") from None
    if not timm.is_model(arch):
        raise SemreadyError(f"unknown backbone {name!r}: timm has no model {arch!r} (see timm.list_models()); "
                            f"name one as {BACKBONE_NAMING}")
    net = timm.create_model(arch, pretrained=False, num_classes=0)
    net.out_dim = getattr(net, "head_hidden_size", None) or net.num_features
    net.head_name = (getattr(net, "pretrained_cfg", None) or {}).get("classifier")
    return net


def build_backbone(name: str, width: int = 32, *, image_size: int | None = None, stem: str = "auto") -> nn.Module:
    """A backbone ψ by name, randomly initialised (nothing is downloaded); it has an ``out_dim`` attribute (its
    feature size F).

    Args:
        name: see :data:`~semready.backbone_names.BACKBONE_NAMING`.
        width: the first block's channels of ``small_cnn`` (ignored by the others).
        image_size: the items' side in px, when known: picks ``resnet18``'s stem (:func:`resnet_stem`) and checks
            architectures that take one input size.
        stem: ``auto``, ``cifar`` or ``imagenet`` (``resnet18`` only).

    Returns:
        A module mapping images N×3×H×W to features N×F.

    >>> build_backbone("small_cnn", width=8)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 64])
    >>> build_backbone("torchvision:mobilenet_v3_small").out_dim  # the classifier's last Linear removed
    1024
    """
    kind, _, arch = check_backbone_name(name).partition(":")
    if name == "small_cnn":
        return SmallCNN(width)
    if name == "resnet18":
        return CifarResNet18(resnet_stem(stem, image_size))
    if kind == "torchvision":
        return _torchvision(name, arch, image_size)
    if kind == "timm":
        return _timm(name, arch)
    if arch not in _REGISTRY:
        raise SemreadyError(f"backbone {name!r} is not registered in this process: call "
                            f"semready.register_backbone({arch!r}, module) first")
    return copy.deepcopy(_REGISTRY[arch])


def feature_width(backbone: nn.Module, image_size: int | None = None) -> int:
    """F, the backbone's feature size: its ``out_dim`` attribute, else measured by one forward pass of a zero
    batch 2×3×S×S in eval mode (no gradient; the module's mode and BatchNorm statistics are left as they were).

    Args:
        backbone: maps images N×3×H×W to features N×F.
        image_size: S (default 32).

    Returns:
        F.

    >>> feature_width(nn.Sequential(nn.Conv2d(3, 5, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()))
    5
    """
    if isinstance(getattr(backbone, "out_dim", None), int):
        return backbone.out_dim
    side = image_size or 32
    p = next(backbone.parameters(), None)
    was_training = backbone.training
    backbone.eval()
    try:
        with torch.no_grad():
            out = backbone(torch.zeros(2, 3, side, side, device=p.device if p is not None else None))
    except Exception as exc:  # any failure of a user's module becomes one line
        text = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise SemreadyError(f"the backbone module fails on a 2×3×{side}×{side} batch ({text}): pass a module "
                            "that maps images N×3×H×W to features N×F") from None
    finally:
        backbone.train(was_training)
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise SemreadyError(f"the backbone module returns {shape} for a 2×3×{side}×{side} batch, not features N×F: "
                            "end it with pooling and flatten (e.g. nn.AdaptiveAvgPool2d(1), nn.Flatten())")
    return int(out.shape[1])
