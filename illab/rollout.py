"""Batched, seeded rollouts: the engine under collection and evaluation.

:func:`run_episodes` plays a list of seeded episodes over a gymnasium ``SyncVectorEnv`` of
``n_envs`` slots in lockstep and calls the policy **once per step for all slots**. When a slot's
episode ends, the slot is reset (``reset_mask``) with the next episode's seed, so no slot idles
while work is left. Each episode's content depends only on its seed, the policy and ``n_envs``
(never on timing), which is what makes datasets byte-identical across workers and executors.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Callable, Sequence

import gymnasium as gym
import numpy as np

from illab.demonstrations import concatenate_episodes as episodes_to_arrays
from illab.fileio import torch_threads
from illab.policy import Policy

__all__ = ["Episode", "episodes_to_arrays", "make_env", "run_episodes"]


@dataclass
class Episode:
    """One recorded episode. ``L`` = number of steps.

    Attributes:
        obs: ``(L, *obs_shape)`` observation before each action (float32 for Box spaces).
        actions: ``(L,)`` int64 (Discrete) or ``(L, *act_shape)`` float32 (Box).
        rewards: ``(L,)`` float32 reward after each action.
        next_obs: ``(L, *obs_shape)`` observation after each action (the last one is the
            terminal / truncation observation).
        terminated, truncated: ``(L,)`` bool, gymnasium's end flags (only the last can be True).
        seed: the reset seed.
        ret: undiscounted return, float64, summed in float64 from the float64 env rewards.
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    seed: int
    ret: float
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rewards)


# Lines that native libraries print while an environment is built and that say nothing about the
# learner's code: MuJoCo >= 3.3 warns about gymnasium's own half_cheetah.xml on every compile.
_NATIVE_NOISE = ("compiler attribute 'settotalmass' is deprecated",)
_NATIVE_LOCK = threading.RLock()   # file descriptors are per process: one redirection at a time across threads


@contextlib.contextmanager
def _filter_native_output(noise: Sequence[str] = _NATIVE_NOISE):
    """Capture what C libraries write to file descriptors 1 and 2 inside the block; afterwards
    re-print every line except those containing one of ``noise`` (and the blank line after one).

    Python-level ``sys.stdout``/``sys.stderr`` are flushed before and after, so ordering is kept.
    Real warnings and errors still show, on the stream they were written to.
    """
    with _NATIVE_LOCK:
        with _redirected_native_output(noise):
            yield


@contextlib.contextmanager
def _redirected_native_output(noise: Sequence[str]):
    streams = [(fd, target) for fd, target in ((1, sys.stdout), (2, sys.stderr))]
    saved = []
    try:
        for fd, target in streams:
            target.flush()
            tmp = tempfile.TemporaryFile()
            saved.append((fd, target, os.dup(fd), tmp))
            os.dup2(tmp.fileno(), fd)
    except OSError:  # no real file descriptors (an embedded interpreter): do not filter
        for fd, _, copy, tmp in saved:
            os.dup2(copy, fd); os.close(copy); tmp.close()
        yield
        return
    try:
        yield
    finally:
        for fd, target, copy, tmp in saved:
            os.dup2(copy, fd)
            os.close(copy)
            tmp.seek(0)
            text = tmp.read().decode(errors="replace")
            tmp.close()
            kept, skip_blank = [], False
            for line in text.splitlines(keepends=True):
                if any(n in line for n in noise):
                    skip_blank = True
                    continue
                if skip_blank and not line.strip():
                    skip_blank = False
                    continue
                skip_blank = False
                kept.append(line)
            if kept:
                target.write("".join(kept))
                target.flush()


def _headless_rendering(render_mode: str | None) -> None:
    """Point SDL (pygame, used by gymnasium's classic-control and Box2D renderers) at its dummy
    video driver when frames are only wanted as arrays and there is no display: otherwise SDL
    probes Wayland and prints "XDG_RUNTIME_DIR is invalid or not set" on every GIF.
    An explicit ``SDL_VIDEODRIVER`` set by the user is kept."""
    if render_mode in ("rgb_array", "rgb_array_list", "depth_array") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


def make_env(env_id: str, env_kwargs: dict | None = None, render_mode: str | None = None) -> gym.Env:
    """``gymnasium.make(env_id, **env_kwargs)`` with a clear error for an unknown id.

    MuJoCo tasks are built with native output filtered (see :func:`_filter_native_output`): MuJoCo's
    deprecation notice about gymnasium's bundled XML is dropped, anything else is re-printed.
    Off-screen rendering without a display uses SDL's dummy video driver (no stderr noise).

    Raises:
        ValueError: the id is unknown or the environment cannot be built.
    """
    _headless_rendering(render_mode)
    try:
        entry = str(gym.spec(env_id).entry_point)
    except gym.error.Error:
        entry = ""
    quiet = _filter_native_output() if "mujoco" in entry else contextlib.nullcontext()
    try:
        with quiet:
            return gym.make(env_id, render_mode=render_mode, **(env_kwargs or {}))
    except gym.error.Error as err:
        raise ValueError(f"cannot make environment {env_id!r}: {err}") from err


