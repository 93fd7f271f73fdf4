"""The ``enjoy`` and ``collate`` protocols of the Controller (IL-Datasets' API) and the stock ones.

* :class:`EnjoyFunction` — ``enjoy(path, context, expert) -> bool`` records **exactly one**
  episode to ``path`` and returns whether it is good enough to keep (return ≥
  ``context.threshold``). The Controller counts what it keeps: a file with another number of
  episodes is an error of that attempt.
* :class:`CollateFunction` — ``collate(path, episode_files) -> bool`` puts episode (or block)
  files together into one dataset file at ``path`` plus its JSON card (:mod:`illab.datafile`).
* :class:`BatchedEnjoy` — the capability that switches on the Controller's fast path: an enjoy
  that can also play a whole block of seeded episodes in lockstep (``play_block``). The stock
  :data:`baseline_enjoy` has it; a function that wraps it does not (the wrapper is a plain
  :class:`EnjoyFunction`, so it is called once per episode, as written). The capability is
  checked with ``isinstance(enjoy, BatchedEnjoy)``, never by identity.

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
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from illab import datafile
from illab.fileio import atomic_write
from illab.rollout import Episode, episodes_to_arrays, run_episodes

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


@runtime_checkable
class EnjoyFunction(Protocol):
    """Records one episode: ``enjoy(path, context, expert) -> bool`` (IL-Datasets' ``EnjoyFunction``).

    Writes exactly one episode in the dataset layout to ``path`` (``.npz``) and returns True to
    keep it. Raising an exception or returning False makes the Controller retry the same index
    with the next attempt's seed.
    """

    def __call__(self, path: str, context: Context, expert: Any) -> bool:
        ...


@runtime_checkable
class CollateFunction(Protocol):
    """Builds the dataset: ``collate(path, episode_files) -> bool`` (IL-Datasets' ``CollateFunction``).

    ``episode_files`` are in episode-index order; the dataset file and its card go to ``path``.
    """

    def __call__(self, path: str, episode_files: list[str]) -> bool:
        ...


@runtime_checkable
class BatchedEnjoy(EnjoyFunction, Protocol):
    """An :class:`EnjoyFunction` that can also play many seeded episodes in one lockstep batch.

    ``play_block(policy, env_id, seeds, n_envs=..., env_kwargs=...)`` returns one
    :class:`~illab.rollout.Episode` per seed, in order, each identical to what ``__call__`` would
    record for that seed (up to float rounding of the batched network call). The Controller then
    collects ``block_size`` episodes per unit of work into block files.
    """

    def play_block(self, policy: Any, env_id: str, seeds: Sequence[int], *, n_envs: int,
                   env_kwargs: dict | None) -> list[Episode]:
        ...


def save_episodes(path: str | os.PathLike, episodes, attempts=None) -> Path:
    """Atomically write episodes (a list of :class:`~illab.rollout.Episode`) to one ``.npz``."""
    arrays = episodes_to_arrays(episodes)
    if attempts is not None:
        arrays["episode_attempts"] = np.asarray(attempts, dtype=np.int64)
    return atomic_write(path, lambda f: np.savez(f, **arrays))


class BaselineEnjoy:
    """The stock enjoy: plays seeded episodes of the expert (a :class:`BatchedEnjoy`).

    Use the module-level instance :data:`baseline_enjoy`.
    """

    def __call__(self, path: str | os.PathLike, context: Context, expert: Any) -> bool:
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

    def play_block(self, policy: Any, env_id: str, seeds: Sequence[int], *, n_envs: int,
                   env_kwargs: dict | None) -> list[Episode]:
        """Play one episode per seed in lockstep (:func:`illab.rollout.run_episodes`)."""
        return run_episodes(policy, env_id, list(seeds), n_envs=n_envs, env_kwargs=env_kwargs)

    def __repr__(self) -> str:
        return "baseline_enjoy"

    def __reduce__(self):  # pickles by name, so process/dask workers use the module's instance
        return "baseline_enjoy"


baseline_enjoy = BaselineEnjoy()
"""The stock :class:`EnjoyFunction` (with the :class:`BatchedEnjoy` fast path)."""


def read_meta(folder: str | os.PathLike) -> dict[str, Any]:
    """The run metadata the Controller stores beside the episode files (``{}`` if none)."""
    p = Path(folder) / META
    if not p.exists():
        return {}
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{p} is not valid JSON ({err}); delete it (the episode files stay valid) and run "
                         "again") from None


def baseline_collate(path: str | os.PathLike, episode_files: list[str]) -> bool:
    """Concatenate episode/block files (in the given order) into the dataset ``path`` + card,
    streaming them (:func:`illab.datafile.write_concatenated`: peak memory about one block).

    The card takes its metadata (env id, expert, base seed, spaces) from the ``meta.json`` the
    Controller writes beside the episode files.

    Raises:
        ValueError: no episode files.
        FileExistsError: ``path`` exists (the Controller deletes nothing; pass ``overwrite=True``
            to the Controller to replace a dataset).
    """
    if not episode_files:
        raise ValueError("collate got no episode files: play episodes first (mode='play' or 'all')")
    meta = read_meta(Path(episode_files[0]).parent)
    overwrite = bool(meta.pop("_overwrite", False))
    datafile.write_concatenated(path, episode_files, meta, overwrite=overwrite)  # streamed: ~one block in memory
    return True


def format_exception(err: BaseException) -> str:
    """Traceback text of ``err`` (for the run report)."""
    return "".join(traceback.format_exception(type(err), err, err.__traceback__))
