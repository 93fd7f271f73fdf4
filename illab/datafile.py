"""The dataset file: one ``.npz`` of arrays plus a JSON card beside it, written atomically.

Layout (T = total steps, E = episodes; the seed's five keys first)::

    obs              (T, *obs_shape)  float32 (Box)      observation before each action
    actions          (T,) int64 | (T, *act_shape) float32 action taken
    rewards          (T,) float32                          reward after the action
    episode_returns  (E,) float64                          undiscounted return per episode
    episode_starts   (T,) bool                             True at each episode's first step
    next_obs         (T, *obs_shape)  float32             observation after the action
    terminated       (T,) bool, truncated (T,) bool        gymnasium's end flags
    episode_lengths  (E,) int64, episode_seeds (E,) int64  per-episode length and reset seed

The card (``<name>.json``) holds env id, expert id and sha256, base seed, counts, mean ± std
return, package versions, creation time and the content hash of the arrays.

Files are never unpickled (``allow_pickle=False``) and never silently replaced: :func:`write`
refuses an existing path unless ``overwrite=True``, writes the ``.npz`` and then the card (the
commit marker, recording the file's size and member CRC-32s) each through a temp file + rename,
and :func:`verify` refuses a corrupt file or a pair that was not written together.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

STEP_KEYS = ("obs", "actions", "rewards", "next_obs", "terminated", "truncated", "episode_starts")
EPISODE_KEYS = ("episode_returns", "episode_lengths", "episode_seeds")
KEYS = STEP_KEYS + EPISODE_KEYS


def card_path(path: str | os.PathLike) -> Path:
    """Path of the JSON card that belongs to dataset ``path`` (``x.npz`` → ``x.json``)."""
    return Path(path).with_suffix(".json")


def content_hash(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over keys, dtypes, shapes and bytes of the arrays (order-independent of dict order)."""
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def versions() -> dict[str, str]:
    """Versions of the packages that determine a dataset's content."""
    import gymnasium
    import stable_baselines3
    import torch

    from illab import __version__
    return {"illab": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "gymnasium": gymnasium.__version__, "stable_baselines3": stable_baselines3.__version__,
            "torch": torch.__version__}


def make_card(arrays: dict[str, np.ndarray], **meta: Any) -> dict[str, Any]:
    """Build a dataset card from the arrays plus metadata (env_id, expert_id, expert_sha256, seed, ...)."""
    return _card(arrays["episode_returns"], len(arrays["rewards"]), arrays.get("episode_seeds", []),
                 content_hash(arrays), meta)


def _card(returns, transitions: int, seeds, digest: str, meta: dict[str, Any]) -> dict[str, Any]:
    returns = np.asarray(returns, dtype=np.float64)
    return {
        "format": "illab-npz/1",
        **meta,
        "episodes": int(len(returns)),
        "transitions": int(transitions),
        "return_mean": float(returns.mean()) if len(returns) else None,
        "return_std": float(returns.std()) if len(returns) else None,
        "episode_seeds": [int(s) for s in seeds],
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "content_hash": digest,
    }


class DatasetError(ValueError):
    """A dataset file or array set is malformed, corrupt, or does not match its card; the message
    names the file (when there is one), every problem found and how to fix it."""


