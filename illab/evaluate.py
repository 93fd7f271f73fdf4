"""Seeded, leakage-free evaluation: average episodic return (AER) and normalized performance.

Metrics follow IL-Datasets (Gavenski, Luck & Rodrigues 2024, arXiv 2403.00550):

* **AER** — mean ± std of undiscounted episode returns over K test episodes.
* **Normalized performance** — per episode ``(X − random) / (expert − random)`` with the random
  and expert reference returns of the environment (means over seeded test-stream episodes),
  then mean ± std. 1.0 = expert level, 0.0 = uniformly random play.

Evaluation episodes reset with seeds from the ``"test"`` stream of :mod:`illab.seeds`, disjoint
from the ``"demonstrations"`` stream by construction; :func:`check_leakage` additionally proves
that no test *start state* equals (within a tolerance) a training start state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from illab import checks
from illab.policy import Policy, RandomPolicy
from illab.rollout import make_env, run_episodes
from illab.seeds import episode_seed, episode_seeds, stream_of


@dataclass(frozen=True)
class EvalResult:
    """Returns of K evaluation episodes.

    Attributes:
        returns: ``(K,)`` float64 undiscounted episode returns.
        lengths: ``(K,)`` int64 episode lengths in steps.
        seeds: ``(K,)`` int64 reset seeds.
    """

    returns: np.ndarray
    lengths: np.ndarray
    seeds: np.ndarray

    @property
    def mean(self) -> float:
        """AER: mean episode return."""
        return float(self.returns.mean())

    @property
    def std(self) -> float:
        """Standard deviation of episode returns (population, ddof=0)."""
        return float(self.returns.std())

    def __str__(self) -> str:
        """``AER 500.0 ± 0.0 over 100 episodes`` (one decimal; the std is over episodes)."""
        return f"AER {self.mean:.1f} ± {self.std:.1f} over {len(self.returns)} episodes"

    def __repr__(self) -> str:
        """Readable summary instead of three raw arrays: AER ± std, episode count, mean length."""
        if len(self.returns) == 0:
            return "EvalResult(no episodes)"
        return (f"EvalResult(AER {self.mean:.1f} ± {self.std:.1f}, {len(self.returns)} episodes, "
                f"mean length {float(np.mean(self.lengths)):.1f} steps)")

    def performance(self, random_return: float, expert_return: float) -> tuple[float, float]:
        """Normalized performance ``(mean, std)``; see :func:`normalized_performance`."""
        perf = normalized_performance(self.returns, random_return, expert_return)
        return float(perf.mean()), float(perf.std())


def normalized_performance(returns, random_return: float, expert_return: float) -> np.ndarray:
    """Per-episode normalized performance ``(X − random) / (expert − random)`` (arXiv 2403.00550).

    Args:
        returns: array of episode returns (any shape).
        random_return, expert_return: reference mean returns of a random policy and the expert.

    Returns:
        float64 array of the same shape.

    Raises:
        ValueError: ``expert_return == random_return`` (the score is undefined).
    """
    if expert_return == random_return:
        raise ValueError("expert and random reference returns are equal: normalized performance is undefined")
    return (np.asarray(returns, dtype=np.float64) - random_return) / (expert_return - random_return)


class PolicyOutputError(ValueError):
    """A policy returned actions the environment cannot take (wrong shape or dtype, NaN, out of bounds)."""


def _require_policy(policy: Any) -> None:
    if isinstance(policy, (str, os.PathLike)):
        raise TypeError(f"policy is a path ({str(policy)!r}), not a policy: load it first, e.g. "
                        "illab.methods.METHODS['bc'].load(path) for a trained model or illab.experts.load(id) "
                        "for an expert")
    if not callable(getattr(policy, "predict", None)):
        raise TypeError(f"policy must have a predict(obs, state, episode_start, deterministic) method (SB3's "
                        f"signature), got {type(policy).__name__}; wrap a function with illab.policy.as_policy")


class CheckedPolicy:
    """Wraps a :class:`~illab.policy.Policy` and checks every batch of actions against the action space.

    Checks (per ``predict`` call on a batch ``(n, *obs_shape)``): ``Discrete`` actions must be
    integers of shape ``(n,)`` inside ``[start, start + n)`` — floats are refused, never cast;
    ``Box`` actions must be finite floats of shape ``(n, *act_shape)`` inside ``[low, high]``
    (up to a relative float32 rounding margin of 1e-5).

    Raises:
        PolicyOutputError: naming the problem, the first offending row and the fix.
    """

    def __init__(self, policy: Policy, action_space: gym.Space):
        _require_policy(policy)
        self.policy, self.action_space = policy, action_space

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        actions, state = self.policy.predict(obs, state=state, episode_start=episode_start,
                                             deterministic=deterministic)
        self.check(actions, len(obs))
        return actions, state

    def check(self, actions, n: int) -> None:
        """Raise :class:`PolicyOutputError` unless ``actions`` is a valid batch of ``n`` actions."""
        space = self.action_space
        a = np.asarray(actions)
        name = type(self.policy).__name__
        if isinstance(space, gym.spaces.Discrete):
            if a.shape != (n,):
                raise PolicyOutputError(f"{name}.predict returned actions of shape {a.shape} for a batch of {n} "
                                        f"observations; a Discrete action space needs shape ({n},)")
            if not np.issubdtype(a.dtype, np.integer):
                raise PolicyOutputError(f"{name}.predict returned {a.dtype} actions for Discrete({space.n}); return "
                                        "integer actions (e.g. logits.argmax(-1)), floats are never cast silently")
            bad = (a < space.start) | (a >= space.start + space.n)
            if bad.any():
                i = int(np.argmax(bad))
                raise PolicyOutputError(f"{name}.predict returned action {a[i]} (row {i}) outside "
                                        f"Discrete({space.n}, start={space.start})")
        elif isinstance(space, gym.spaces.Box):
            want = (n, *space.shape)
            if a.shape != want:
                raise PolicyOutputError(f"{name}.predict returned actions of shape {a.shape} for a batch of {n} "
                                        f"observations; this Box action space needs shape {want}")
            if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
                raise PolicyOutputError(f"{name}.predict returned {a.dtype} actions; return float32 actions")
            finite = np.isfinite(a).reshape(n, -1).all(1)
            if not finite.all():
                i = int(np.argmin(finite))
                raise PolicyOutputError(f"{name}.predict returned NaN or inf actions (row {i}): the policy "
                                        "diverged; check its training loss and inputs")
            # a float32 rounding margin: SB3's unscale_action of a tanh output can land 1 ulp outside
            tol_low = 1e-5 * np.maximum(1.0, np.abs(space.low))
            tol_high = 1e-5 * np.maximum(1.0, np.abs(space.high))
            out = ((a < space.low - tol_low) | (a > space.high + tol_high)).reshape(n, -1).any(1)
            if out.any():
                i = int(np.argmax(out))
                raise PolicyOutputError(f"{name}.predict returned action {a[i].tolist()} (row {i}) outside the "
                                        f"action space [{space.low.tolist()}, {space.high.tolist()}]; clip or "
                                        "squash the actions (np.clip(a, space.low, space.high))")


def evaluate(policy: Policy, env_id: str, n_episodes: int = 100, seed: int = 0, stream: str = "test",
             env_kwargs: dict | None = None, n_envs: int = 16, deterministic: bool = True, *,
             seeds=None) -> EvalResult:
    """Run ``n_episodes`` seeded episodes of ``policy`` and return their returns.

    Args:
        policy: any :class:`~illab.policy.Policy`.
        env_id: gymnasium id; ``env_kwargs`` extra ``make`` arguments.
        n_episodes: K, number of episodes (>= 1).
        seed: base seed; episode ``i`` resets with ``episode_seed(seed, i, stream)``.
        stream: ``"test"`` for reported scores, ``"validation"`` for model selection.
        n_envs: lockstep slots (batch size of each policy call).
        deterministic: passed to ``policy.predict``.
        seeds: explicit ``(K,)`` reset seeds (e.g. from :func:`select_test_seeds`); overrides
            ``n_episodes``/``seed``. Each must come from ``stream`` (checked via its low two bits).

    Actions are checked on every step (:class:`CheckedPolicy`): a policy that returns NaN,
    out-of-bounds, wrongly shaped actions, or floats for a ``Discrete`` space is an error, never
    silently cast or clipped.

    Raises:
        TypeError: ``policy`` is not a policy (e.g. a path string), or a non-integer
            ``n_episodes``/``seed`` (``"ten"``).
        ValueError: ``n_episodes < 1`` or fractional, ``stream == "demonstrations"`` (that would
            leak), or an explicit seed that does not belong to ``stream``.
        PolicyOutputError: the policy returned actions the environment cannot take.
    """
    _require_policy(policy)
    if stream == "demonstrations":
        raise ValueError("evaluating on the demonstrations seed stream leaks training start states; "
                         "use stream='test' (reported scores) or 'validation' (model selection)")
    if seeds is not None:
        seeds = np.asarray(seeds, dtype=np.int64).reshape(-1)
        if len(seeds) < 1:
            raise ValueError("seeds is empty; pass at least one reset seed")
        wrong = [int(s) for s in seeds if stream_of(int(s)) != stream]
        if wrong:
            raise ValueError(f"{len(wrong)} seed(s) are not from the {stream!r} stream (e.g. {wrong[0]}); draw "
                             f"them with illab.seeds.episode_seed(base, i, {stream!r}) or select_test_seeds")
    else:
        n_episodes = checks.count(n_episodes, "n_episodes")
        seeds = episode_seeds(checks.seed(seed), n_episodes, stream)
    n_envs = checks.count(n_envs, "n_envs")
    env = make_env(env_id, env_kwargs)
    action_space = env.action_space
    env.close()
    eps = run_episodes(CheckedPolicy(policy, action_space), env_id, seeds, n_envs=n_envs, env_kwargs=env_kwargs, record=False,
                       deterministic=deterministic)
    return EvalResult(returns=np.array([e.ret for e in eps], dtype=np.float64),
                      lengths=np.array([len(e) for e in eps], dtype=np.int64), seeds=seeds)


def reference_returns(expert: Policy, env_id: str, n_episodes: int = 100, seed: int = 0,
                      env_kwargs: dict | None = None) -> tuple[EvalResult, EvalResult]:
    """Measure ``(random, expert)`` reference returns on the test stream (same seeds for both)."""
    env = make_env(env_id, env_kwargs)
    rand = RandomPolicy(env.action_space, seed=seed, observation_space=env.observation_space)
    return (evaluate(rand, env_id, n_episodes, seed, env_kwargs=env_kwargs),
            evaluate(expert, env_id, n_episodes, seed, env_kwargs=env_kwargs))


def start_states(env_id: str, seeds, env_kwargs: dict | None = None) -> np.ndarray:
    """First observations after ``reset(seed=s)`` for each seed, shape ``(len(seeds), *obs_shape)``."""
    env = make_env(env_id, env_kwargs)
    try:
        return np.stack([np.asarray(env.reset(seed=int(s))[0], dtype=np.float64) for s in seeds])
    finally:
        env.close()


class LeakageError(AssertionError):
    """Raised when a test start state matches a training start state."""


def check_leakage(train_starts: np.ndarray, test_starts: np.ndarray, atol: float = 1e-6) -> None:
    """Prove that no test start state lies within ``atol`` (max-norm) of any training start state.

    Args:
        train_starts: ``(N, *obs_shape)`` first observations of the demonstration episodes
            (e.g. ``obs[episode_starts]`` of a dataset).
        test_starts: ``(M, *obs_shape)`` first observations of the test episodes
            (:func:`start_states` of the test seeds).
        atol: tolerance on the max absolute difference per observation.

    Raises:
        LeakageError: lists the offending (test index, train index) pairs.
    """
    a = np.asarray(train_starts, dtype=np.float64).reshape(len(train_starts), -1)
    b = np.asarray(test_starts, dtype=np.float64).reshape(len(test_starts), -1)
    leaks = []
    for j, row in enumerate(b):
        dist = np.abs(a - row).max(axis=1) if len(a) else np.array([])
        hit = np.flatnonzero(dist <= atol)
        leaks.extend((j, int(i)) for i in hit)
    if leaks:
        raise LeakageError(f"{len(leaks)} test start state(s) match training start states within "
                           f"atol={atol} (test, train) pairs: {leaks[:10]}. Draw test seeds from the 'test' "
                           "stream of illab.seeds and demonstrations from 'demonstrations'.")


def dataset_start_states(obs: np.ndarray, episode_starts: np.ndarray) -> np.ndarray:
    """First observation of every episode in a dataset.

    Args:
        obs: ``(T, *obs_shape)`` observations (e.g. ``BaselineDataset.obs``).
        episode_starts: ``(T,)`` bool, True at each episode's first step.

    Returns:
        ``(E, *obs_shape)`` float64 array.

    Raises:
        ValueError: the two arrays disagree in length.
    """
    obs = np.asarray(obs)
    starts = np.asarray(episode_starts, dtype=bool)
    if len(obs) != len(starts):
        raise ValueError(f"obs has {len(obs)} steps but episode_starts has {len(starts)}")
    return np.asarray(obs[starts], dtype=np.float64)


def select_test_seeds(env_id: str, n_episodes: int, train_starts: np.ndarray, seed: int = 0,
                      env_kwargs: dict | None = None, atol: float = 1e-6, stream: str = "test",
                      max_attempts: int = 100) -> tuple[np.ndarray, int]:
    """Test seeds whose start states are all farther than ``atol`` from every training start.

    Test episode ``i`` resets with ``episode_seed(seed, i, stream, attempt)``, starting from
    ``attempt = 0``; a seed whose start state lies within ``atol`` (max-norm) of a training start
    state is replaced by the next attempt. This is what IL-Datasets (arXiv 2403.00550) promises
    ("evaluation seeds selected ... to make sure that the first state is not present in the
    training datasets") made explicit: on environments with low-dimensional start distributions
    (MountainCar starts at ``[U(-0.6, -0.4), 0]``) a float32 start state can repeat.

    Args:
        env_id, env_kwargs: the task.
        n_episodes: K, number of test seeds (>= 1).
        train_starts: ``(N, *obs_shape)`` first observations of the demonstration episodes.
        seed: base seed of the test stream.
        atol: tolerance of the max absolute difference (as in :func:`check_leakage`).
        max_attempts: attempts per index before giving up.

    Returns:
        ``(seeds, replaced)``: ``(K,)`` int64 seeds and how many first-attempt seeds were replaced.

    Raises:
        ValueError: ``n_episodes < 1``.
        LeakageError: no leak-free seed for an index within ``max_attempts``.
    """
    if n_episodes < 1:
        raise ValueError(f"n_episodes must be >= 1, got {n_episodes}")
    train = np.asarray(train_starts, dtype=np.float64).reshape(len(train_starts), -1)
    env = make_env(env_id, env_kwargs)
    seeds, replaced = [], 0
    try:
        for i in range(n_episodes):
            for attempt in range(max_attempts):
                s = episode_seed(seed, i, stream, attempt)
                start = np.asarray(env.reset(seed=s)[0], dtype=np.float64).reshape(-1)
                if not len(train) or np.abs(train - start).max(axis=1).min() > atol:
                    break
            else:
                raise LeakageError(f"test episode {i}: every one of {max_attempts} seeds starts within atol={atol} "
                                   "of a training start state; lower atol or check the environment's reset")
            replaced += attempt > 0
            seeds.append(s)
    finally:
        env.close()
    return np.array(seeds, dtype=np.int64), replaced


def interquartile_mean(scores) -> float:
    """Interquartile mean (IQM): the mean of the middle 50 % of scores.

    The robust aggregate recommended by Agarwal et al. 2021, "Deep Reinforcement Learning at the
    Edge of the Statistical Precipice" (arXiv 2108.13264): sort the scores, drop
    ``floor(0.25 * n)`` from each end, average the rest (same as
    ``scipy.stats.trim_mean(scores, 0.25)``; for fewer than 4 scores it is the plain mean).

    Args:
        scores: any array of finite numbers (flattened), e.g. normalized performances of all
            (environment, training seed) runs.

    Returns:
        float.

    Raises:
        ValueError: empty input or non-finite values.
    """
    x = np.sort(np.asarray(scores, dtype=np.float64).reshape(-1))
    if not len(x):
        raise ValueError("interquartile_mean of an empty list of scores is undefined")
    if not np.all(np.isfinite(x)):
        raise ValueError("interquartile_mean: scores contain NaN or infinity")
    cut = int(0.25 * len(x))
    return float(x[cut:len(x) - cut].mean())
