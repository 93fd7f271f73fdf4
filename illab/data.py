"""Datasets of demonstrations: ``BaselineDataset`` (IL-Datasets' API), sequences, validation, import.

>>> train = BaselineDataset("data/cartpole.npz", n_episodes=80)                 # doctest: +SKIP
>>> held_out = BaselineDataset("data/cartpole.npz", n_episodes=80, split="eval")  # doctest: +SKIP
>>> obs, action, next_obs = train[0]                                             # doctest: +SKIP

Splits are by **episode**: train = episodes ``[0, N)``, eval = episodes ``[N, total)``, so no
transition of an eval episode is ever trained on. Files are memory-mapped (:mod:`illab.datafile`)
and splits are slices, so opening a large dataset costs little memory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from illab import checks, datafile
from illab.datafile import DatasetError
from illab.demonstrations import Demonstrations


def _tensor(x) -> torch.Tensor:
    """A tensor copy of a (possibly read-only, memory-mapped) array slice."""
    return torch.from_numpy(np.array(x))


def validate_arrays(arrays: dict[str, np.ndarray]) -> None:
    """Check keys, dtypes, shapes, episode boundaries, lengths, returns and finiteness.

    Raises:
        DatasetError: listing every problem, each with how to fix it.
    """
    problems: list[str] = []
    missing = [k for k in datafile.KEYS if k not in arrays]
    if missing and {"obs", "acts", "indices"} <= set(arrays):
        raise DatasetError("these arrays are in the `imitation` library's trajectory layout (obs, acts, indices), "
                           "not illab's; convert the file once with illab.data.from_imitation_npz(src, env_id, "
                           "path='data/name.npz')")
    if missing:
        raise DatasetError(f"missing keys {missing}; a dataset needs {list(datafile.KEYS)} "
                           "(build one with illab.data.from_episodes)")
    a = {k: np.asarray(v) for k, v in arrays.items()}
    T, E = len(a["rewards"]), len(a["episode_returns"])
    if T == 0 or E == 0:
        raise DatasetError("the dataset is empty (0 transitions or 0 episodes)")
    for key in datafile.STEP_KEYS:
        if len(a[key]) != T:
            problems.append(f"{key} has {len(a[key])} rows but rewards has {T}: every per-step array needs T rows")
    for key in datafile.EPISODE_KEYS:
        if len(a[key]) != E:
            problems.append(f"{key} has {len(a[key])} entries but episode_returns has {E}")
    for key in ("terminated", "truncated", "episode_starts"):
        if a[key].dtype != np.bool_:
            problems.append(f"{key} has dtype {a[key].dtype}, expected bool")
    for key in ("episode_lengths", "episode_seeds"):
        if not np.issubdtype(a[key].dtype, np.integer):
            problems.append(f"{key} has dtype {a[key].dtype}, expected int64")
    if a["obs"].shape[1:] != a["next_obs"].shape[1:]:
        problems.append(f"obs rows have shape {a['obs'].shape[1:]} but next_obs rows {a['next_obs'].shape[1:]}")
    for key in ("obs", "next_obs", "actions", "rewards", "episode_returns"):
        if a[key].dtype == object:
            problems.append(f"{key} has dtype object; use a numeric dtype")
        elif np.issubdtype(a[key].dtype, np.floating) and not np.all(np.isfinite(a[key])):
            problems.append(f"{key} contains NaN or inf values (first at row {int(np.argmin(np.isfinite(a[key]).reshape(len(a[key]), -1).all(1)))})")
    if not problems:
        starts = np.flatnonzero(a["episode_starts"])
        if len(starts) != E or (len(starts) and starts[0] != 0):
            problems.append(f"episode_starts marks {len(starts)} episodes (first at {starts[:1].tolist()}) but "
                            f"there are {E} episodes starting at row 0")
        elif not np.array_equal(np.diff(np.append(starts, T)), a["episode_lengths"]):
            problems.append("episode_lengths disagree with the gaps between episode_starts")
        else:
            ends = np.append(starts[1:], T) - 1
            done = a["terminated"] | a["truncated"]
            if not np.all(done[ends]) or done.sum() != E:
                problems.append("each episode must end (terminated or truncated) at its last step and only there")
            sums = np.add.reduceat(a["rewards"].astype(np.float64), starts)
            if not np.allclose(sums, a["episode_returns"], rtol=1e-4, atol=1e-3):
                bad = int(np.argmax(~np.isclose(sums, a["episode_returns"], rtol=1e-4, atol=1e-3)))
                problems.append(f"episode_returns[{bad}] = {a['episode_returns'][bad]} but its rewards sum to {sums[bad]}")
    if problems:
        raise DatasetError("invalid dataset:\n- " + "\n- ".join(problems))


def validate(path: str | os.PathLike) -> dict[str, Any]:
    """Validate a dataset file (and its card's content hash); return the card.

    Raises:
        FileNotFoundError, ValueError (unreadable / pickled), DatasetError (every problem listed).
    """
    arrays = datafile.read(path)
    validate_arrays(arrays)
    card = datafile.read_card(path)
    datafile.check_card_counts(path, card, arrays)
    if card.get("file"):
        datafile.verify(path, card)
    if card.get("content_hash") and card["content_hash"] != datafile.content_hash(arrays):
        raise DatasetError(f"{path}: the arrays do not match the content hash in its card; the file was "
                           "modified after it was written — re-collect it or rebuild the card")
    return card


def check_spaces(arrays: dict[str, np.ndarray], observation_space, action_space, where: str = "the data") -> None:
    """Check that ``obs``/``next_obs`` rows and ``actions`` fit the given gymnasium spaces.

    ``obs`` rows must have the observation space's shape; ``Discrete`` actions must be integers
    ``(T,)`` inside ``[start, start + n)``; ``Box`` actions must be float rows of the space's shape.
    A ``None`` space is not checked. Bounds of ``Box`` actions are not checked (experts may act
    outside them; the environment clips).

    Raises:
        DatasetError: naming ``where``, the array, the two shapes/dtypes and the fix.
    """
    import gymnasium as gym
    problems = []
    if observation_space is not None and observation_space.shape is not None:
        for key in ("obs", "next_obs"):
            if key in arrays and tuple(arrays[key].shape[1:]) != tuple(observation_space.shape):
                problems.append(f"{key} rows have shape {tuple(arrays[key].shape[1:])} but the observation space "
                                f"has shape {tuple(observation_space.shape)}")
    acts = arrays.get("actions")
    if acts is not None and isinstance(action_space, gym.spaces.Discrete):
        if not np.issubdtype(acts.dtype, np.integer):
            problems.append(f"actions have dtype {acts.dtype} but the action space is Discrete({action_space.n}): "
                            "store integer actions (int64)")
        elif acts.ndim != 1:
            problems.append(f"actions have shape {acts.shape} but a Discrete action space needs shape (T,)")
        elif len(acts) and (acts.min() < action_space.start or acts.max() >= action_space.start + action_space.n):
            problems.append(f"actions range over [{acts.min()}, {acts.max()}] but the action space is "
                            f"Discrete({action_space.n}, start={action_space.start})")
    elif acts is not None and isinstance(action_space, gym.spaces.Box):
        if not np.issubdtype(acts.dtype, np.floating):
            problems.append(f"actions have dtype {acts.dtype} but the action space is a Box: store float32 actions")
        elif tuple(acts.shape[1:]) != tuple(action_space.shape):
            problems.append(f"action rows have shape {tuple(acts.shape[1:])} but the action space has shape "
                            f"{tuple(action_space.shape)}")
    if problems:
        raise DatasetError(f"{where}: the arrays do not fit the environment's spaces:\n- " + "\n- ".join(problems)
                           + "\nCheck env_id/env_kwargs (e.g. an environment option that changes the observation "
                           "size), or re-collect the dataset.")


class BaselineDataset(Dataset):
    """Transitions ``(obs, action, next_obs)`` of a fixed episode split (IL-Datasets' ``BaselineDataset``).

    Args:
        path_or_repo: a local ``.npz`` dataset (``source="local"``) or a Hugging Face dataset repo
            id (``source="hf"``, loaded through :func:`download_dataset`).
        n_episodes: N; train = episodes ``[0, N)``, eval = ``[N, total)``. ``None`` = all
            episodes in train (and eval is then an error).
        split: ``"train"`` or ``"eval"``.
        source: ``"local"`` or ``"hf"``.
        transform: optional callable applied to each item tuple.
        return_reward: items become ``(obs, action, next_obs, reward, terminated)``.
        verify: check on open that the file holds the bytes its card describes
            (:func:`illab.datafile.verify`: size and member CRC-32s, about 10 ms per 16 MB,
            cached per file identity so re-opening is free). ``verify=False`` skips it.

    Attributes (numpy views of the split, T_s = transitions in the split, E_s = episodes):
        obs, next_obs ``(T_s, *obs_shape)`` float32; actions ``(T_s,)`` int64 or
        ``(T_s, *act_shape)`` float32; rewards ``(T_s,)`` float32; terminated, truncated,
        episode_starts ``(T_s,)`` bool; episode_returns ``(E_s,)`` float64; episode_lengths,
        episode_seeds ``(E_s,)`` int64; card (dict); env_id, env_kwargs; observation_space,
        action_space (gymnasium spaces from the card, ``None`` if the card lacks them).

    Raises:
        FileNotFoundError: missing file. ValueError: unknown split or source, N out of range.
        TypeError: a non-integer ``n_episodes``.
        DatasetError: a malformed or corrupt file, a card that does not belong to the file, or
            arrays whose shapes disagree with the card's spaces (each message names the file and fix).
    """

    def __init__(self, path_or_repo: str | os.PathLike, n_episodes: int | None = None, split: str = "train",
                 source: str = "local", transform: Callable | None = None, return_reward: bool = False,
                 verify: bool = True, **hub_kwargs: Any):
        if split not in ("train", "eval"):
            raise ValueError(f"unknown split {split!r}: use 'train' (episodes [0, N)) or 'eval' ([N, total))")
        if source == "hf":
            path = download_dataset(str(path_or_repo), **hub_kwargs)
        elif source == "local":
            path = Path(path_or_repo)
        else:
            raise ValueError(f"unknown source {source!r}: use 'local' or 'hf'")
        self.path = Path(path)
        arrays = datafile.read(self.path)
        try:
            validate_arrays(arrays)
        except DatasetError as err:
            raise DatasetError(f"{self.path}: {err}") from None
        self.card = datafile.read_card(self.path)
        datafile.check_card_counts(self.path, self.card, arrays)
        if verify:
            datafile.verify(self.path, self.card, arrays)
        total = len(arrays["episode_returns"])
        n = total if n_episodes is None else checks.count(n_episodes, "n_episodes", minimum=0)
        if split == "train" and not 1 <= n <= total:
            raise ValueError(f"n_episodes={n_episodes} is out of range: the dataset has {total} episodes, "
                             f"so use 1 <= n_episodes <= {total}")
        if split == "eval" and not 0 <= n < total:
            raise ValueError(f"n_episodes={n_episodes} leaves no eval episodes: the dataset has {total} "
                             f"episodes, so use 0 <= n_episodes < {total} with split='eval'")
        first, last = (0, n) if split == "train" else (n, total)
        bounds = np.concatenate([[0], np.cumsum(arrays["episode_lengths"])])
        lo, hi = int(bounds[first]), int(bounds[last])
        for key in datafile.STEP_KEYS:
            setattr(self, key, arrays[key][lo:hi])
        for key in datafile.EPISODE_KEYS:
            setattr(self, key, arrays[key][first:last])
        self.split, self.n_episodes, self.total_episodes = split, n, total
        self.episode_range = (first, last)
        self.transform, self.return_reward = transform, return_reward
        self.env_id = self.card.get("env_id")
        self.env_kwargs = dict(self.card.get("env_kwargs") or {})
        self.observation_space = (datafile.space_from_json(self.card["observation_space"])
                                  if "observation_space" in self.card else None)
        self.action_space = (datafile.space_from_json(self.card["action_space"])
                             if "action_space" in self.card else None)
        check_spaces(arrays, self.observation_space, self.action_space, where=str(self.path))

    def __len__(self) -> int:
        return len(self.rewards)

    def to_demonstrations(self) -> Demonstrations:
        """This split as :class:`~illab.demonstrations.Demonstrations` (views of the memory-mapped
        arrays, no copy), with the card's environment and spaces; what every method trains on.

        Raises:
            ValueError: the card records no action space (re-collect, or build ``Demonstrations``
                yourself with ``action_space=``).
        """
        return Demonstrations(obs=self.obs, actions=self.actions, next_obs=self.next_obs, rewards=self.rewards,
                              terminated=self.terminated, truncated=self.truncated,
                              episode_lengths=self.episode_lengths, observation_space=self.observation_space,
                              action_space=self.action_space, env_id=self.env_id, env_kwargs=self.env_kwargs,
                              source=str(self.path))

    def __getitem__(self, i: int):
        item = (_tensor(self.obs[i]), _tensor(self.actions[i]), _tensor(self.next_obs[i]))
        if self.return_reward:
            item = item + (_tensor(self.rewards[i]), torch.tensor(bool(self.terminated[i])))
        return self.transform(item) if self.transform else item

    def __getitems__(self, indices: Sequence[int]) -> list[tuple]:
        """A whole ``DataLoader`` batch at once (torch calls this instead of ``__getitem__`` per item):
        one fancy-indexed read per array instead of one per item, then per-item views for the
        collate function. Same items as ``[self[i] for i in indices]``."""
        if self.transform is not None:
            return [self[i] for i in indices]
        idx = np.asarray(indices, dtype=np.int64)
        cols = [torch.from_numpy(self.obs[idx]), torch.from_numpy(self.actions[idx]),
                torch.from_numpy(self.next_obs[idx])]
        if self.return_reward:
            cols += [torch.from_numpy(self.rewards[idx]), torch.from_numpy(self.terminated[idx])]
        return list(zip(*(c.unbind(0) for c in cols)))

    @property
    def average_return(self) -> float:
        """Mean undiscounted return of the split's episodes."""
        return float(np.mean(self.episode_returns))

    def info(self) -> dict[str, Any]:
        """Summary: split, episode range, counts, return mean ± std, env, expert and content hash."""
        return {"path": str(self.path), "split": self.split, "episodes": list(self.episode_range),
                "transitions": len(self), "return_mean": self.average_return,
                "return_std": float(np.std(self.episode_returns)), "env_id": self.env_id,
                "expert_id": self.card.get("expert_id"), "content_hash": self.card.get("content_hash")}

    def __repr__(self) -> str:
        first, last = self.episode_range
        return (f"BaselineDataset({self.path.name!r}, split={self.split!r}, episodes [{first}, {last}), "
                f"{len(self)} transitions, average return {self.average_return:.2f})")


class SequenceDataset(Dataset):
    """Windows of ``k`` consecutive transitions inside one episode (never across episodes).

    Items are ``(obs, actions, next_obs)`` tensors of shapes ``(k, *obs_shape)``, ``(k, ...)``,
    ``(k, *obs_shape)``; episodes shorter than ``k`` contribute no window.

    Args:
        dataset: a :class:`BaselineDataset` (its split is kept).
        k: window length (>= 1).
    """

    def __init__(self, dataset: BaselineDataset, k: int):
        if k < 1:
            raise ValueError(f"window length k must be >= 1, got {k}")
        self.dataset, self.k = dataset, int(k)
        starts = np.concatenate([[0], np.cumsum(dataset.episode_lengths)[:-1]])
        self.index = np.concatenate([np.arange(s, s + L - k + 1) for s, L in zip(starts, dataset.episode_lengths)
                                     if L >= k] or [np.zeros(0, dtype=np.int64)]).astype(np.int64)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int):
        s = int(self.index[i])
        d = self.dataset
        return tuple(_tensor(a[s:s + self.k]) for a in (d.obs, d.actions, d.next_obs))


def from_episodes(episodes: Sequence[dict[str, Any]], env_id: str, path: str | os.PathLike | None = None,
                  env_kwargs: dict | None = None, overwrite: bool = False, **meta: Any) -> dict[str, np.ndarray]:
    """Bring any demonstrations (human, scripted, other libraries) into illab's format.

    Args:
        episodes: dicts with ``obs`` ``(L, *obs_shape)`` (or ``(L + 1, ...)`` including the final
            observation), ``actions`` ``(L, ...)``, ``rewards`` ``(L,)``; optional ``next_obs``,
            ``terminated`` (default: last step True), ``truncated``, ``seed`` (default -1).
        env_id: the gymnasium task (recorded in the card; spaces are taken from it).
        path: if given, also write the dataset file and card there; the data is first checked
            against the environment's spaces (:func:`check_spaces`).

    Returns:
        The dataset arrays (validated).

    Raises:
        DatasetError / ValueError: inconsistent lengths or missing keys (the episode index is
            named), or data that does not fit ``env_id``'s spaces (e.g. 27-d observations for an
            environment whose default observation is 105-d: pass the right ``env_kwargs``).
    """
    from illab.rollout import make_env
    if not episodes:
        raise ValueError("from_episodes got no episodes")
    cols: dict[str, list] = {k: [] for k in datafile.KEYS}
    for j, ep in enumerate(episodes):
        for key in ("obs", "actions", "rewards"):
            if key not in ep:
                raise ValueError(f"episode {j} lacks {key!r}; each episode needs obs, actions and rewards")
        rewards = np.asarray(ep["rewards"], dtype=np.float32)
        L = len(rewards)
        obs = np.asarray(ep["obs"], dtype=np.float32)
        if "next_obs" in ep:
            next_obs = np.asarray(ep["next_obs"], dtype=np.float32)
        elif len(obs) == L + 1:
            obs, next_obs = obs[:-1], obs[1:]
        else:
            raise ValueError(f"episode {j}: obs has {len(obs)} rows for {L} rewards; pass L + 1 observations "
                             "(with the final one) or a next_obs array")
        actions = np.asarray(ep["actions"])
        if len(obs) != L or len(actions) != L:
            raise ValueError(f"episode {j}: obs ({len(obs)}), actions ({len(actions)}) and rewards ({L}) "
                             "must have the same length")
        terminated = np.asarray(ep.get("terminated", np.arange(L) == L - 1), dtype=bool)
        truncated = np.asarray(ep.get("truncated", np.zeros(L, bool)), dtype=bool)
        starts = np.zeros(L, bool)
        starts[:1] = True
        for key, value in (("obs", obs), ("actions", actions), ("rewards", rewards), ("next_obs", next_obs),
                           ("terminated", terminated), ("truncated", truncated), ("episode_starts", starts)):
            cols[key].append(value)
        cols["episode_returns"].append(float(rewards.astype(np.float64).sum()))
        cols["episode_lengths"].append(L)
        cols["episode_seeds"].append(int(ep.get("seed", -1)))
    arrays = {k: np.concatenate(v) if k in datafile.STEP_KEYS else np.asarray(v) for k, v in cols.items()}
    arrays["actions"] = arrays["actions"].astype(
        np.int64 if np.issubdtype(arrays["actions"].dtype, np.integer) else np.float32)
    arrays["episode_returns"] = arrays["episode_returns"].astype(np.float64)
    arrays["episode_lengths"] = arrays["episode_lengths"].astype(np.int64)
    arrays["episode_seeds"] = arrays["episode_seeds"].astype(np.int64)
    validate_arrays(arrays)
    if path is not None:
        env = make_env(env_id, env_kwargs)
        check_spaces(arrays, env.observation_space, env.action_space,
                     where=f"from_episodes: the episodes vs {env_id} (env_kwargs={env_kwargs or {}})")
        card = datafile.make_card(arrays, env_id=env_id, env_kwargs=env_kwargs or {},
                                  observation_space=datafile.space_to_json(env.observation_space),
                                  action_space=datafile.space_to_json(env.action_space), **meta)
        datafile.write(path, arrays, card, overwrite=overwrite)
    return arrays


def from_imitation_npz(src: str | os.PathLike, env_id: str, path: str | os.PathLike | None = None,
                       env_kwargs: dict | None = None, overwrite: bool = False, **meta: Any) -> dict[str, np.ndarray]:
    """Import trajectories saved in the ``imitation`` library's npz layout, without ``imitation``.

    That layout (HumanCompatibleAI/imitation, ``imitation.data.types``) concatenates trajectories:
    ``obs`` ``(T + E, *obs_shape)`` (one extra final observation per trajectory), ``acts``
    ``(T, ...)``, optional ``rews`` ``(T,)`` (zeros if absent), ``terminal`` ``(E,)`` bool, and
    ``indices`` ``(E - 1,)`` int: the split points of ``acts``. ``infos`` (pickled objects) is
    ignored: the file is read with ``allow_pickle=False``. Returns (and writes, if ``path``) what
    :func:`from_episodes` returns; a non-terminal trajectory is marked truncated.

    Raises:
        DatasetError: missing keys or inconsistent lengths.
    """
    with np.load(src, allow_pickle=False) as z:
        missing = [k for k in ("obs", "acts", "indices") if k not in z.files]
        if missing:
            raise DatasetError(f"{src}: not an imitation npz, missing {missing} (has {z.files})")
        obs, acts, idx = z["obs"], z["acts"], z["indices"].astype(np.int64)
        rews = z["rews"] if "rews" in z.files else np.zeros(len(acts), np.float32)
        terminal = z["terminal"] if "terminal" in z.files else np.ones(len(idx) + 1, bool)
    n = len(idx) + 1
    if len(obs) != len(acts) + n or len(terminal) != n:
        raise DatasetError(f"{src}: expected obs length {len(acts) + n} (acts + one per trajectory) and "
                           f"{n} terminal flags, got {len(obs)} and {len(terminal)}")
    eps = [{"obs": o, "actions": a, "rewards": r, "terminated": (np.arange(len(a)) == len(a) - 1) & bool(t),
            "truncated": (np.arange(len(a)) == len(a) - 1) & (not bool(t))}
           for o, a, r, t in zip(np.split(obs, idx + np.arange(1, n)), np.split(acts, idx),
                                 np.split(rews, idx), terminal)]
    return from_episodes(eps, env_id=env_id, path=path, env_kwargs=env_kwargs, overwrite=overwrite, **meta)


_STEP_KEYS = ("obs", "actions", "rewards", "next_obs", "terminated", "truncated", "episode_starts")
_EPISODE_KEYS = ("episode_returns", "episode_lengths", "episode_seeds")


def to_hf_dataset(path: str | os.PathLike):
    """Convert an illab ``.npz`` dataset into a Hugging Face ``datasets.Dataset`` (one row per transition).

    Columns: the per-step arrays plus ``episode_index``, ``episode_return``, ``episode_length`` and
    ``episode_seed`` (the per-episode values repeated on each of its rows), so the episode
    structure and returns survive; the card is stored as JSON in ``info.description``.
    Round trip: :func:`from_hf_dataset`. Exercised offline in tests (no Hub access).
    """
    import json

    import datasets

    arrays, card = datafile.read(path, mmap=False), datafile.read_card(path)
    ep = np.repeat(np.arange(len(arrays["episode_lengths"])), arrays["episode_lengths"])
    cols = {k: np.asarray(arrays[k]) for k in _STEP_KEYS}
    cols.update(episode_index=ep, episode_return=np.asarray(arrays["episode_returns"])[ep],
                episode_length=np.asarray(arrays["episode_lengths"])[ep],
                episode_seed=np.asarray(arrays["episode_seeds"])[ep])
    return datasets.Dataset.from_dict(cols, info=datasets.DatasetInfo(description=json.dumps(card)))


def from_hf_dataset(hf, path: str | os.PathLike | None = None, overwrite: bool = False) -> dict[str, np.ndarray]:
    """Inverse of :func:`to_hf_dataset`: arrays in illab's layout (written with the card if ``path``).

    Raises:
        DatasetError: a column is missing or the arrays fail :func:`validate_arrays`.
    """
    import json

    need = set(_STEP_KEYS) | {"episode_index", "episode_return", "episode_length", "episode_seed"}
    if need - set(hf.column_names):
        raise DatasetError(f"Hugging Face dataset lacks columns {sorted(need - set(hf.column_names))}; "
                           "make it with illab.data.to_hf_dataset")
    np_ds = hf.with_format("numpy")
    arrays = {k: np.asarray(np_ds[k]) for k in _STEP_KEYS}
    first = np.flatnonzero(np.r_[True, np.diff(np.asarray(np_ds["episode_index"])) != 0])
    arrays["episode_returns"] = np.asarray(np_ds["episode_return"])[first].astype(np.float64)
    arrays["episode_lengths"] = np.asarray(np_ds["episode_length"])[first].astype(np.int64)
    arrays["episode_seeds"] = np.asarray(np_ds["episode_seed"])[first].astype(np.int64)
    validate_arrays(arrays)
    if path is not None:
        card = json.loads(hf.info.description) if hf.info.description else {}
        meta = {k: v for k, v in card.items() if k not in datafile.make_card(arrays)}
        datafile.write(path, arrays, datafile.make_card(arrays, **meta), overwrite=overwrite)
    return arrays


def to_minari(path: str | os.PathLike, dataset_id: str, **kwargs: Any):
    """Export an illab dataset as a Minari dataset (``minari.create_dataset_from_buffers``).

    Written under ``$MINARI_DATASETS_PATH`` (Minari's own setting). ``dataset_id`` follows Minari's
    ``namespace/name-v0`` form; extra ``kwargs`` go to ``create_dataset_from_buffers``.
    Each episode's ``observations`` are ``(L + 1, *obs_shape)`` (its obs plus its last next_obs).
    Returns the ``minari.MinariDataset``. Per-episode seeds are not stored by Minari.
    """
    import minari
    from minari.data_collector.episode_buffer import EpisodeBuffer

    arrays, card = datafile.read(path, mmap=False), datafile.read_card(path)
    ends = np.cumsum(arrays["episode_lengths"])
    buffers = []
    for i, (s, e) in enumerate(zip(np.r_[0, ends[:-1]], ends)):
        seed = int(arrays["episode_seeds"][i])
        buffers.append(EpisodeBuffer(
            id=i, seed=seed if seed >= 0 else None,
            observations=np.concatenate([arrays["obs"][s:e], arrays["next_obs"][e - 1:e]]),
            actions=arrays["actions"][s:e], rewards=arrays["rewards"][s:e],
            terminations=arrays["terminated"][s:e], truncations=arrays["truncated"][s:e], infos={}))
    import gymnasium as gym
    env = gym.make(card["env_id"], **(card.get("env_kwargs") or {}))
    try:
        kwargs.setdefault("data_format", "arrow")   # pyarrow ships with `datasets`; hdf5 needs h5py
        kwargs.setdefault("algorithm_name", card.get("expert_id") or "illab")
        kwargs.setdefault("description", f"{len(buffers)} {card['env_id']} episodes recorded by illab from expert "
                                         f"{card.get('expert_id')!r}; illab content hash {card.get('content_hash')}")
        kwargs.setdefault("eval_env", env.spec)     # evaluated on the environment it was collected on
        import warnings
        with warnings.catch_warnings():
            # Minari asks for an author, an e-mail and a code link; illab cannot know them (pass them as
            # kwargs to record them). Only these three notices are silenced, nothing else.
            warnings.filterwarnings("ignore", message=r"`(author|author_email|code_permalink)` is set to None",
                                    category=UserWarning)
            return minari.create_dataset_from_buffers(dataset_id, buffers, env=env, **kwargs)
    finally:
        env.close()


def from_minari(dataset_id: str, path: str | os.PathLike | None = None, overwrite: bool = False,
                **meta: Any) -> dict[str, np.ndarray]:
    """Import a local Minari dataset (``minari.load_dataset``) into illab's layout (via :func:`from_episodes`)."""
    import minari

    ds = minari.load_dataset(dataset_id)
    eps = [{"obs": np.asarray(ep.observations), "actions": np.asarray(ep.actions),
            "rewards": np.asarray(ep.rewards), "terminated": np.asarray(ep.terminations, bool),
            "truncated": np.asarray(ep.truncations, bool)} for ep in ds.iterate_episodes()]
    env_spec = ds.spec.env_spec
    return from_episodes(eps, env_id=env_spec.id, path=path, env_kwargs=dict(env_spec.kwargs or {}),
                         overwrite=overwrite, **meta)


def download_dataset(repo_id: str, filename: str | None = None, revision: str | None = None,
                     cache_dir: str | os.PathLike | None = None, local_files_only: bool | None = None) -> Path:
    """Fetch a dataset ``.npz`` and its card from a Hugging Face dataset repo (``hf_hub_download``).

    ``filename`` defaults to ``<repo name>.npz``. ``local_files_only`` defaults to True when
    ``HF_HUB_OFFLINE=1``. Returns the cached ``.npz`` path. Tests exercise only the offline path
    (a cache layout built in tmp); the network download is huggingface_hub's own code.

    Raises:
        FileNotFoundError: the file is neither cached nor downloadable, with how to fix it.
    """
    from huggingface_hub import hf_hub_download

    if local_files_only is None:
        local_files_only = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
    filename = filename or repo_id.split("/")[-1] + ".npz"
    try:
        card = Path(filename).with_suffix(".json").as_posix()
        hf_hub_download(repo_id, card, repo_type="dataset", revision=revision, cache_dir=cache_dir,
                        local_files_only=local_files_only)
        return Path(hf_hub_download(repo_id, filename, repo_type="dataset", revision=revision,
                                    cache_dir=cache_dir, local_files_only=local_files_only))
    except Exception as e:  # huggingface_hub raises several error types for "not available"
        raise FileNotFoundError(f"dataset {filename!r} of Hugging Face repo {repo_id!r} is not available "
                                f"({type(e).__name__}: {e}); check the repo id, go online, or pass cache_dir=") from e


def push_to_hub(path: str | os.PathLike, repo_id: str, token: str | None = None, private: bool = False,
                commit_message: str = "Upload illab dataset") -> str:
    """Upload a dataset ``.npz`` and its card to a Hugging Face dataset repo (one commit, creates the repo).

    Not exercised by tests (the Hub is unreachable offline). Returns the commit URL.
    """
    from huggingface_hub import CommitOperationAdd, HfApi

    validate(path)
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    p = Path(path)
    ops = [CommitOperationAdd(path_in_repo=f.name, path_or_fileobj=str(f)) for f in (p, datafile.card_path(p))]
    return str(api.create_commit(repo_id, ops, commit_message=commit_message, repo_type="dataset"))