def write(path: str | os.PathLike, arrays: dict[str, np.ndarray], card: dict[str, Any] | None = None,
          overwrite: bool = False) -> Path:
    """Write ``arrays`` to ``path`` (``.npz``, uncompressed so it can be memory-mapped) and the card.

    The pair commits in order: the ``.npz`` is written atomically first, then the card, which
    records the new file's size and member CRC-32s (``card["file"]``) and is the commit marker.
    A crash between the two leaves the new ``.npz`` beside the old card (or none), and
    :func:`verify` refuses that pair instead of loading it. Temp files are removed on failure
    (disk full, read-only folder) and stale ones from killed runs are cleaned first.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False (nothing is touched).
        ValueError: not a ``.npz`` name, or an object-dtype array (it could only be stored pickled).
        OSError: the folder cannot be written (the previous pair, if any, is left as it was).
    """
    from illab.fileio import atomic_write, remove_stale_temps

    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"dataset files end in .npz, got {path.name!r}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it, or choose another path")
    for key, a in arrays.items():
        if np.asarray(a).dtype == object:
            raise ValueError(f"array {key!r} has dtype object; convert it to a numeric or bool array")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent, path.stem)
    if card is None and card_path(path).exists():
        card_path(path).unlink()  # a card left from a previous file would describe the wrong arrays
    atomic_write(path, lambda f: np.savez(f, **arrays))
    if card is not None:
        card = {**card, "file": file_record(path)}
        atomic_write(card_path(path), json.dumps(card, indent=2) + "\n")
    return path


def write_concatenated(path: str | os.PathLike, files: list[str | os.PathLike], meta: dict[str, Any] | None = None,
                       overwrite: bool = False) -> Path:
    """Concatenate the :data:`KEYS` arrays of dataset/block files (in order) into dataset ``path`` +
    card, streaming: peak memory is about one member of one file, not the dataset.

    Each member is written straight into the zip (``ZipFile.open(name, "w", force_zip64=True)``:
    the ``.npy`` header for the total shape, then each file's bytes in turn, read through
    ``np.load`` so every part's CRC-32 is checked). Members go in sorted key order, which lets the
    card's :func:`content_hash` be computed in the same pass. The result holds exactly the arrays
    (and, member for member, the bytes and CRC-32s) :func:`write` produces from the concatenated
    arrays, and commits the same way: the ``.npz`` through a temp file + rename, then the card.

    Args:
        path: the dataset ``.npz``. files: the parts, in order (each holds every key of
            :data:`KEYS`). meta: card metadata (env_id, expert_id, seed, ...).
        overwrite: replace an existing ``path``.

    Raises:
        ValueError: no files, or parts whose dtypes / trailing shapes disagree (naming both).
        FileExistsError, OSError: as :func:`write`; a failure part-way leaves no partial file.
        DatasetError: a part is unreadable or fails its CRC-32 check.
    """
    import zipfile

    from illab.fileio import atomic_write, remove_stale_temps

    path = Path(path)
    if not files:
        raise ValueError("no files to concatenate: record episodes first")
    if path.suffix != ".npz":
        raise ValueError(f"dataset files end in .npz, got {path.name!r}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it, or choose another path")
    layout: dict[str, tuple[np.dtype, tuple, int]] = {}
    for f in files:  # shapes and dtypes from the headers (memory-mapped: no data is read)
        for key, a in read(f).items():
            if key not in KEYS:
                continue
            dtype, tail, rows = layout.get(key, (a.dtype, a.shape[1:], 0))
            if (a.dtype, a.shape[1:]) != (dtype, tail):
                raise ValueError(f"{f}: array {key!r} is {a.dtype}{list(a.shape[1:])} per row, earlier parts are "
                                 f"{dtype}{list(tail)}; the files come from different runs")
            layout[key] = (dtype, tail, rows + len(a))
    missing = [k for k in KEYS if k not in layout]
    if missing:
        raise ValueError(f"{files[0]}: missing arrays {missing}; these are not illab episode/block files")
    small: dict[str, list[np.ndarray]] = {k: [] for k in ("episode_returns", "episode_seeds")}
    digest = hashlib.sha256()

    def parts(key: str):
        for f in files:
            try:
                with np.load(f, allow_pickle=False) as npz:
                    a = np.ascontiguousarray(npz[key])
            except (ValueError, OSError, zipfile.BadZipFile) as err:
                raise DatasetError(f"{f} is corrupt or unreadable ({type(err).__name__}: {err}); delete it and "
                                   "run mode='play' again to re-record that block") from err
            if key in small:
                small[key].append(a)
            yield a

    def stream(out) -> None:
        with zipfile.ZipFile(out, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for key in sorted(KEYS):
                dtype, tail, rows = layout[key]
                shape = (rows, *tail)
                digest.update(f"{key}|{dtype.str}|{shape}|".encode())
                with zf.open(key + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array_header_1_0(
                        member, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape})
                    for a in parts(key):
                        member.write(a.data)
                        digest.update(a.data)

    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent, path.stem)
    if card_path(path).exists():
        card_path(path).unlink()  # the old card would describe the wrong arrays (and the new file is not there yet)
    atomic_write(path, stream)
    card = _card(np.concatenate(small["episode_returns"]), layout["rewards"][2],
                 np.concatenate(small["episode_seeds"]), digest.hexdigest(), dict(meta or {}))
    card["file"] = file_record(path)
    atomic_write(card_path(path), json.dumps(card, indent=2) + "\n")
    return path


