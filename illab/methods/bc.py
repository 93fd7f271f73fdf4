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

from dataclasses import dataclass
from typing import Any

import torch

from illab.methods.base import ConfigBase, ILMethod, Timer, dataset_arrays, fit_supervised
from illab.seeds import torch_seed


@dataclass
class BCConfig(ConfigBase):
    """Hyperparameters of :class:`BC` (defaults work on the classic-control tasks untuned)."""

    hidden_sizes: tuple[int, ...] = (64, 64)
    """Widths of the MLP's hidden layers (ReLU)."""
    learning_rate: float = 1e-3
    """Adam step size."""
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
        self._check_positive("learning_rate", "batch_size", "epochs")


class BC(ILMethod):
    """Behavioural cloning (Pomerleau 1989; Bain & Sammut 1995).

    >>> bc = BC.from_dataset(train).fit(train)             # doctest: +SKIP
    >>> actions, _ = bc.predict(obs)                       # doctest: +SKIP

    Uses ``obs`` and ``actions`` of the dataset (a :class:`~illab.data.BaselineDataset` or
    any object/dict with those numpy arrays: ``obs`` ``(T, *obs_shape)`` float32, ``actions``
    ``(T,)`` int64 or ``(T, *act_shape)`` float32).
    """

    name = "bc"
    config_class = BCConfig

    def fit(self, dataset: Any = None, *, env_id: str | None = None, env_kwargs: dict | None = None,
            expert: Any = None, eval_episodes: int = 10, progress: bool = True) -> "BC":
        """Train on ``dataset`` for ``config.epochs`` epochs.

        Args:
            dataset: the demonstrations (required).
            env_id, env_kwargs: environment for validation-stream evaluation during training
                (defaults to the dataset's ``env_id``/``env_kwargs``; no evaluation if unknown).
            expert: ignored (BC needs no expert queries).
            eval_episodes: validation episodes per evaluation (0 = none).
            progress: show a tqdm progress bar over epochs.

        Logs ``history["loss"]`` per epoch, ``history["eval_*"]`` (``eval_step`` = epoch) and
        ``history["samples_per_second"]`` / ``history["train_seconds"]`` (training throughput and time
        of this call, evaluation excluded).

        Raises:
            ValueError: no dataset, or observations/actions that do not fit the spaces.
        """
        if dataset is None:
            raise ValueError("BC.fit needs a dataset of demonstrations (obs, actions)")
        arrays = dataset_arrays(dataset, ("obs", "actions"))
        env_id, env_kwargs = self._env(dataset, env_id, env_kwargs)
        self._check_obs(arrays["obs"])
        if not self.history.get("loss"):
            self.net.encoder.fit_normalization(arrays["obs"])
        gen = torch.Generator().manual_seed(torch_seed(self.seed, "bc-batches"))
        cfg = self.config
        start_epoch = len(self.history.get("loss", []))

        def on_epoch(epoch: int, loss: float) -> None:
            self._log(loss=loss)
            e = start_epoch + epoch + 1
            if cfg.eval_every and e % cfg.eval_every == 0 and epoch + 1 < cfg.epochs:
                t = Timer()
                self._evaluate(env_id, env_kwargs, eval_episodes, e)
                self.net.train()
                eval_seconds[0] += t()

        eval_seconds = [0.0]
        timer = Timer()
        fit_supervised(self.net, self.codec, arrays["obs"], arrays["actions"], epochs=cfg.epochs,
                       batch_size=cfg.batch_size, learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay,
                       generator=gen, on_epoch=on_epoch, progress=progress, desc="BC")
        seconds = timer() - eval_seconds[0]
        self._log(samples_per_second=len(arrays["obs"]) * cfg.epochs / max(seconds, 1e-9), train_seconds=seconds)
        self._evaluate(env_id, env_kwargs, eval_episodes, start_epoch + cfg.epochs)
        self._select_best()
        return self

    def _check_obs(self, obs) -> None:
        if tuple(obs.shape[1:]) != tuple(self.observation_space.shape):
            raise ValueError(f"dataset observations have shape {tuple(obs.shape[1:])} but the method was built "
                             f"for {tuple(self.observation_space.shape)}; build it with from_dataset(dataset)")
