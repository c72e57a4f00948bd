"""A language on disk: ``PATH.safetensors`` (its tensors) and ``PATH.json`` (its metadata), each written
atomically and read back with one-line errors — for the linear (:mod:`semready.comm.language`) and the learned
(:mod:`semready.comm.learned_language`) language alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from semready import io
from semready.errors import SemreadyError


def save_language_files(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Write ``path``.safetensors and ``path``.json, each atomically.

    Args:
        path: the language's path without a suffix.
        tensors: name -> tensor.
        meta: JSON-serialisable metadata (its ``format`` and ``format_version`` are checked on load).
    """
    path = Path(path)
    io.write_with(path.with_suffix(".safetensors"),
                  lambda p: save_file({k: v.contiguous() for k, v in tensors.items()}, str(p)))
    io.write_json(path.with_suffix(".json"), meta)


def load_language_files(path: str | Path, fmt: str, version: int, noun: str,
                        fix: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read what :func:`save_language_files` wrote; missing, foreign or other-version files are refused in one line.

    Args:
        path: the language's path without a suffix.
        fmt, version: the ``format`` and ``format_version`` the metadata must carry.
        noun: what the files hold, for the messages (``semantic language``, ``learned language``).
        fix: the fix every message ends with.

    Returns:
        (tensors, metadata).
    """
    from semready.teacher.checkpoint import read_tensors

    path = Path(path)
    meta_path, tensor_path = path.with_suffix(".json"), path.with_suffix(".safetensors")
    if not meta_path.is_file() or not tensor_path.is_file():
        raise SemreadyError(f"no {noun} at {path} (.json + .safetensors): {fix}")
    meta = io.read_json(meta_path, fix)
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        raise SemreadyError(f"{meta_path} is not a {noun}: {fix}")
    if meta.get("format_version") != version:
        raise SemreadyError(f"{meta_path} is {noun} format {meta.get('format_version')}, this semready reads "
                            f"{version}: {fix}")
    tensors, _ = read_tensors(tensor_path, fix)
    return tensors, meta


__all__ = ["load_language_files", "save_language_files"]
