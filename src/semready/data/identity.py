"""What a run was trained on: its data spec with an absolute path, the data's size and a content hash.

A run trained on a file or a folder (``npz:``, ``bytes:``, ``folder:``, ``list:``, ``wds:``, a saved ``hf:PATH``)
records in config.yaml's ``data`` section
the absolute spec, ``size_bytes`` and ``sha256`` — of the file, or for a folder of every file under it (each file's
relative path, size and bytes, in sorted order; for a file list, of the list and of every file it names; for
``wds:``, of every shard the pattern matches). ``split``, ``export``, ``simulate`` and ``evaluate`` (on the run's
own data) then work from any working directory and refuse, in one line, data that changed since the training.
``sample`` (inside the package), ``cifar`` (checked by torchvision's md5 sums) and a Hub dataset ``hf:NAME`` record
no hash.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from semready.config import DataConfig
from semready.data.files import _shards, open_folder, open_list
from semready.data.sources import absolute_spec, parse_spec
from semready.errors import SemreadyError

_HASHED = ("npz", "bytes", "folder", "list", "wds", "hf")
_CHUNK = 1 << 20


def _file_digest(path: Path, h) -> int:
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return size


def fingerprint(spec: str) -> tuple[int, str] | None:
    """Size in bytes and sha256 (hex) of the file or folder a spec reads; None for ``sample`` and ``cifar``.

    Args:
        spec: a data spec.

    Returns:
        (size, sha256), or None where the source has no file of its own or the path does not exist.
    """
    scheme, args = parse_spec(absolute_spec(spec))
    if scheme not in _HASHED:
        return None
    root = Path(args[0])
    h = hashlib.sha256()
    if scheme == "wds":
        files = [(Path(f).name, Path(f)) for f in _shards(args[0])]
        return _files_digest(files, h) if files else None
    if root.is_file():
        size = _file_digest(root, h)
        if scheme == "list":
            try:
                listed = open_list(str(root)).files
            except SemreadyError:  # a listed file is gone: the list's own hash still tells the story
                return size, h.hexdigest()
            size += _files_digest([(f, Path(f)) for f in listed], h)[0]
        return size, h.hexdigest()
    if not root.is_dir():
        return None
    try:  # exactly the files the loader reads (images, hidden ones skipped, links followed), by their ids
        src = open_folder(str(root))
    except SemreadyError:  # no image in it: nothing of the run's data is there to hash
        return None
    return _files_digest(list(zip(src.ids, map(Path, src.files), strict=True)), h)


def _files_digest(files: list[tuple[str, Path]], h) -> tuple[int, str]:
    """Total size and the running sha256 ``h`` after each (name, file): name, size, the file's own sha256."""
    total = 0
    for name, f in files:
        h.update(name.encode() + b"\0")
        part = hashlib.sha256()
        n = _file_digest(f, part)
        h.update(f"{n}\0".encode() + part.digest())
        total += n
    return total, h.hexdigest()


def data_identity(data: DataConfig) -> DataConfig:
    """The data section with the spec's path made absolute and, for a file or folder, its size and sha256.

    Args:
        data: the config's data section (as the user wrote it).

    Returns:
        The section to record in config.yaml.
    """
    spec = absolute_spec(data.spec)
    fp = fingerprint(spec)
    size, sha = fp if fp is not None else (None, None)
    return data.model_copy(update={"spec": spec, "size_bytes": size, "sha256": sha})


def check_data_identity(data: DataConfig, run: str | Path) -> None:
    """Refuse, in one line, a run's data that is gone or changed since the run was trained.

    Args:
        data: the run's data section (config.yaml).
        run: the run folder (named in the message).
    """
    if data.sha256 is None:  # sample, cifar, or a run trained before hashes were recorded
        return
    fp = fingerprint(data.spec)
    fix = f"restore the data the run was trained on, or retrain the run (`semready train --out {run} --data ...`)"
    if fp is None:
        raise SemreadyError(f"the data of run {run}, {data.spec}, is gone: {fix}")
    size, sha = fp
    if (size, sha) != (data.size_bytes, data.sha256):
        what = f"{data.size_bytes} bytes then, {size} now" if size != data.size_bytes else \
            f"sha256 {data.sha256[:12]}... then, {sha[:12]}... now"
        raise SemreadyError(f"the data of run {run}, {data.spec}, changed since the run was trained ({what}): {fix}")


__all__ = ["check_data_identity", "data_identity", "fingerprint"]
