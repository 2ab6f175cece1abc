"""Files and directories that land whole, or not at all.

A file is written to a temporary name beside it, flushed and fsynced, renamed over the target, and
the directory is fsynced so the rename itself survives a power cut: a reader (or a resume after a
SIGKILL) sees the old file or the new one, never half of one. A directory (a model export) is built
as a sibling, then swapped in with two renames; :func:`heal_dir` finishes or undoes a swap a crash
interrupted, so the previous export stays whole.

A full disk surfaces as an ``OSError`` whose ``filename`` names the file being written (the
temporary file is removed); :func:`no_space_error` turns it into gankit's one-line error.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gankit.errors import GankitError

NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
TMP = ".tmp-"  # marks a temporary name: ``.<name>.tmp-<pid>``; never listed as a result


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new file in ``directory`` durable (a no-op where directories can't be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on a directory: the rename is still atomic
        pass
    finally:
        os.close(fd)


def _write_fd(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def write_bytes(path: Path, data: bytes, sync: bool = True) -> None:
    """``path`` holds ``data`` or what it held before, whatever happens meanwhile. ``sync=False``
    keeps the rename (safe against a killed process) but skips fsync (not against a power cut)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}{TMP}{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_fd(fd, data)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)  # a half-written temporary file must not fill the disk further
        e.filename = str(path)  # the file the user knows, not the temporary name
        raise
    if sync:
        fsync_dir(path.parent)


def write_text(path: Path, text: str, sync: bool = True) -> None:
    write_bytes(path, text.encode(), sync)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fsync_tree(directory: Path) -> None:
    """fsync every file under ``directory`` and the directories themselves (files written by other
    libraries, e.g. safetensors, are flushed here before the directory is swapped in)."""
    for root, _, files in os.walk(directory):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(root))


def _siblings(target: Path) -> tuple[Path, Path]:
    return target.with_name(f"{target.name}.new"), target.with_name(f"{target.name}.old")


def heal_dir(target: Path) -> None:
    """Finish what a crash during :func:`replace_dir` left: a lone ``.old`` is put back (the new one
    never landed), a stray ``.new`` (never swapped in) or ``.old`` (already replaced) is removed."""
    new, old = _siblings(target)
    if old.is_dir():
        if target.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(old, target)
    if new.is_dir():
        shutil.rmtree(new, ignore_errors=True)


def remove_temporaries(directory: Path) -> None:
    """Delete the temporary files a killed process left in ``directory`` (never a finished file)."""
    for stale in Path(directory).glob(f".*{TMP}*"):
        if stale.is_file():
            stale.unlink(missing_ok=True)


def readable_dir(target: Path) -> Path:
    """Where a reader finds ``target``'s content: ``target``, or its ``.old`` while a swap is cut short."""
    old = _siblings(target)[1]
    return old if not target.exists() and old.is_dir() else target


@contextmanager
def replace_dir(target: Path) -> Iterator[Path]:
    """Yield an empty staging directory; when the block ends, it replaces ``target`` whole. If the
    block raises, ``target`` is left as it was and the staging directory is removed."""
    target = Path(target)
    heal_dir(target)
    new, old = _siblings(target)
    new.mkdir(parents=True)
    try:
        yield new
        fsync_tree(new)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    if target.exists():
        os.replace(target, old)  # a crash from here until the next rename: readers use .old
    os.replace(new, target)
    fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)


def mount_point(path: Path) -> Path:
    """The mount point of the filesystem holding ``path`` (what a full disk is named by)."""
    p = Path(path).resolve()
    while not p.exists():
        p = p.parent
    dev = p.stat().st_dev
    while p.parent != p and p.parent.stat().st_dev == dev:
        p = p.parent
    return p


def is_no_space(e: BaseException) -> bool:
    return isinstance(e, OSError) and e.errno in NO_SPACE


def no_space_error(e: OSError, then: str) -> GankitError:
    """``no space left on <mount> while writing <file>; free space and <then>`` as one line."""
    where = Path(e.filename) if e.filename else Path.cwd()
    return GankitError(f"no space left on {mount_point(where)} while writing {where}; free space and {then}")
