"""Solutions to the exercises of notebook 08 (peek only after trying)."""

import numpy as np


def projection_step(mu_bar, mu, mu_expert):
    """08: Abbeel & Ng's projection of μ_E onto the line through μ̄ and μ."""
    d = mu - mu_bar
    return mu_bar + (d @ (mu_expert - mu_bar)) / (d @ d) * d


def airl_logit(g_s, h_s, h_next, terminated, log_pi, gamma):
    """08: AIRL's discriminator logit f(s, a, s′) − log π(a|s)."""
    return g_s + gamma * h_next * (1.0 - np.asarray(terminated, dtype=float)) - h_s - log_pi
