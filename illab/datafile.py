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
refuses an existing path unless ``overwrite=True`` and writes through a temp file + rename.
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
    returns = np.asarray(arrays["episode_returns"], dtype=np.float64)
    card = {
        "format": "illab-npz/1",
        **meta,
        "episodes": int(len(returns)),
        "transitions": int(len(arrays["rewards"])),
        "return_mean": float(returns.mean()) if len(returns) else None,
        "return_std": float(returns.std()) if len(returns) else None,
        "episode_seeds": [int(s) for s in arrays.get("episode_seeds", [])],
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "content_hash": content_hash(arrays),
    }
    return card


def write(path: str | os.PathLike, arrays: dict[str, np.ndarray], card: dict[str, Any] | None = None,
          overwrite: bool = False) -> Path:
    """Write ``arrays`` to ``path`` (``.npz``, uncompressed so it can be memory-mapped) and the card.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False (nothing is touched).
        ValueError: an object-dtype array (it could only be stored pickled).
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"dataset files end in .npz, got {path.name!r}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it, or choose another path")
    for key, a in arrays.items():
        if np.asarray(a).dtype == object:
            raise ValueError(f"array {key!r} has dtype object; convert it to a numeric or bool array")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    if card is not None:
        ctmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.json")
        ctmp.write_text(json.dumps(card, indent=2) + "\n")
        os.replace(ctmp, card_path(path))
    os.replace(tmp, path)
    return path


def read(path: str | os.PathLike, mmap: bool = True) -> dict[str, np.ndarray]:
    """Load a dataset file without unpickling; arrays are memory-mapped when possible.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a readable npz, or holds object (pickled) arrays.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset file not found: {path}")
    out: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = list(npz.files)
            for key in names:
                out[key] = npz[key] if not mmap else None
    except ValueError as err:
        raise ValueError(f"{path} holds pickled object arrays, which illab never loads (they can run code): "
                         f"{err}. Re-save the arrays with numeric dtypes.") from err
    except Exception as err:  # zipfile.BadZipFile, OSError, ...
        raise ValueError(f"{path} is not a readable .npz dataset file: {err}") from err
    if mmap:
        out = _mmap_npz(path, names)
    return out


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
                raise ValueError(f"{path}: array {key!r} has dtype object; illab never unpickles data")
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
    """The card of dataset ``path`` (``{}`` if it has none)."""
    p = card_path(path)
    return json.loads(p.read_text()) if p.exists() else {}


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
