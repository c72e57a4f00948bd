"""Atomic file writes: a temporary file in the same directory, fsynced, then ``os.replace``; and safe reads.

A crash mid-write leaves the previous file (or none), never a half-written one. A process killed mid-write
(SIGKILL, power loss) can leave its temporary ``.NAME.*.tmp`` file behind: :func:`remove_stale_temps` clears
them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from semready.errors import SemreadyError

TEMP_GLOB = ".*.tmp"


def _writable_dir(path: Path) -> None:
    parent = path.parent
    if not parent.is_dir():
        what = "is a file" if parent.exists() else "does not exist"
        raise SemreadyError(f"cannot write {path}: its folder {parent} {what}; create the folder or choose "
                            "another path")
    if path.is_dir():
        raise SemreadyError(f"cannot write {path}: it is a directory; give a file path")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically.

    Args:
        path: the file to write; its folder must exist.

    Yields:
        The temporary file's path (created empty, with the mode ``open(path, "w")`` would give).
    """
    path = Path(path)
    _writable_dir(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except PermissionError:
        raise SemreadyError(f"cannot write {path}: {path.parent} is not writable; fix its permissions or "
                            "choose another output path") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, _mode_for(path))  # mkstemp's 0600 would make every output private
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
        _fsync_dir(path.parent)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; on success it is renamed to ``path``, on failure removed.

    Args:
        path: the folder to create; it must not exist yet, and its parent must.

    Yields:
        The temporary folder's path (empty).
    """
    path = Path(path)
    _writable_dir(path)
    if path.exists():
        raise SemreadyError(f"cannot write {path}: it already exists; choose a new path")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except PermissionError:
        raise SemreadyError(f"cannot write {path}: {path.parent} is not writable; fix its permissions or "
                            "choose another output path") from None
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        os.rename(tmp, path)
        _fsync_dir(path.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _mode_for(path: Path) -> int:
    """The mode a plain ``open(path, "w")`` would give: the old file's, or 0666 less the umask."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_text(path: str | Path) -> Iterator[TextIO]:
    """Like :func:`atomic_path`, yielding an open text file (no newline translation) instead of a path."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        yield fh


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_text(path) as fh:
        fh.write(text)


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON (keys in insertion order) atomically.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     write_json(Path(d) / "a.json", {"x": 1})
    ...     read_json(Path(d) / "a.json", "rewrite it")
    {'x': 1}
    """
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_with(path: str | Path, writer: Callable[[Path], None]) -> None:
    """Atomically write through a function that takes a file path (e.g. ``safetensors.torch.save_file``).

    Args:
        path: the file to write.
        writer: writes the content to the path it is given (a temporary file next to ``path``).
    """
    with atomic_path(path) as tmp:
        writer(tmp)


def read_json(path: str | Path, fix: str) -> Any:
    """Parse a JSON file we wrote; a corrupt, binary or unreadable one is a one-line :class:`SemreadyError`.

    Args:
        path: the file.
        fix: the end of the error message (what the user should do).

    Returns:
        The parsed value.
    """
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise SemreadyError(f"{path} is corrupt (not JSON): {fix}") from None
    except OSError as exc:
        raise SemreadyError(f"cannot read {path} ({exc.strerror or exc}): {fix}") from None


def remove_stale_temps(folder: str | Path) -> int:
    """Delete the temporary files a killed write left in ``folder``.

    Args:
        folder: the folder (matching :data:`TEMP_GLOB`, not recursive).

    Returns:
        How many files were deleted.
    """
    n = 0
    for p in Path(folder).glob(TEMP_GLOB):
        if p.is_file():
            p.unlink(missing_ok=True)
            n += 1
    return n
