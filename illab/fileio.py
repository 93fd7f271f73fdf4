"""Files that are never half-written, and the one torch-threads switch.

Every file illab writes (datasets, cards, block files, saved methods, benchmark tables, experts)
goes through :func:`atomic_write`: the bytes go to a hidden temp file in the same folder
(``.<name>.<pid>.tmp<suffix>``), are flushed and fsynced, and only then renamed over the target
(``os.replace`` is atomic on POSIX). A crash, a full disk or a read-only folder leaves either the
old file or the new one, never a mix; the temp file is removed on failure, and
:func:`remove_stale_temps` clears those left by a process that was killed outright.

:func:`torch_threads` is the single place that sets torch's intra-op thread count;
:func:`sha256` is the one file digest (bundled experts' cards, Hub pins).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from pathlib import Path
from typing import Callable, IO, Iterator

TEMP_MARK = ".tmp"


def temp_path(path: str | os.PathLike) -> Path:
    """The hidden temp name used while writing ``path``: ``.<name>.<pid>.tmp<suffix>``."""
    path = Path(path)
    return path.with_name(f".{path.stem}.{os.getpid()}{TEMP_MARK}{path.suffix}")


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None] | bytes | str) -> Path:
    """Write ``path`` atomically.

    Args:
        path: the target file; its folder is created if missing.
        write: ``bytes`` or ``str`` (UTF-8) content, or a function ``write(f)`` that writes to the
            open binary file ``f`` (e.g. ``lambda f: np.savez(f, **arrays)``).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OSError: the folder cannot be created or written (disk full, read-only, permission); the
            temp file is removed and an existing ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as f:
            if isinstance(write, str):
                f.write(write.encode("utf-8"))
            elif isinstance(write, (bytes, bytearray)):
                f.write(write)
            else:
                write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


def remove_stale_temps(folder: str | os.PathLike, stem: str = "*") -> list[Path]:
    """Delete temp files (``.<stem>.<pid>.tmp*``) in ``folder`` whose writing process is gone.

    Files of a process that is still alive are kept (it may still be writing). Returns the
    removed paths.
    """
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for p in folder.glob(f".{stem}.*{TEMP_MARK}*"):
        parts = p.name.split(".")
        pid = next((int(x) for x in reversed(parts) if x.isdigit()), None)
        if pid is not None and pid != os.getpid() and _alive(pid):
            continue
        with contextlib.suppress(OSError):
            p.unlink()
            removed.append(p)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run torch on ``n`` intra-op threads inside the block, restoring the previous count after.

    illab's networks and batches are small: one thread avoids the synchronisation cost that
    makes a 64x64 MLP step several times slower with two threads on a busy 2-core machine.
    Only the main thread changes the setting (it is process-wide); worker threads run the block
    unchanged.
    """
    import torch

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def sha256(path: str | os.PathLike) -> str:
    """Hex sha256 digest (64 lowercase hex characters) of the file at ``path``, read in 1 MiB chunks.

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
