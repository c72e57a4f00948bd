"""Local weights for a backbone (``model.weights``): a safetensors file or a ``torch.save``'d state dict, read
without unpickling arbitrary objects (``torch.load(weights_only=True)``), checked against the architecture
before anything is copied.

>>> load_backbone_weights(backbone, "resnet50.safetensors", "torchvision:resnet50")  # doctest: +SKIP
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from semready.errors import SemreadyError

_SAVE_HINT = "save the weights with torch.save(module.state_dict(), PATH) or safetensors.torch.save_file"
# wrappers training scripts commonly put around a state dict
_WRAPPERS = ("state_dict", "model")


def _line(exc: BaseException) -> str:
    return (" ".join(str(exc).split()) or type(exc).__name__)[:120]


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, never unpickling objects.

    A ``.safetensors`` file (or any file in that format) is read with safetensors; anything else with
    ``torch.load(weights_only=True)``. A ``{"state_dict": ...}`` or ``{"model": ...}`` wrapper is unwrapped and a
    ``module.`` prefix (DistributedDataParallel) removed.

    Args:
        path: the file.

    Returns:
        name -> tensor, on the CPU.

    Raises:
        SemreadyError: a missing file, a pickled module or other object, a file that is no weights file.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        what = "is a directory" if p.is_dir() else "does not exist"
        raise SemreadyError(f"model.weights {p} {what}: check the path")
    with open(p, "rb") as fh:
        head = fh.read(16)
    if p.suffix == ".safetensors" or head[8:9] == b"{":  # safetensors: 8-byte header length, then JSON
        try:
            return load_file(str(p), device="cpu")
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise SemreadyError(f"model.weights {p} is not a valid safetensors file ({_line(exc)}): "
                                f"{_SAVE_HINT}") from None
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower():
            raise SemreadyError(f"model.weights {p} holds pickled Python objects (e.g. a whole module), which "
                                f"semready does not unpickle: {_SAVE_HINT}") from None
        raise SemreadyError(f"model.weights {p} is not a weights file ({_line(exc)}): {_SAVE_HINT}") from None
    except Exception as exc:  # a damaged file makes the (safe) unpickler fail in many ways: all one line
        raise SemreadyError(f"model.weights {p} is not a weights file ({_line(exc)}): {_SAVE_HINT}") from None
    if isinstance(obj, dict):
        for key in _WRAPPERS:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise SemreadyError(f"model.weights {p} holds a {type(obj).__name__}, not a state dict of tensors: "
                            f"{_SAVE_HINT}")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def _mismatch(expected: dict[str, torch.Tensor], given: dict[str, torch.Tensor]) -> str:
    """What keeps ``given`` from fitting ``expected``, in a few words ("" when it fits)."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    shaped = [k for k in expected if k in given and tuple(given[k].shape) != tuple(expected[k].shape)]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    if shaped:
        k = shaped[0]
        parts.append(f"{len(shaped)} of another shape (e.g. {k}: {list(given[k].shape)} in the file, "
                     f"{list(expected[k].shape)} in the backbone)")
    return ", ".join(parts)


@torch.no_grad()
def load_backbone_weights(backbone: nn.Module, path: str | Path, name: str = "backbone") -> None:
    """Copy a weights file into ``backbone`` in place, all tensors or none.

    Keys of the classifier the backbone dropped (its ``head_name``, e.g. ``fc`` of a torchvision ResNet) are
    ignored, so a full classification checkpoint of the same architecture loads.

    Args:
        backbone: the module (from :func:`~semready.teacher.backbones.build_backbone`, or your own).
        path: a safetensors or ``torch.save``'d state dict file (:func:`read_state_dict`).
        name: the backbone's name, for messages.

    Raises:
        SemreadyError: the file cannot be read safely, or its tensors do not fit the architecture.
    """
    state = read_state_dict(path)
    head = getattr(backbone, "head_name", None)
    if head:
        state = {k: v for k, v in state.items() if not k.startswith(f"{head}.")}
    expected = backbone.state_dict()
    problem = _mismatch(expected, state)
    if problem:
        raise SemreadyError(f"model.weights {path} does not fit the backbone {name} ({problem}): pass weights "
                            "saved from the same architecture, or set model.encoder to the one they were saved from")
    backbone.load_state_dict(state, strict=True)


__all__ = ["load_backbone_weights", "read_state_dict"]
