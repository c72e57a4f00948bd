"""Where the teacher runs: a device name resolved, or a one-line error when that device is absent."""

from __future__ import annotations

import torch

from semready.errors import SemreadyError


def resolve_device(name: str) -> torch.device:
    """A device name resolved to a :class:`torch.device`; an absent device is a one-line error.

    Args:
        name: ``auto`` (CUDA when visible, else the CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.

    Returns:
        The device.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SemreadyError(f"device {name!r} requested but no CUDA GPU is visible: use --device cpu")
        index = torch.device(name).index
        if index is not None and index >= torch.cuda.device_count():
            raise SemreadyError(f"device {name!r} requested but only {torch.cuda.device_count()} CUDA GPU(s) "
                                "are visible: pick another index")
    if name == "mps" and not torch.backends.mps.is_available():
        raise SemreadyError("device 'mps' requested but Apple's MPS backend is not available: use --device cpu")
    return torch.device(name)
