"""The stock ``enjoy`` and ``collate`` functions of the Controller (IL-Datasets' API).

* ``enjoy(path, context, expert) -> bool`` records **one** episode to ``path`` and returns whether
  it is good enough to keep (return ≥ ``context.threshold``).
* ``collate(path, episode_files) -> bool`` puts episode (or block) files together into one dataset
  file at ``path`` plus its JSON card (:mod:`illab.datafile`).

Episode and block files use the dataset layout itself (a block file is a small dataset), so
collation is a concatenation. Every file is written atomically (temp file + rename): a killed run
leaves only whole files behind.
"""

from __future__ import annotations

import json
import os
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from illab import datafile
from illab.rollout import episodes_to_arrays, run_episodes

META = "meta.json"


@dataclass
class Context:
    """What ``enjoy`` needs to know about the episode it records (the seed's ``Context``).

    Attributes:
        index: episode index in the dataset (0-based).
        attempt: 0 for the first try; a rejected or failed episode is retried with ``attempt + 1``.
        seed: reset seed, ``illab.seeds.episode_seed(base_seed, index, "demonstrations", attempt)``.
        env_id, env_kwargs: the task.
        threshold: minimum return for the episode to be kept.
        messages: lines logged with :meth:`log` (kept instead of printing, as in the seed).
    """

    index: int
    attempt: int
    seed: int
    env_id: str
    env_kwargs: dict = field(default_factory=dict)
    threshold: float = -np.inf
    messages: list[str] = field(default_factory=list)

    def log(self, message: str) -> None:
        """Record a message for the run's report."""
        self.messages.append(str(message))


def save_episodes(path: str | os.PathLike, episodes, attempts=None) -> Path:
    """Atomically write episodes (a list of :class:`~illab.rollout.Episode`) to one ``.npz``."""
    arrays = episodes_to_arrays(episodes)
    if attempts is not None:
        arrays["episode_attempts"] = np.asarray(attempts, dtype=np.int64)
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)
    return path


def baseline_enjoy(path: str | os.PathLike, context: Context, expert: Any) -> bool:
    """Play one seeded episode with ``expert`` and save it to ``path``.

    Args:
        path: destination ``.npz`` of this episode.
        context: the episode's :class:`Context` (seed, task, threshold).
        expert: any :class:`~illab.policy.Policy`.

    Returns:
        True if the episode's return reaches ``context.threshold`` (the file is written either
        way, the Controller discards rejected files).
    """
    (episode,) = run_episodes(expert, context.env_id, [context.seed], n_envs=1, env_kwargs=context.env_kwargs)
    save_episodes(path, [episode], attempts=[context.attempt])
    context.log(f"episode {context.index} attempt {context.attempt}: return {episode.ret:.2f}")
    return bool(episode.ret >= context.threshold)


def read_meta(folder: str | os.PathLike) -> dict[str, Any]:
    """The run metadata the Controller stores beside the episode files (``{}`` if none)."""
    p = Path(folder) / META
    return json.loads(p.read_text()) if p.exists() else {}


def baseline_collate(path: str | os.PathLike, episode_files: list[str]) -> bool:
    """Concatenate episode/block files (in the given order) into the dataset ``path`` + card.

    The card takes its metadata (env id, expert, base seed, spaces) from the ``meta.json`` the
    Controller writes beside the episode files.

    Raises:
        ValueError: no episode files.
        FileExistsError: ``path`` exists (the Controller deletes nothing; pass ``overwrite=True``
            to the Controller to replace a dataset).
    """
    if not episode_files:
        raise ValueError("collate got no episode files: play episodes first (mode='play' or 'all')")
    parts = [datafile.read(f, mmap=False) for f in episode_files]
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in datafile.KEYS}
    meta = read_meta(Path(episode_files[0]).parent)
    overwrite = bool(meta.pop("_overwrite", False))
    card = datafile.make_card(arrays, **meta)
    datafile.write(path, arrays, card, overwrite=overwrite)
    return True


def format_exception(err: BaseException) -> str:
    """Traceback text of ``err`` (for the run report)."""
    return "".join(traceback.format_exception(type(err), err, err.__traceback__))
