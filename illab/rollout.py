"""Batched, seeded rollouts: the engine under collection and evaluation.

:func:`run_episodes` plays a list of seeded episodes over ``n_envs`` environments in lockstep
and calls the policy **once per step for all slots**. When a slot's episode ends, the slot is reset
with the next episode's seed, so no slot idles while work is left. The loop steps the environments
itself instead of through gymnasium's ``SyncVectorEnv``: profiled on CartPole, the vector env's
per-step bookkeeping (info dicts, observation concatenation, copies) and per-slot Python lists cost
about as much as the environment steps themselves (``docs/performance.md``). Each episode's content depends only on its seed, the policy and ``n_envs``
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

__all__ = ["Episode", "episodes_to_arrays", "make_env", "releases_gil", "run_episodes"]


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


def releases_gil(env_id: str) -> bool:
    """Whether the environment's step spends its time outside the GIL (MuJoCo's ``mj_step``), so
    that Python threads stepping different environments run in parallel. Pure-Python
    environments (classic control, Box2D's Python-side step) return False: a second thread only
    contends for the GIL there. Unknown ids return False."""
    try:
        return "mujoco" in str(gym.spec(env_id).entry_point)
    except gym.error.Error:
        return False


def _obs_dtype(space: gym.Space):
    return np.float32 if np.issubdtype(space.dtype, np.floating) else space.dtype


def run_episodes(policy: Policy, env_id: str, seeds: Sequence[int], *, n_envs: int = 16,
                 env_kwargs: dict | None = None, record: bool = True, deterministic: bool = True,
                 on_episode: Callable[[int, Episode], None] | None = None) -> list[Episode]:
    """Play one episode per seed with ``policy`` and return them in the order of ``seeds``.

    ``min(n_envs, len(seeds))`` environments play in lockstep; the policy is called once per step
    on the batch of their observations ``(n, *obs_shape)`` (in the observation space's dtype). A
    slot whose episode ends is reset at once with the next seed; once no seeds are left it idles
    (it is no longer stepped, its row of the batch stays frozen). Steps are recorded step-major
    into preallocated arrays (one row per slot), and each episode is cut out of them when it ends.

    Args:
        policy: any :class:`~illab.policy.Policy`; called with batches ``(n, *obs_shape)``.
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
    envs = [make_env(env_id, env_kwargs)]  # a bad id fails here, with a clear error, before n copies are built
    envs += [make_env(env_id, env_kwargs) for _ in range(n - 1)]
    try:
        with torch_threads(1):  # small batches: intra-op threads only add synchronisation cost
            return _lockstep(policy, envs, seeds, record, deterministic, on_episode)
    finally:
        for env in envs:
            env.close()


class _StepLog:
    """Step-major record of a lockstep run: row ``t`` holds every slot's step ``t``.

    Arrays grow by doubling; an episode of slot ``i`` that ran steps ``[t0, t1)`` is
    ``array[t0:t1, i]``. Only the arrays that are kept are allocated (``record=False``: rewards).
    """

    def __init__(self, n: int, obs_space: gym.Space, act_space: gym.Space, record: bool, capacity: int = 256):
        obs_dtype = _obs_dtype(obs_space)
        act_shape = () if isinstance(act_space, gym.spaces.Discrete) else tuple(act_space.shape)
        act_dtype = np.int64 if isinstance(act_space, gym.spaces.Discrete) else np.float32
        specs = {"rewards": ((), np.float32)}
        if record:
            specs.update(obs=(obs_space.shape, obs_dtype), next_obs=(obs_space.shape, obs_dtype),
                         actions=(act_shape, act_dtype), terminated=((), bool), truncated=((), bool))
        self.arrays = {k: np.zeros((capacity, n, *shape), dtype) for k, (shape, dtype) in specs.items()}
        self.t = 0

    def row(self) -> dict[str, np.ndarray]:
        """The arrays' row for the next step (grows them when full); advances the step counter."""
        if self.t == len(self.arrays["rewards"]):
            self.arrays = {k: np.concatenate([a, np.zeros_like(a)]) for k, a in self.arrays.items()}
        t, self.t = self.t, self.t + 1
        return {k: a[t] for k, a in self.arrays.items()}

    def cut(self, slot: int, t0: int, t1: int) -> dict[str, np.ndarray]:
        """Copies of slot ``slot``'s steps ``[t0, t1)``."""
        return {k: a[t0:t1, slot].copy() for k, a in self.arrays.items()}


def _lockstep(policy, envs, seeds, record, deterministic, on_episode):
    n = len(envs)
    obs_space, act_space = envs[0].observation_space, envs[0].action_space
    discrete = isinstance(act_space, gym.spaces.Discrete)
    log = _StepLog(n, obs_space, act_space, record)
    results: list[Episode | None] = [None] * len(seeds)
    slot_pos = list(range(n))            # which episode each slot plays (-1 = idle)
    next_pos = n
    obs = np.zeros((n, *obs_space.shape), dtype=obs_space.dtype)  # the policy's input, in the space's dtype
    for i in range(n):
        obs[i] = envs[i].reset(seed=seeds[i])[0]
    returns = np.zeros(n, dtype=np.float64)  # summed step by step
    begin = [0] * n                      # log row of each slot's first step
    starts = np.ones(n, dtype=bool)
    active = list(range(n))
    rows = slice(None)                   # the active slots as an index (all of them: a slice, no copy)
    state = None
    while active:
        actions, state = policy.predict(obs, state=state, episode_start=starts, deterministic=deterministic)
        starts[:] = False
        row = log.row()
        if record:
            row["obs"][:] = obs
            row["actions"][:] = actions
        step_actions = actions.tolist() if discrete else actions  # Python ints: gymnasium's cheapest check
        o, r, term, trunc, _ = zip(*[envs[i].step(step_actions[i]) for i in active])
        obs[rows] = o
        row["rewards"][rows] = r
        returns[rows] += r
        if record:
            row["next_obs"][rows] = o
            row["terminated"][rows] = term
            row["truncated"][rows] = trunc
        if not (any(term) or any(trunc)):
            continue
        ended = [i for i, te, tr in zip(active, term, trunc) if te or tr]
        for i in ended:
            pos = slot_pos[i]
            ep = _episode(log.cut(i, begin[i], log.t), seeds[pos], returns[i], record)
            results[pos] = ep
            if on_episode is not None:
                on_episode(pos, ep)
            returns[i], begin[i], starts[i] = 0.0, log.t, True
            if next_pos < len(seeds):
                slot_pos[i] = next_pos
                obs[i] = envs[i].reset(seed=seeds[next_pos])[0]
                next_pos += 1
            else:
                slot_pos[i] = -1
                active.remove(i)
                rows = np.array(active, dtype=np.intp)
    return results


def _episode(steps: dict[str, np.ndarray], seed: int, ret: float, record: bool) -> Episode:
    if record:
        return Episode(seed=int(seed), ret=float(ret), **steps)
    empty = np.zeros((0,))
    return Episode(obs=empty, actions=empty, rewards=steps["rewards"], next_obs=empty,
                   terminated=np.zeros((0,), dtype=bool), truncated=np.zeros((0,), dtype=bool), seed=int(seed),
                   ret=float(ret))