def file_record(path: str | os.PathLike) -> dict[str, Any]:
    """``{"name", "size", "members": {member: crc32}}`` of an npz, read from its zip directory (cheap)."""
    import zipfile
    path = Path(path)
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: int(i.CRC) for i in zf.infolist()}
    return {"name": path.name, "size": path.stat().st_size, "members": members}


def _not_npz(path: Path) -> DatasetError:
    return DatasetError(f"{path} is not an .npz dataset file (it does not start with a zip header: a text, .npy "
                        "or truncated file?). illab datasets are written by illab.datafile.write / the Controller; "
                        "re-collect it, or import other formats with illab.data.from_episodes")


def read(path: str | os.PathLike, mmap: bool = True) -> dict[str, np.ndarray]:
    """Load a dataset file without unpickling; arrays are memory-mapped when possible.

    Memory-mapped reads skip the zip CRC check: call :func:`verify` (``BaselineDataset`` does, on
    open) to prove the bytes are the ones written.

    Raises:
        FileNotFoundError: no such file.
        DatasetError (a ValueError): the file is not an npz, is unreadable, or holds object
            (pickled) arrays.
    """
    import zipfile
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset file not found: {path}")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; pass the dataset's .npz file inside it")
    if not zipfile.is_zipfile(path):
        raise _not_npz(path)
    out: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = list(npz.files)
            for key in names:
                out[key] = npz[key] if not mmap else None
    except ValueError as err:
        if "pickle" not in str(err):
            raise DatasetError(f"{path} is not a readable .npz dataset file: {err}") from err
        raise DatasetError(f"{path} holds pickled object arrays, which illab never loads (they can run code): "
                           f"{err}. Re-save the arrays with numeric dtypes.") from err
    except zipfile.BadZipFile as err:
        raise DatasetError(f"{path} is corrupt ({err}): bytes changed on disk; re-collect or re-download it, "
                           "or run illab.data.validate(path) for a full report") from err
    except Exception as err:  # OSError, ...
        raise DatasetError(f"{path} is not a readable .npz dataset file ({type(err).__name__}: {err}); "
                           "re-collect or re-download it") from err
    if mmap:
        try:
            out = _mmap_npz(path, names)
        except DatasetError:
            raise
        except zipfile.BadZipFile as err:  # a small member is read whole, and its CRC-32 fails
            raise DatasetError(f"{path} is corrupt ({err}): bytes changed on disk; re-collect or re-download it, "
                               "or run illab.data.validate(path) for a full report") from err
        except Exception as err:  # a damaged member header
            raise DatasetError(f"{path} is not a readable .npz dataset file ({type(err).__name__}: {err}); "
                               "re-collect or re-download it") from err
    return out


_VERIFIED: set[tuple] = set()


def _identity(path: Path) -> tuple:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)


