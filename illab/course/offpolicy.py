"""Checkers for notebook 09 (off-policy imitation): IQ-Learn's soft value and implied reward.

The checkers follow the course's one exercise pattern (:mod:`illab.course.exercise`): a stub is reported as
not attempted yet and the reference (:mod:`illab.course.solutions`) is used; a right answer is called correct
and returned; a wrong one raises ``AssertionError`` with a hint. IQ-Learn: Garg et al. 2021, arXiv 2106.12142.
"""

from __future__ import annotations

import numpy as np
import torch

from illab.course import solutions
from illab.course.exercise import Attempt


def check_soft_value(fn, reference=solutions.soft_value):
    """Check ``fn(q, alpha) -> v``: the soft value of a ``Discrete`` soft Q-function.

    ``q``: ``(n, k)`` float32 tensor of Q-values of k actions; ``alpha``: the temperature
    (float > 0). The answer is ``V(s) = α log Σ_a exp(Q(s, a)/α)``, an ``(n,)`` tensor, computed
    stably (``torch.logsumexp``) so that Q-values in the hundreds do not overflow.

    Args:
        fn: the learner's function.
        reference: the solution, checked (and returned) instead while ``fn`` raises ``NotImplementedError``.

    Returns:
        ``fn`` if it is right; ``reference`` (with a "not attempted yet" note) while ``fn`` is a stub.

    Raises:
        AssertionError: with a hint (hard max, missing α, sum over the batch, overflow, ...).
    """
    attempt = Attempt(fn, reference, getattr(fn, "__name__", "your function"))
    gen = torch.Generator().manual_seed(0)
    for n, k, alpha, scale in ((4, 2, 1.0, 1.0), (5, 3, 0.1, 1.0), (3, 4, 0.5, 300.0)):
        q = torch.randn(n, k, generator=gen) * scale
        got = attempt(q.clone(), alpha)
        if not isinstance(got, torch.Tensor):
            raise attempt.fail(f"return a torch tensor, got {type(got).__name__}")
        if tuple(got.shape) != (n,):
            raise attempt.fail(f"return one value per state, shape ({n},), got {tuple(got.shape)}: reduce over "
                               "the actions (dim=1) only")
        want = alpha * torch.logsumexp(q / alpha, dim=1)
        if not torch.isfinite(got).all():
            raise attempt.fail("your values overflow for large Q-values: use torch.logsumexp instead of "
                               "log(sum(exp(...)))")
        if torch.allclose(got, want, rtol=1e-4, atol=1e-4):
            continue
        if torch.allclose(got, q.max(dim=1).values):
            raise attempt.fail("that is the hard max (the α → 0 limit): the soft value is α·logsumexp(Q/α)")
        if torch.allclose(got, torch.logsumexp(q, dim=1)):
            raise attempt.fail("divide Q by α inside the logsumexp and multiply the result by α")
        raise attempt.fail(f"for α={alpha} expected {want.tolist()}, got {got.tolist()}")
    return attempt.done("V(s) = α logsumexp(Q(s, ·)/α), a smooth maximum.")


def check_implied_reward(fn, reference=solutions.implied_reward):
    """Check ``fn(q_sa, v_next, terminated, gamma) -> r``: IQ-Learn's implied reward.

    ``q_sa``: ``(n,)`` Q(s, a); ``v_next``: ``(n,)`` V(s'); ``terminated``: ``(n,)`` bool tensor
    (s' is terminal: no future value); ``gamma``: discount in [0, 1). The answer is the inverse
    soft Bellman operator ``r = Q(s, a) − γ (1 − terminated) V(s')``, an ``(n,)`` tensor.

    Returns:
        ``fn`` if it is right; ``reference`` (with a "not attempted yet" note) while ``fn`` is a stub.

    Raises:
        AssertionError: with a hint (sign, missing γ, terminal states, ...).
    """
    attempt = Attempt(fn, reference, getattr(fn, "__name__", "your function"))
    gen = torch.Generator().manual_seed(1)
    n, gamma = 6, 0.9
    q, v2 = torch.randn(n, generator=gen), torch.randn(n, generator=gen)
    term = torch.tensor([False, True, False, False, True, False])
    got = attempt(q.clone(), v2.clone(), term.clone(), gamma)
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != (n,):
        raise attempt.fail(f"return an ({n},) tensor, one reward per transition")
    want = q - gamma * (~term).float() * v2
    if torch.allclose(got, q - gamma * v2):
        raise attempt.fail("a terminal state has no future: multiply γ V(s') by (1 − terminated)")
    if torch.allclose(got, q - (~term).float() * v2):
        raise attempt.fail("discount the next state's value: γ V(s')")
    if torch.allclose(got, -want):
        raise attempt.fail("the sign is flipped: r = Q(s, a) − γ V(s'), the reward is what Q earns now")
    if not torch.allclose(got, want, atol=1e-5):
        raise attempt.fail(f"expected {np.round(want.numpy(), 4).tolist()}, "
                           f"got {np.round(got.detach().numpy(), 4).tolist()}")
    return attempt.done("r(s, a) = Q(s, a) − γ V(s'), zero future value at terminal states.")
