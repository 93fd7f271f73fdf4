"""Checkers for notebook 09 (off-policy imitation): IQ-Learn's soft value and implied reward.

Each ``check_*`` raises ``AssertionError`` saying what is wrong and hinting at the fix, and prints
a confirmation when the answer is right. IQ-Learn: Garg et al. 2021, arXiv 2106.12142.
"""

from __future__ import annotations

import numpy as np
import torch

from illab.course.cloning import _attempt


def check_soft_value(fn, reference=None) -> None:
    """Check ``fn(q, alpha) -> v``: the soft value of a ``Discrete`` soft Q-function.

    ``q``: ``(n, k)`` float32 tensor of Q-values of k actions; ``alpha``: the temperature
    (float > 0). The answer is ``V(s) = α log Σ_a exp(Q(s, a)/α)``, an ``(n,)`` tensor, computed
    stably (``torch.logsumexp``) so that Q-values in the hundreds do not overflow.

    Args:
        fn: the learner's function.
        reference: the solution, checked instead while ``fn`` raises ``NotImplementedError``.

    Raises:
        AssertionError: with a hint (hard max, missing α, sum over the batch, overflow, ...).
    """
    gen = torch.Generator().manual_seed(0)
    for n, k, alpha, scale in ((4, 2, 1.0, 1.0), (5, 3, 0.1, 1.0), (3, 4, 0.5, 300.0)):
        q = torch.randn(n, k, generator=gen) * scale
        got, _ = _attempt(fn, reference, q, alpha)
        if not isinstance(got, torch.Tensor):
            raise AssertionError(f"return a torch tensor, got {type(got).__name__}")
        if tuple(got.shape) != (n,):
            raise AssertionError(f"return one value per state, shape ({n},), got {tuple(got.shape)}: reduce over "
                                 "the actions (dim=1) only")
        want = alpha * torch.logsumexp(q / alpha, dim=1)
        if not torch.isfinite(got).all():
            raise AssertionError("your values overflow for large Q-values: use torch.logsumexp instead of "
                                 "log(sum(exp(...)))")
        if torch.allclose(got, want, rtol=1e-4, atol=1e-4):
            continue
        if torch.allclose(got, q.max(dim=1).values):
            raise AssertionError("that is the hard max (the α → 0 limit): the soft value is α·logsumexp(Q/α)")
        if torch.allclose(got, torch.logsumexp(q, dim=1)):
            raise AssertionError("divide Q by α inside the logsumexp and multiply the result by α")
        raise AssertionError(f"for α={alpha} expected {want.tolist()}, got {got.tolist()}")
    print("soft value: correct — V(s) = α logsumexp(Q(s, ·)/α), a smooth maximum.")


def check_implied_reward(fn, reference=None) -> None:
    """Check ``fn(q_sa, v_next, terminated, gamma) -> r``: IQ-Learn's implied reward.

    ``q_sa``: ``(n,)`` Q(s, a); ``v_next``: ``(n,)`` V(s'); ``terminated``: ``(n,)`` bool tensor
    (s' is terminal: no future value); ``gamma``: discount in [0, 1). The answer is the inverse
    soft Bellman operator ``r = Q(s, a) − γ (1 − terminated) V(s')``, an ``(n,)`` tensor.

    Raises:
        AssertionError: with a hint (sign, missing γ, terminal states, ...).
    """
    gen = torch.Generator().manual_seed(1)
    n, gamma = 6, 0.9
    q, v2 = torch.randn(n, generator=gen), torch.randn(n, generator=gen)
    term = torch.tensor([False, True, False, False, True, False])
    got, _ = _attempt(fn, reference, q, v2, term, gamma)
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != (n,):
        raise AssertionError(f"return an ({n},) tensor, one reward per transition")
    want = q - gamma * (~term).float() * v2
    if torch.allclose(got, q - gamma * v2):
        raise AssertionError("a terminal state has no future: multiply γ V(s') by (1 − terminated)")
    if torch.allclose(got, q - (~term).float() * v2):
        raise AssertionError("discount the next state's value: γ V(s')")
    if torch.allclose(got, -want):
        raise AssertionError("the sign is flipped: r = Q(s, a) − γ V(s'), the reward is what Q earns now")
    if not torch.allclose(got, want, atol=1e-5):
        raise AssertionError(f"expected {np.round(want.numpy(), 4).tolist()}, got {np.round(got.detach().numpy(), 4).tolist()}")
    print("implied reward: correct — r(s, a) = Q(s, a) − γ V(s'), zero future value at terminal states.")
