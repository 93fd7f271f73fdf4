"""``Demonstrations``: the one type every IL method trains on.

A :class:`Demonstrations` is a frozen bundle of transition arrays plus what is needed to make
sense of them (environment id and spaces). ``T`` is the number of transitions, ``E`` the number of
episodes; episodes are stored back to back, episode ``e`` occupying rows
``[sum(episode_lengths[:e]), sum(episode_lengths[:e+1]))``.

Where they come from:

* :meth:`illab.data.BaselineDataset.to_demonstrations` (a dataset file's split, memory-mapped:
  no copy);
* :meth:`Demonstrations.from_episodes` (recorded :class:`~illab.rollout.Episode` objects);
* :meth:`Demonstrations.from_arrays` (a dict in the dataset layout, e.g. from the importers in
  :mod:`illab.data`);
* or built directly: ``Demonstrations(obs=..., actions=..., action_space=gym.spaces.Discrete(2))``.

Observation-only demonstrations (for BCO and its family) simply have ``actions=None``.

>>> demos = Demonstrations(obs=np.zeros((4, 3), np.float32), actions=np.array([0, 1, 1, 0]),
...                        action_space=gym.spaces.Discrete(2))
>>> demos.n_transitions, demos.n_episodes
(4, 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Sequence

import gymnasium as gym
import numpy as np

_STEP_FIELDS = ("obs", "actions", "next_obs", "rewards", "terminated", "truncated")


@dataclass(frozen=True, eq=False)
class Demonstrations:
    """Transitions of ``E`` demonstrated episodes, validated on construction.

    Raises:
        ValueError: empty data, row counts that disagree, non-finite observations or actions,
            episode lengths that do not add up to ``T``, observations that do not match
            ``observation_space``, or actions outside ``action_space`` (the message names the
            field and the fix).
        TypeError: a field of the wrong type (e.g. a non-gymnasium space, or float actions for a
            ``Discrete`` action space).
    """

    obs: np.ndarray
    """``(T, *obs_shape)`` observations before each action (float32 for vectors, uint8 for images)."""
    actions: np.ndarray | None = None
    """``(T,)`` int64 (``Discrete``) or ``(T, *act_shape)`` float32 (``Box``) actions taken;
    ``None`` for observation-only demonstrations."""
    next_obs: np.ndarray | None = None
    """``(T, *obs_shape)`` observations after each action (the last row of an episode is the
    terminal or truncation observation); ``None`` if unknown."""
    rewards: np.ndarray | None = None
    """``(T,)`` float32 environment rewards (never used for imitation; ``None`` if unknown)."""
    terminated: np.ndarray | None = None
    """``(T,)`` bool: the episode ended in a terminal state after this step (gymnasium)."""
    truncated: np.ndarray | None = None
    """``(T,)`` bool: the episode was cut (time limit) after this step (gymnasium)."""
    episode_lengths: np.ndarray | None = None
    """``(E,)`` int64 steps per episode, summing to ``T`` (default: one episode of ``T`` steps)."""
    observation_space: gym.spaces.Box | None = None
    """The observations' space (default: an unbounded float32 ``Box`` of ``obs_shape``)."""
    action_space: gym.Space | None = None
    """``Discrete`` or ``Box``; required when ``actions`` are given."""
    env_id: str | None = None
    """gymnasium id of the environment the demonstrations come from (for methods that interact)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra ``gymnasium.make`` arguments of that environment."""
    source: str | None = None
    """Where the data came from (a file path, a repo id), for messages only."""

    def __post_init__(self):
        obs = _array("obs", self.obs)
        if obs.ndim < 1 or len(obs) == 0:
            raise ValueError("Demonstrations.obs is empty: there are no transitions to learn from "
                             "(collect or load at least one episode)")
        T = len(obs)
        obs_space = self.observation_space
        if obs_space is None:
            obs_space = gym.spaces.Box(-np.inf, np.inf, shape=obs.shape[1:], dtype=obs.dtype
                                       if obs.dtype == np.uint8 else np.float32)
        elif not isinstance(obs_space, gym.spaces.Box):
            raise TypeError(f"Demonstrations.observation_space must be a gymnasium Box, got "
                            f"{type(obs_space).__name__}; flatten dict/tuple observations first "
                            "(gymnasium.wrappers.FlattenObservation)")
        if tuple(obs.shape[1:]) != tuple(obs_space.shape):
            raise ValueError(f"Demonstrations.obs rows have shape {tuple(obs.shape[1:])} but observation_space is "
                             f"{tuple(obs_space.shape)}: the data belongs to another environment version or "
                             "wrapper; build the spaces from the environment that produced the data")
        object.__setattr__(self, "obs", obs)
        object.__setattr__(self, "observation_space", obs_space)
        for name in _STEP_FIELDS[1:]:
            value = getattr(self, name)
            if value is None:
                continue
            value = _array(name, value)
            if len(value) != T:
                raise ValueError(f"Demonstrations.{name} has {len(value)} rows but obs has {T}: every per-step "
                                 "array needs one row per transition")
            object.__setattr__(self, name, value)
        if self.next_obs is not None and self.next_obs.shape[1:] != obs.shape[1:]:
            raise ValueError(f"Demonstrations.next_obs rows have shape {self.next_obs.shape[1:]} but obs rows "
                             f"{obs.shape[1:]}")
        for name in ("terminated", "truncated"):
            value = getattr(self, name)
            if value is not None and value.dtype != np.bool_:
                raise TypeError(f"Demonstrations.{name} has dtype {value.dtype}; it must be bool "
                                f"(use {name}.astype(bool))")
        for name in ("obs", "next_obs"):
            value = getattr(self, name)
            if value is not None and np.issubdtype(value.dtype, np.floating):
                finite = np.isfinite(value.reshape(T, -1)).all(1)
                if not finite.all():
                    raise ValueError(f"Demonstrations.{name} has NaN or inf values (first at row "
                                     f"{int(np.argmin(finite))}); drop or repair those episodes before training")
        lengths = self.episode_lengths
        lengths = np.array([T], dtype=np.int64) if lengths is None else np.asarray(lengths)
        if lengths.ndim != 1 or not np.issubdtype(lengths.dtype, np.integer) or (lengths < 1).any() \
                or int(lengths.sum()) != T:
            raise ValueError(f"Demonstrations.episode_lengths must be positive integers summing to T={T}, got "
                             f"{len(lengths)} entries summing to {lengths.sum() if lengths.size else 0}")
        object.__setattr__(self, "episode_lengths", lengths.astype(np.int64, copy=False))
        object.__setattr__(self, "env_kwargs", dict(self.env_kwargs or {}))
        if self.actions is not None:
            self._check_actions()

    def _check_actions(self) -> None:
        a, space = self.actions, self.action_space
        if space is None:
            raise ValueError("Demonstrations has actions but no action_space: pass action_space= (e.g. "
                             "env.action_space), or load the data with BaselineDataset, whose card records it")
        if isinstance(space, gym.spaces.Discrete):
            if not np.issubdtype(a.dtype, np.integer):
                raise TypeError(f"Demonstrations.actions have dtype {a.dtype} but the action space is {space}: "
                                "Discrete actions are integer class indices (if these are indices stored as floats, "
                                "use actions.astype(np.int64); if they are continuous, the action space is a Box)")
            if a.ndim != 1 and not (a.ndim == 2 and a.shape[1] == 1):
                raise ValueError(f"Demonstrations.actions have shape {a.shape}; Discrete actions are (T,)")
            lo, hi = int(a.min()), int(a.max())
            if lo < space.start or hi >= space.start + space.n:
                raise ValueError(f"Demonstrations.actions range over [{lo}, {hi}] but the action space is {space}: "
                                 "the data belongs to another environment")
        elif isinstance(space, gym.spaces.Box):
            if not np.issubdtype(a.dtype, np.floating):
                raise TypeError(f"Demonstrations.actions have dtype {a.dtype} but the action space is a Box: "
                                "continuous actions are floats (integer actions belong to a Discrete space)")
            per_step = int(np.prod(a.shape[1:])) if a.ndim > 1 else 1
            if per_step != int(np.prod(space.shape)):
                raise ValueError(f"Demonstrations.actions have {per_step} components per step but the action "
                                 f"space {space} has {int(np.prod(space.shape))}")
            if not np.isfinite(a).all():
                raise ValueError("Demonstrations.actions contain NaN or inf values; drop or repair those episodes")
        else:
            raise TypeError(f"Demonstrations.action_space must be a gymnasium Discrete or Box, got "
                            f"{type(space).__name__}")

    # -- views ---------------------------------------------------------------------------------------
    @property
    def n_transitions(self) -> int:
        """``T``."""
        return len(self.obs)

    @property
    def n_episodes(self) -> int:
        """``E``."""
        return len(self.episode_lengths)

    def __len__(self) -> int:
        return self.n_transitions

    @property
    def episode_starts(self) -> np.ndarray:
        """``(T,)`` bool, True at each episode's first step."""
        starts = np.zeros(self.n_transitions, dtype=bool)
        starts[np.concatenate([[0], np.cumsum(self.episode_lengths)[:-1]])] = True
        return starts

    @property
    def episode_returns(self) -> np.ndarray | None:
        """``(E,)`` float64 undiscounted return of each episode (``None`` without rewards)."""
        if self.rewards is None:
            return None
        starts = np.concatenate([[0], np.cumsum(self.episode_lengths)[:-1]])
        return np.add.reduceat(self.rewards.astype(np.float64), starts)

    @property
    def has_actions(self) -> bool:
        """False for observation-only demonstrations."""
        return self.actions is not None

    def episodes(self, start: int = 0, stop: int | None = None) -> "Demonstrations":
        """The episodes ``[start, stop)`` (Python slice semantics, no copy of the arrays).

        Raises:
            ValueError: an empty selection.
        """
        idx = range(self.n_episodes)[slice(start, stop)]
        if len(idx) == 0:
            raise ValueError(f"episodes({start}, {stop}) selects no episode of {self.n_episodes}")
        bounds = np.concatenate([[0], np.cumsum(self.episode_lengths)])
        lo, hi = int(bounds[idx.start]), int(bounds[idx.stop])
        sliced = {n: (None if getattr(self, n) is None else getattr(self, n)[lo:hi]) for n in _STEP_FIELDS}
        return replace(self, **sliced, episode_lengths=self.episode_lengths[idx.start:idx.stop])

    def without_actions(self) -> "Demonstrations":
        """The same demonstrations, observation-only (what BCO-style methods are allowed to see)."""
        return replace(self, actions=None)

    def arrays(self) -> dict[str, np.ndarray]:
        """The non-``None`` per-step arrays and ``episode_lengths`` as a dict."""
        out = {n: getattr(self, n) for n in _STEP_FIELDS if getattr(self, n) is not None}
        out["episode_lengths"] = self.episode_lengths
        return out

    def __repr__(self) -> str:
        what = "obs, actions" if self.has_actions else "obs only"
        return (f"Demonstrations({self.n_episodes} episodes, {self.n_transitions} transitions, {what}, "
                f"env={self.env_id!r}, obs {tuple(self.observation_space.shape)}, actions {self.action_space})")

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, arrays: dict[str, Any], **meta: Any) -> "Demonstrations":
        """From a dict in the dataset-file layout (:mod:`illab.datafile`); unknown keys are ignored,
        ``meta`` sets the other fields (``env_id``, ``observation_space``, ``action_space``, ...)."""
        names = {f.name for f in fields(cls)}
        kw = {k: arrays[k] for k in (*_STEP_FIELDS, "episode_lengths") if k in arrays}
        unknown = set(meta) - names
        if unknown:
            raise TypeError(f"unknown Demonstrations fields {sorted(unknown)}; known: {sorted(names)}")
        return cls(**kw, **meta)

    @classmethod
    def from_episodes(cls, episodes: Sequence[Any], **meta: Any) -> "Demonstrations":
        """From recorded episodes (objects with ``obs``, ``actions``, ``next_obs``, ``rewards``,
        ``terminated``, ``truncated`` arrays, e.g. :class:`illab.rollout.Episode`)."""
        return cls.from_arrays(concatenate_episodes(episodes), **meta)


