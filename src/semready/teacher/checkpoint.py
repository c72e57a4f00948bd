"""Checkpoints: tensors in safetensors (no pickle, safe to load from anyone), the rest in JSON.

``checkpoint.safetensors`` holds the teacher (query and momentum encoders, cluster head, bank) under
``teacher.*``, the SGD momentum buffers under ``optim.<i>.momentum_buffer``, and — in its header metadata —
the JSON state: the position (completed epochs, steps), the per-epoch log and the data's shape. One atomic
rename therefore commits tensors and position together, so a crash at any instant leaves a checkpoint that
resumes exactly. ``state.json`` is a readable copy written after it; where the two disagree (a crash between
the renames) the checkpoint's own state wins.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from semready import io
from semready.errors import SemreadyError
from semready.rundir import RunDir

STATE_KEY = "semready_state"
FORMAT_VERSION = 1


def save_checkpoint(run_dir: Path, teacher: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
                    state: dict[str, Any]) -> None:
    """Write ``checkpoint.safetensors`` (tensors + state header) atomically, then ``state.json``.

    Args:
        run_dir: the run folder (must exist).
        teacher: the plain (not DDP-wrapped) teacher; saved under ``teacher.*``.
        optimizer: its SGD momentum buffers are saved under ``optim.<i>.momentum_buffer``; None saves none.
        state: the JSON-serialisable position and log (``format_version`` is added).

    >>> save_checkpoint(Path("runs/x"), teacher, optimizer, trainer.state())  # doctest: +SKIP
    """
    tensors = {f"teacher.{k}": v.detach().cpu().contiguous() for k, v in teacher.state_dict().items()}
    if optimizer is not None:
        for i, s in optimizer.state_dict()["state"].items():
            if s.get("momentum_buffer") is not None:
                tensors[f"optim.{i}.momentum_buffer"] = s["momentum_buffer"].detach().cpu().contiguous()
    full = {"format_version": FORMAT_VERSION, **state}
    meta = {STATE_KEY: json.dumps(full)}
    run = RunDir(run_dir)
    io.write_with(run.checkpoint, lambda p: save_file(tensors, str(p), metadata=meta))
    io.write_json(run.state, full)


SPLIT_MODEL_FIX = "re-split the run (`semready split RUN`) to write it again"


def write_model_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Write a small model's tensors (the split's regen and typicality models) to a safetensors file, atomically."""
    contiguous = {k: v.contiguous() for k, v in tensors.items()}
    io.write_with(path, lambda p: save_file(contiguous, str(p)))


def read_model_tensors(path: Path, kind: str, well_formed: Callable[[dict[str, torch.Tensor]], bool]
                       ) -> dict[str, torch.Tensor]:
    """The tensors of a file :func:`write_model_tensors` wrote, checked by ``well_formed``; a foreign, corrupt or
    malformed file is a one-line :class:`SemreadyError` naming ``kind`` and the fix (re-split the run).

    Args:
        path: the file.
        kind: what the file should hold, e.g. ``"regen model"``.
        well_formed: whether the tensors have the names and shapes the model needs (no KeyError escapes it).

    Returns:
        name -> tensor.
    """
    t, _ = read_tensors(path, SPLIT_MODEL_FIX)
    try:
        ok = well_formed(t)
    except KeyError:
        ok = False
    if not ok:
        raise SemreadyError(f"{path} is not a {kind} (wrong tensors): {SPLIT_MODEL_FIX}")
    return t


def read_tensors(path: Path, fix: str = "retrain") -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """All tensors and the header metadata of a safetensors file. Never unpickles.

    Args:
        path: the file.
        fix: the end of the error message (what the user should do).

    Returns:
        (name -> tensor, header metadata name -> text).

    Raises:
        SemreadyError: the file is not safetensors (a pickle, a truncated or foreign file).
    """
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as exc:
        line = " ".join(str(exc).split())[:120]
        raise SemreadyError(f"{path} is not a valid safetensors checkpoint ({line}); it may be truncated or "
                            f"not ours: {fix}") from None
    return tensors, meta


def _check_state(state: Any, source: str) -> dict[str, Any]:
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise SemreadyError(f"{source} has an unsupported format: it was written by another semready version; "
                            "retrain with this one")
    return state


def read_state(run_dir: Path) -> dict[str, Any]:
    """The run's ``state.json`` (position, per-epoch log, image shape), checked for this format version.

    Args:
        run_dir: the run folder.

    Returns:
        The state dict.
    """
    path = RunDir(run_dir).state
    if not path.is_file():
        raise SemreadyError(f"{run_dir} holds no trained teacher ({path.name} missing): run `semready train "
                            f"--out {run_dir}` first")
    state = io.read_json(path, "retrain or restore it from a backup")
    return _check_state(state, str(path))


def _missing(run_dir: Path) -> SemreadyError:
    run = RunDir(run_dir)
    if not run.state.is_file():
        return SemreadyError(f"{run_dir} holds no trained teacher ({run.checkpoint.name} missing): run `semready "
                             f"train --out {run_dir}` first")
    return SemreadyError(f"{run_dir} has no {run.checkpoint.name}: the run never finished an epoch; retrain it")


def _state_of(meta: dict[str, str], path: Path, run_dir: Path) -> dict[str, Any]:
    if STATE_KEY not in meta:  # a checkpoint without a state header: its state is in state.json
        return read_state(run_dir)
    try:
        state = json.loads(meta[STATE_KEY])
    except json.JSONDecodeError:
        raise SemreadyError(f"{path} holds a corrupt state header: retrain") from None
    return _check_state(state, str(path))


def peek_state(run_dir: Path) -> dict[str, Any]:
    """The checkpoint's state (position, log, image shape) without reading its tensors — what a teacher needs
    to know before it is built (e.g. the items' size, which picks ResNet-18's stem).

    Args:
        run_dir: the run folder.

    Returns:
        The state: from the checkpoint's header, else from ``state.json``.
    """
    path = RunDir(run_dir).checkpoint
    if not path.is_file():
        raise _missing(run_dir)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as exc:
        line = " ".join(str(exc).split())[:120]
        raise SemreadyError(f"{path} is not a valid safetensors checkpoint ({line}); it may be truncated or "
                            "not ours: retrain") from None
    return _state_of(meta, path, run_dir)


def load_checkpoint(run_dir: Path, teacher: torch.nn.Module,
                    optimizer: torch.optim.Optimizer | None = None) -> dict[str, Any]:
    """Restore tensors into ``teacher`` (and ``optimizer``); return the state. Never unpickles.

    Args:
        run_dir: the run folder.
        teacher: a teacher of the run's config (shapes must match exactly).
        optimizer: receives the saved SGD momentum buffers; None skips them.

    Returns:
        The state: from the checkpoint's header, else from ``state.json``.

    >>> state = load_checkpoint(Path("runs/demo"), Teacher.from_config(cfg))  # doctest: +SKIP
    """
    path = RunDir(run_dir).checkpoint
    if not path.is_file():
        raise _missing(run_dir)
    tensors, meta = read_tensors(path)
    state = _state_of(meta, path, run_dir)
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