def verify(path: str | os.PathLike, card: dict[str, Any] | None = None,
           arrays: dict[str, np.ndarray] | None = None) -> None:
    """Prove that dataset ``path`` holds the bytes its card describes; cached per file identity.

    Checks, in order of cost: the card's recorded file size and member CRC-32s against the zip
    directory (a mismatched pair: the ``.npz`` was replaced without its card, or a write was
    interrupted between the two), then every member's bytes against its CRC-32 (a flipped byte on
    disk). Cards written before the ``file`` record existed fall back to the sha256
    ``content_hash`` of the arrays. A file that passed is not re-read while its identity
    ``(path, size, mtime_ns, inode)`` and card are unchanged. A file without a card is only
    CRC-checked.

    Args:
        path: the ``.npz``. card: its card (read if ``None``). arrays: already-read arrays (used
            only for the ``content_hash`` fallback).

    Raises:
        DatasetError: naming the file, what does not match, and the fix (re-collect, re-download,
            or run ``illab.data.validate`` for a full report).
    """
    import zipfile
    path = Path(path)
    card = read_card(path) if card is None else card
    rec = card.get("file")
    key = _identity(path) + (json.dumps(rec, sort_keys=True), card.get("content_hash"))
    if key in _VERIFIED:
        return
    fix = ("re-collect it (Controller / illab collect with overwrite=True), re-download it, or run "
           "illab.data.validate(path) for a full report")
    if rec is not None:
        size = path.stat().st_size
        if rec.get("size") != size:
            raise DatasetError(f"{path} ({size} bytes) does not match its card {card_path(path).name}, which "
                               f"describes a {rec.get('size')}-byte file: the pair was not written together (an "
                               f"interrupted write, or one file replaced without the other); {fix}")
        with zipfile.ZipFile(path) as zf:
            actual = {i.filename: int(i.CRC) for i in zf.infolist()}
        if actual != rec.get("members"):
            diff = sorted(k for k in set(actual) | set(rec.get("members") or {})
                          if actual.get(k) != (rec.get("members") or {}).get(k))
            raise DatasetError(f"{path} does not match its card {card_path(path).name}: members {diff} differ "
                               f"from what the card recorded (the arrays were changed after writing); {fix}")
    if zipfile.is_zipfile(path):
        bad = _bad_member(path)
        if bad is not None:
            raise DatasetError(f"{path} is corrupt: member {bad} fails its CRC-32 check (bytes changed on disk); "
                               f"{fix}")
    if rec is None and card.get("content_hash"):
        arrays = read(path) if arrays is None else arrays
        if content_hash({k: np.asarray(v) for k, v in arrays.items()}) != card["content_hash"]:
            raise DatasetError(f"{path}: the arrays do not match the content hash in its card "
                               f"{card_path(path).name} (modified after it was written); {fix}")
    _VERIFIED.add(key)


def _bad_member(path: Path) -> str | None:
    """Name of the first member whose bytes fail their CRC-32, or None.

    Stored (uncompressed) members are checked with one ``zlib.crc32`` call over the memory-mapped
    bytes (C speed, no Python-level chunking); compressed ones through ``zipfile``.
    """
    import mmap
    import zipfile
    try:
        with zipfile.ZipFile(path) as zf, open(path, "rb") as f:
            infos = zf.infolist()
            if not infos or f.seek(0, 2) == 0:
                return None
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                view = memoryview(mm)
                try:
                    return _first_bad(zf, infos, mm, view)
                finally:
                    view.release()
    except zipfile.BadZipFile as err:  # zipfile's own CRC check of a compressed member
        return f"? ({err})"
    except (OSError, ValueError) as err:  # a damaged header
        return f"? ({type(err).__name__}: {err})"


def _first_bad(zf, infos, mm, view) -> str | None:
    import zipfile
    import zlib
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED:
            with zf.open(info) as member:  # zipfile checks the CRC-32 at the end
                while member.read(1 << 20):
                    pass
            continue
        n_name, n_extra = np.frombuffer(mm[info.header_offset + 26:info.header_offset + 30], "<u2")
        start = info.header_offset + 30 + int(n_name) + int(n_extra)
        if start + info.compress_size > len(mm):
            return f"{info.filename} (truncated)"
        if zlib.crc32(view[start:start + info.compress_size]) != info.CRC:
            return info.filename
    return None


