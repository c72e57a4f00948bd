"""Checkpoints: tensors in safetensors (no pickle, safe to load from anyone), the rest in JSON.

``checkpoint.safetensors`` holds the teacher (query and momentum encoders, cluster head, bank) under
``teacher.*`` and the SGD momentum buffers under ``optim.<i>.momentum_buffer``; ``state.json`` holds the
position (completed epochs, steps), the learning rate and the per-epoch log. Both are written atomically,
the tensors first, so a ``state.json`` always describes a complete tensor file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from semready import io
from semready.errors import SemreadyError

CHECKPOINT = "checkpoint.safetensors"
STATE = "state.json"
FORMAT_VERSION = 1


def save_checkpoint(run_dir: Path, teacher: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
                    state: dict[str, Any]) -> None:
    tensors = {f"teacher.{k}": v.detach().cpu().contiguous() for k, v in teacher.state_dict().items()}
    if optimizer is not None:
        for i, s in optimizer.state_dict()["state"].items():
            if s.get("momentum_buffer") is not None:
                tensors[f"optim.{i}.momentum_buffer"] = s["momentum_buffer"].detach().cpu().contiguous()
    io.write_with(run_dir / CHECKPOINT, lambda p: save_file(tensors, str(p)))
    io.write_json(run_dir / STATE, {"format_version": FORMAT_VERSION, **state})


def read_state(run_dir: Path) -> dict[str, Any]:
    path = run_dir / STATE
    if not path.is_file():
        raise SemreadyError(f"{run_dir} holds no trained teacher ({STATE} missing): run `semready train "
                            f"--out {run_dir}` first")
    try:
        state = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SemreadyError(f"{path} is corrupt (not JSON): retrain or restore it from a backup") from None
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise SemreadyError(f"{path} has an unsupported format: it was written by another semready version")
    return state


def load_checkpoint(run_dir: Path, teacher: torch.nn.Module,
                    optimizer: torch.optim.Optimizer | None = None) -> dict[str, Any]:
    """Restore tensors into ``teacher`` (and ``optimizer``); return the JSON state. Never unpickles."""
    state = read_state(run_dir)
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise SemreadyError(f"{run_dir} has no {CHECKPOINT}: the run never finished an epoch; retrain it")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise SemreadyError(f"{path} is not a valid safetensors checkpoint ({exc}); it may be truncated or "
                            "not ours: retrain") from None
    model_sd = {k[len("teacher."):]: v for k, v in tensors.items() if k.startswith("teacher.")}
    try:
        teacher.load_state_dict(model_sd, strict=True)
    except RuntimeError:
        raise SemreadyError(f"{path} does not match the run's config.yaml (different model shape): "
                            "use the config it was trained with") from None
    if optimizer is not None:
        sd = optimizer.state_dict()
        for i in range(len(sd["param_groups"][0]["params"])):
            buf = tensors.get(f"optim.{i}.momentum_buffer")
            if buf is not None:
                sd["state"][i] = {"momentum_buffer": buf}
        optimizer.load_state_dict(sd)
    return state
