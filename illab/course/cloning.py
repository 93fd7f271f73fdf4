"""Checkers for notebook 04 (behavioural cloning): the BC loss for discrete actions.

Each ``check_*`` raises ``AssertionError`` saying what is wrong and hinting at the fix, and prints
a confirmation when the answer is right. Behavioural cloning: Pomerleau 1989; Bain & Sammut 1995.
"""

from __future__ import annotations

import numpy as np
import torch

from illab.course import solutions
from illab.course.exercise import Attempt


def check_bc_loss(fn, reference=solutions.bc_loss):
    """Check ``fn(logits, actions) -> scalar tensor``: BC's loss for ``Discrete`` actions.

    ``logits``: ``(n, k)`` float32 tensor (unnormalised scores of the k actions);
    ``actions``: ``(n,)`` int64 tensor of the expert's actions. The answer is the mean negative
    log-likelihood ``−(1/n) Σ_t log softmax(logits_t)[a_t]`` (= cross-entropy), a 0-d tensor that
    gradients flow through.

    Args:
        fn: the learner's function.
        reference: the solution, checked (and returned) instead while ``fn`` raises ``NotImplementedError``.

    Returns:
        ``fn`` if it is right; ``reference`` (with a "not attempted yet" note) while ``fn`` is a stub.

    Raises:
        AssertionError: with a hint (sum instead of mean, probabilities instead of log, no softmax, ...).
    """
    attempt = Attempt(fn, reference, getattr(fn, "__name__", "your function"))
    gen = torch.Generator().manual_seed(0)
    for n, k in ((5, 2), (7, 3), (1, 4)):
        logits = torch.randn(n, k, generator=gen, requires_grad=True)
        actions = torch.randint(0, k, (n,), generator=gen)
        got = attempt(logits, actions)
        if not isinstance(got, torch.Tensor):
            raise attempt.fail(f"return a torch tensor (so gradients can flow), got {type(got).__name__}")
        if got.dim() != 0:
            raise attempt.fail(f"return one number (a 0-d tensor), got shape {tuple(got.shape)}: average over steps")
        with torch.no_grad():
            want = torch.nn.functional.cross_entropy(logits, actions)
            logp = torch.log_softmax(logits, -1)[torch.arange(n), actions]
            raw = logits[torch.arange(n), actions]
        value = float(got.detach())
        if np.isclose(value, float(-logp.sum())) and n > 1:
            raise attempt.fail("you summed over the batch: take the mean so the loss does not grow with batch size")
        if np.isclose(value, float(-logp.exp().mean())) or np.isclose(value, float(-torch.log(logp.exp()).mean()) + 1):
            raise attempt.fail("use the log of the probability (negative log-likelihood), not the probability")
        if np.isclose(value, float(-raw.mean())):
            raise attempt.fail("normalise the logits first: log_softmax(logits), then pick the expert's action")
        if np.isclose(value, float(logp.mean())):
            raise attempt.fail("the sign is wrong: we *minimise* the negative log-likelihood")
        if not np.isclose(value, float(want), atol=1e-5):
            raise attempt.fail(f"for {n} steps and {k} actions expected {float(want):.4f}, got {value:.4f}")
        if not got.requires_grad:
            raise attempt.fail("the loss does not depend on logits through torch ops (no gradient): avoid numpy here")
    return attempt.done("the mean negative log-likelihood of the expert's actions.")
