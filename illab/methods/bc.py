"""Behavioural cloning: supervised learning of the expert's action from the state.

Pomerleau 1989, "ALVINN: An Autonomous Land Vehicle in a Neural Network" (NeurIPS 1);
Bain & Sammut 1995, "A Framework for Behavioural Cloning" (Machine Intelligence 15).

Given demonstrations ``{(s_t, a_t)}`` minimise ``E[ℓ(π_θ(s_t), a_t)]`` with cross-entropy for
``Discrete`` actions and mean squared error (on actions scaled to [-1, 1]) for ``Box`` actions.
BC never sees its own mistakes, so small errors move it to states the expert never visited and
errors compound: up to ``O(ε T²)`` cost over horizon ``T`` (Ross & Bagnell 2010; Ross, Gordon &
Bagnell 2011, arXiv 1011.0686) — the problem DAgger fixes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from illab.demonstrations import Demonstrations
from illab.methods.base import ConfigBase, Env, ILMethod, Timer
from illab.methods.networks import Adam, fit_supervised
from illab.seeds import torch_seed


@dataclass
class BCConfig(ConfigBase):
    """Hyperparameters of :class:`BC` (defaults work on the classic-control tasks untuned)."""

    hidden_sizes: tuple[int, ...] = (64, 64)
    """Widths of the MLP's hidden layers (ReLU)."""
    learning_rate: float = 1e-3
    """Adam's step size (at the start of each ``fit`` with ``lr_schedule="cosine"``)."""
    lr_schedule: str = "constant"
    """``"constant"``: the step size stays at ``learning_rate``; ``"cosine"``: it decays from
    ``learning_rate`` to 0 over the ``fit``'s gradient steps on a half cosine (Loshchilov & Hutter
    2017, SGDR, arXiv 1608.03983). With 100 CartPole demonstrations, cosine from 1e-2 keeps BC at
    the expert's level once there (94 % of later checkpoints, against 58 % for the default) but from 2
    demonstrations it ends far below the default (0.27–0.47 against 0.81–0.95 normalized), so it is
    an option, not the default (``docs/methods.md``, "BC: staying at the expert")."""
    batch_size: int = 256
    """Transitions per gradient step."""
    epochs: int = 20
    """Passes over the training transitions."""
    weight_decay: float = 0.0
    """Adam L2 penalty."""
    eval_every: int = 0
    """Evaluate on ``eval_episodes`` validation-stream episodes every this many epochs (0 = only
    at the end, and only if an environment is known)."""

    def __post_init__(self):
        super().__post_init__()
        self._check_positive("learning_rate", "batch_size", "epochs")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"BCConfig.lr_schedule must be 'cosine' or 'constant', got {self.lr_schedule!r}")


class BC(ILMethod):
    """Behavioural cloning (Pomerleau 1989; Bain & Sammut 1995).

    >>> bc = BC.from_dataset(train).fit(train)             # doctest: +SKIP
    >>> actions, _ = bc.predict(obs)                       # doctest: +SKIP

    Learns from the demonstrations' ``obs`` ``(T, *obs_shape)`` and ``actions`` (``(T,)`` int64
    or ``(T, *act_shape)`` float32); needs no environment (one is used only for validation-stream
    evaluation, ``eval_step`` = epoch). Logs ``history["loss"]`` per epoch and
    ``history["samples_per_second"]`` (training throughput, evaluation excluded).
    """

    name = "bc"
    config_class = BCConfig

    def _train(self, demos: Demonstrations, *, env: Env, expert: Any, progress: bool) -> int:
        cfg = self.config
        start = len(self.history.get("loss", []))  # a second fit continues the epoch count
        batches = torch.Generator().manual_seed(torch_seed(self.seed, "bc-batches"))

        def after_epoch(epoch: int, loss: float) -> None:
            self._log(loss=loss)
            done = start + epoch + 1
            if cfg.eval_every and done % cfg.eval_every == 0 and epoch + 1 < cfg.epochs:
                self._evaluate(done)  # keeps the best weights seen on the validation stream
                self.net.train()

        opt = Adam(self.net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        total = cfg.epochs * math.ceil(len(demos) / max(1, min(cfg.batch_size, len(demos))))

        def after_step(step: int) -> None:  # the step size for gradient step ``step + 1``
            if cfg.lr_schedule == "cosine":
                opt.lr = cfg.learning_rate * 0.5 * (1.0 + math.cos(math.pi * step / total))

        timer = Timer()
        # minimise E[ℓ(π_θ(s_t), a_t)]: cross-entropy (Discrete) or MSE on scaled actions (Box)
        fit_supervised(self.net, self.codec, demos.obs, demos.actions, epochs=cfg.epochs,
                       batch_size=cfg.batch_size, learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay,
                       generator=batches, optimizer=opt, on_epoch=after_epoch, on_step=after_step,
                       progress=progress, desc="BC")
        seconds = max(timer() - self._eval_seconds, 1e-9)
        self._log(samples_per_second=len(demos) * cfg.epochs / seconds)
        return start + cfg.epochs