def concatenate_episodes(episodes: Sequence[Any]) -> dict[str, np.ndarray]:
    """Episodes back to back in the dataset-file layout.

    Returns ``obs, actions, rewards, next_obs, terminated, truncated, episode_starts`` (length T)
    and ``episode_returns`` (float64, summed by the recorder), ``episode_lengths``,
    ``episode_seeds`` (int64), each of length E = ``len(episodes)``.

    Raises:
        ValueError: no episodes.
    """
    if not episodes:
        raise ValueError("no episodes to concatenate")
    cat = {k: np.concatenate([getattr(e, k) for e in episodes]) for k in _STEP_FIELDS}
    lengths = np.array([len(e.rewards) for e in episodes], dtype=np.int64)
    starts = np.zeros(int(lengths.sum()), dtype=bool)
    starts[np.concatenate([[0], np.cumsum(lengths)[:-1]])] = True
    cat["episode_starts"] = starts
    cat["episode_returns"] = np.array([getattr(e, "ret", np.nan) for e in episodes], dtype=np.float64)
    cat["episode_lengths"] = lengths
    cat["episode_seeds"] = np.array([getattr(e, "seed", -1) for e in episodes], dtype=np.int64)
    return cat


def as_demonstrations(data: Any) -> Demonstrations:
    """``data`` as :class:`Demonstrations`: itself, a :class:`~illab.data.BaselineDataset` (or
    anything with ``to_demonstrations()``), converted once.

    Raises:
        TypeError: anything else (the message says how to build one).
    """
    if isinstance(data, Demonstrations):
        return data
    convert = getattr(data, "to_demonstrations", None)
    if callable(convert):
        return convert()
    raise TypeError(f"expected illab Demonstrations or a BaselineDataset, got {type(data).__name__}; build one with "
                    "Demonstrations(obs=..., actions=..., action_space=...) or Demonstrations.from_arrays(arrays, "
                    "action_space=...)")


def _array(name: str, value: Any) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype == object:
        raise TypeError(f"Demonstrations.{name} has dtype object; use a numeric array (np.stack the rows)")
    if a.ndim == 0:
        raise ValueError(f"Demonstrations.{name} is a scalar; it needs one row per transition")
    return a
