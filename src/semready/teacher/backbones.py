"""Backbones ψ: a small CNN sized for 2 CPU cores and a CIFAR-stem ResNet-18 for GPUs."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import resnet18


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
    """torchvision's ResNet-18 with the CIFAR stem (3×3 stride-1 conv, no max-pool) and no classifier.

    ``out_dim`` is 512; weights are randomly initialised (nothing is downloaded).
    """

    def __init__(self):
        super().__init__()
        net = resnet18(weights=None)
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


BACKBONES = ("small_cnn", "resnet18")


def build_backbone(name: str, width: int = 32) -> nn.Module:
    """A backbone ψ by name; it has an ``out_dim`` attribute (its feature size F).

    Args:
        name: one of :data:`BACKBONES`.
        width: the first block's channels of ``small_cnn`` (ignored by ``resnet18``).

    Returns:
        A module mapping images N×3×H×W to features N×F.

    >>> build_backbone("small_cnn", width=8)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 64])
    """
    builders = {"small_cnn": lambda: SmallCNN(width), "resnet18": CifarResNet18}
    return builders[name]()