def _obs_dtype(space: gym.Space):
    return np.float32 if np.issubdtype(space.dtype, np.floating) else space.dtype


def run_episodes(policy: Policy, env_id: str, seeds: Sequence[int], *, n_envs: int = 16,
                 env_kwargs: dict | None = None, record: bool = True, deterministic: bool = True,
                 on_episode: Callable[[int, Episode], None] | None = None) -> list[Episode]:
    """Play one episode per seed with ``policy`` and return them in the order of ``seeds``.

    Args:
        policy: any :class:`~illab.policy.Policy`; called with batches ``(k, *obs_shape)``.
        env_id: gymnasium id, e.g. ``"CartPole-v1"``.
        seeds: reset seed of each episode (ints >= 0).
        n_envs: number of lockstep slots (the batch size of each policy call). Results for a
            fixed ``n_envs`` are deterministic; changing it may change float rounding of the
            network and so, rarely, an episode.
        env_kwargs: extra ``gymnasium.make`` keyword arguments (e.g. ``{"continuous": True}``).
        record: keep per-step arrays; ``False`` keeps only returns and lengths (evaluation).
        deterministic: passed to ``policy.predict``.
        on_episode: called as ``on_episode(position, episode)`` as each episode ends.

    Returns:
        A list of :class:`Episode`, ``episodes[i]`` played from ``seeds[i]``.

    Raises:
        ValueError: empty ``seeds``, ``n_envs < 1`` or an unknown environment.
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds is empty: pass at least one reset seed")
    if n_envs < 1:
        raise ValueError(f"n_envs must be >= 1, got {n_envs}")
    n = min(n_envs, len(seeds))
    make_env(env_id, env_kwargs).close()  # clear error for a bad id before building n copies
    envs = gym.vector.SyncVectorEnv([lambda: make_env(env_id, env_kwargs) for _ in range(n)],
                                    autoreset_mode=gym.vector.AutoresetMode.DISABLED)
    try:
        with torch_threads(1):  # small batches: intra-op threads only add synchronisation cost
            return _lockstep(policy, envs, seeds, record, deterministic, on_episode)
    finally:
        envs.close()


def _lockstep(policy, envs, seeds, record, deterministic, on_episode):
    n = envs.num_envs
    obs_dtype = _obs_dtype(envs.single_observation_space)
    results: list[Episode | None] = [None] * len(seeds)
    slot_pos = list(range(n))            # which episode each slot plays (-1 = idle)
    next_pos = n
    obs, _ = envs.reset(seed=seeds[:n])
    buffers = [_new_buffer() for _ in range(n)]
    returns = np.zeros(n, dtype=np.float64)
    starts = np.ones(n, dtype=bool)
    state = None
    remaining = len(seeds)
    while remaining:
        actions, state = policy.predict(obs, state=state, episode_start=starts, deterministic=deterministic)
        next_obs, rewards, terminated, truncated, _ = envs.step(actions)
        returns += rewards
        starts[:] = False
        if record:
            for i in range(n):
                if slot_pos[i] >= 0:
                    b = buffers[i]
                    b[0].append(obs[i]); b[1].append(actions[i]); b[2].append(rewards[i])
                    b[3].append(next_obs[i]); b[4].append(terminated[i]); b[5].append(truncated[i])
        else:
            for i in range(n):
                if slot_pos[i] >= 0:
                    buffers[i][2].append(rewards[i])
        done = np.logical_or(terminated, truncated)
        if done.any():
            reset_seeds: list[int | None] = [None] * n
            for i in np.flatnonzero(done):
                pos = slot_pos[i]
                if pos >= 0:
                    ep = _finish(buffers[i], seeds[pos], returns[i], obs_dtype, record)
                    results[pos] = ep
                    remaining -= 1
                    if on_episode is not None:
                        on_episode(pos, ep)
                buffers[i] = _new_buffer()
                returns[i] = 0.0
                starts[i] = True
                if next_pos < len(seeds):
                    slot_pos[i] = next_pos
                    reset_seeds[i] = seeds[next_pos]
                    next_pos += 1
                else:
                    slot_pos[i] = -1  # idle: keep stepping it (vector envs step all slots), ignore it
            if remaining:
                next_obs, _ = envs.reset(seed=reset_seeds, options={"reset_mask": done})
        obs = next_obs
    return results


def _new_buffer():
    return ([], [], [], [], [], [])


def _finish(b, seed, ret, obs_dtype, record) -> Episode:
    rewards = np.asarray(b[2], dtype=np.float32)
    if record:
        obs, actions = np.asarray(b[0], dtype=obs_dtype), np.asarray(b[1])
        next_obs = np.asarray(b[3], dtype=obs_dtype)
        terminated, truncated = np.asarray(b[4], dtype=bool), np.asarray(b[5], dtype=bool)
        actions = actions.astype(np.int64 if np.issubdtype(actions.dtype, np.integer) else np.float32)
    else:
        empty = np.zeros((0,))
        obs = actions = next_obs = empty
        terminated = truncated = np.zeros((0,), dtype=bool)
    return Episode(obs=obs, actions=actions, rewards=rewards, next_obs=next_obs, terminated=terminated,
                   truncated=truncated, seed=int(seed), ret=float(ret))
