"""Reference solutions of the course exercises (peek only after trying).

The checkers in :mod:`illab.course` fall back to these while an exercise is not attempted, and say so.
"""

from __future__ import annotations

import numpy as np
import torch


def my_enjoy(path, context, expert) -> bool:
    """02: play one episode from ``context.seed``, save it, keep it if it reaches the threshold."""
    from illab.recording import save_episodes
    from illab.rollout import run_episodes
    (episode,) = run_episodes(expert, context.env_id, [context.seed], n_envs=1, env_kwargs=context.env_kwargs)
    save_episodes(path, [episode], attempts=[context.attempt])
    return bool(episode.ret >= context.threshold)


def my_seed(base_seed: int, index: int) -> int:
    """02: the Controller's reset seed of episode ``index`` (first attempt)."""
    from illab.seeds import episode_seed
    return episode_seed(base_seed, index, "demonstrations")


def split_sizes(episode_lengths, n_episodes: int) -> tuple[int, int]:
    """03: transitions in train (episodes ``[0, N)``) and eval (``[N, E)``)."""
    lengths = np.asarray(episode_lengths)
    return int(lengths[:n_episodes].sum()), int(lengths[n_episodes:].sum())


def bc_loss(logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """04: mean negative log-likelihood of the expert's actions."""
    log_probs = torch.log_softmax(logits, dim=-1)
    return -log_probs[torch.arange(len(actions)), actions].mean()


def idm_pairs(states, actions):
    """05: rows ``[s_t, s_t+1]`` and targets ``a_t``."""
    return np.concatenate([states[:-1], states[1:]], axis=1), np.asarray(actions)


def beta(i: int, p: float) -> float:
    """06: DAgger's exponential schedule ``β_i = p ** i``."""
    return p ** i


def gail_reward(d):
    """06: ``−log(1 − D)``."""
    return -np.log1p(-np.asarray(d, dtype=np.float64))


def my_iqm(scores) -> float:
    """07: interquartile mean — sort, drop ``floor(n / 4)`` from each end, average the rest."""
    x = np.sort(np.asarray(scores, dtype=np.float64))
    cut = len(x) // 4
    return float(x[cut:len(x) - cut].mean())


def my_normalized(returns, random_return: float, expert_return: float):
    """07: per-episode normalized performance ``(X − random) / (expert − random)``."""
    return (np.asarray(returns, dtype=np.float64) - random_return) / (expert_return - random_return)


def projection_step(mu_bar, mu, mu_expert):
    """08: Abbeel & Ng's projection of ``μ_E`` onto the line through ``μ̄`` and ``μ``."""
    d = mu - mu_bar
    return mu_bar + (d @ (mu_expert - mu_bar)) / (d @ d) * d


def airl_logit(g_s, h_s, h_next, terminated, log_pi, gamma):
    """08: AIRL's discriminator logit ``f(s, a, s′) − log π(a|s)``, ``f = g(s) + γ h(s′)(1 − terminated) − h(s)``."""
    return g_s + gamma * h_next * (1.0 - np.asarray(terminated, dtype=float)) - h_s - log_pi


def soft_value(q: torch.Tensor, alpha: float) -> torch.Tensor:
    """09: ``V(s) = α logsumexp(Q(s, ·)/α)``, computed stably."""
    return alpha * torch.logsumexp(q / alpha, dim=1)


def implied_reward(q_sa: torch.Tensor, v_next: torch.Tensor, terminated: torch.Tensor, gamma: float) -> torch.Tensor:
    """09: IQ-Learn's implied reward ``r = Q(s, a) − γ (1 − terminated) V(s′)``."""
    return q_sa - gamma * (~terminated).float() * v_next
