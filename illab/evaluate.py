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

from dataclasses import dataclass

import numpy as np

from illab.policy import Policy, RandomPolicy
from illab.rollout import make_env, run_episodes
from illab.seeds import episode_seeds


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


def evaluate(policy: Policy, env_id: str, n_episodes: int = 100, seed: int = 0, stream: str = "test",
             env_kwargs: dict | None = None, n_envs: int = 16, deterministic: bool = True) -> EvalResult:
    """Run ``n_episodes`` seeded episodes of ``policy`` and return their returns.

    Args:
        policy: any :class:`~illab.policy.Policy`.
        env_id: gymnasium id; ``env_kwargs`` extra ``make`` arguments.
        n_episodes: K, number of episodes (>= 1).
        seed: base seed; episode ``i`` resets with ``episode_seed(seed, i, stream)``.
        stream: ``"test"`` for reported scores, ``"validation"`` for model selection.
        n_envs: lockstep slots (batch size of each policy call).
        deterministic: passed to ``policy.predict``.

    Raises:
        ValueError: ``n_episodes < 1`` or ``stream == "demonstrations"`` (that would leak).
    """
    if n_episodes < 1:
        raise ValueError(f"n_episodes must be >= 1, got {n_episodes}")
    if stream == "demonstrations":
        raise ValueError("evaluating on the demonstrations seed stream leaks training start states; "
                         "use stream='test' (reported scores) or 'validation' (model selection)")
    seeds = episode_seeds(seed, n_episodes, stream)
    eps = run_episodes(policy, env_id, seeds, n_envs=n_envs, env_kwargs=env_kwargs, record=False,
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