def check_card_counts(path: str | os.PathLike, card: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Free check that the card's episode/transition counts match the arrays (a mismatched pair).

    Raises:
        DatasetError: naming both files and the fix.
    """
    E, T = len(arrays["episode_returns"]), len(arrays["rewards"])
    if ("episodes" in card and card["episodes"] != E) or ("transitions" in card and card["transitions"] != T):
        raise DatasetError(f"{path} holds {E} episodes / {T} transitions but its card {card_path(path).name} says "
                           f"{card.get('episodes')} / {card.get('transitions')}: the two files do not belong "
                           "together (an interrupted write?); re-collect with overwrite=True, or delete the card "
                           "and run illab.data.validate(path)")


def _mmap_npz(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    """Memory-map each member of an uncompressed npz (falls back to loading compressed members)."""
    import zipfile
    out = {}
    with zipfile.ZipFile(path) as zf, np.load(path, allow_pickle=False) as npz:
        for key in names:
            info = zf.getinfo(key + ".npy")
            if info.compress_type != zipfile.ZIP_STORED:
                out[key] = npz[key]
                continue
            with zf.open(info) as member:
                version = np.lib.format.read_magic(member)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(member)
                header_len = member.tell()
            if dtype.hasobject:
                raise DatasetError(f"{path}: array {key!r} has dtype object; illab never unpickles data")
            # local file header: 30 bytes + name + extra, then the member's data
            with open(path, "rb") as f:
                f.seek(info.header_offset + 26)
                n_name, n_extra = np.frombuffer(f.read(4), dtype="<u2")
            offset = info.header_offset + 30 + int(n_name) + int(n_extra) + header_len
            if int(np.prod(shape)) == 0:
                out[key] = np.zeros(shape, dtype=dtype)
            else:
                out[key] = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                                     order="F" if fortran else "C")
    return out


def read_card(path: str | os.PathLike) -> dict[str, Any]:
    """The card of dataset ``path`` (``{}`` if it has none).

    Raises:
        DatasetError: the card is not a JSON object (truncated or edited), naming the file.
    """
    p = card_path(path)
    if not p.exists():
        return {}
    try:
        card = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DatasetError(f"the dataset card {p} is not valid JSON ({err}): it was truncated or edited. "
                           f"Re-collect the dataset (overwrite=True), or delete {p.name} to load the arrays "
                           "without a card") from None
    if not isinstance(card, dict):
        raise DatasetError(f"the dataset card {p} holds a JSON {type(card).__name__}, not an object; re-collect "
                           f"the dataset or delete {p.name}")
    return card


def space_to_json(space) -> dict[str, Any]:
    """A gymnasium ``Box`` or ``Discrete`` space as a JSON-able dict (stored in dataset cards)."""
    import gymnasium as gym
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, gym.spaces.Box):
        return {"type": "Box", "shape": list(space.shape), "dtype": str(space.dtype),
                "low": np.asarray(space.low, dtype=np.float64).tolist(),
                "high": np.asarray(space.high, dtype=np.float64).tolist()}
    raise TypeError(f"only Box and Discrete spaces are supported in dataset cards, got {type(space).__name__}")


def space_from_json(d: dict[str, Any]):
    """Inverse of :func:`space_to_json` (infinite bounds round-trip through JSON as ``Infinity``)."""
    import gymnasium as gym
    if d["type"] == "Discrete":
        return gym.spaces.Discrete(d["n"], start=d.get("start", 0))
    if d["type"] == "Box":
        return gym.spaces.Box(np.asarray(d["low"], dtype=d["dtype"]), np.asarray(d["high"], dtype=d["dtype"]),
                              shape=tuple(d["shape"]), dtype=d["dtype"])
    raise ValueError(f"unknown space type {d.get('type')!r} in dataset card")
