"""Imitating unknown policies via exploration, IUPE.

Gavenski, Monteiro, Granada, Meneguzzi & Barros 2020, "Imitating Unknown Policies via
Exploration", BMVC, arXiv 2008.05660.

IUPE is :mod:`ABCO <illab.methods.abco>` (goal-aware sampling of the inverse dynamics model's
data) plus two exploration mechanisms that keep the agent from committing early to wrong labels:

1. **exploratory play** — while it collects its own transitions the agent *samples* its action
   from the policy's distribution instead of taking the most likely one;
2. **sampled labels** — the demonstrations' labels are drawn from the IDM's predicted distribution
   ``a ~ p_θ(· | s, s')`` (redrawn every policy epoch) instead of its argmax, so ambiguous
   transitions train the policy towards every plausible action in proportion to its probability.

``Discrete`` actions: both distributions are the networks' softmax (as in the paper).

``Box`` actions (not in the paper, which covers discrete actions only): illab's Box networks are
trained with mean squared error on actions scaled to [-1, 1], i.e. maximum likelihood of a
Gaussian ``N(μ_θ(x), σ²I)`` with a fixed σ. The carried-over samplers, in scaled units, clipped
to the bounds:

- exploratory play: ``a = μ_π(s) + ε``, ``ε ~ N(0, exploration_std² I)`` (default 0.1, the
  Gaussian exploration noise of TD3, Fujimoto, van Hoof & Meger 2018, arXiv 1802.09477);
- labels: with a Gaussian IDM and the policy's MSE loss, a sampled label has expected loss
  ``‖π − μ‖² + tr Σ``, minimised by the same ``π = μ`` as the mean label — sampling only adds
  gradient noise (on LunarLanderContinuous it cost 0.4 normalized performance with σ the IDM's
  maximum-likelihood residual). So by default (``sample_box_labels=False``) IUPE on Box trains on
  the IDM's mean, i.e. IUPE = ABCO + exploration there; ``True`` draws each label from
  ``N(μ_IDM, σ²)`` with σ the IDM's root-mean-square residual on its own data (its ML σ).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from illab.demonstrations import Demonstrations
from illab.fileio import torch_threads
from illab.methods.abco import ABCO, ABCOConfig
from illab.methods.bco import idm_input
from illab.methods.networks import as_tensor_obs, fit_supervised
from illab.policy import _batch, _finish_actions


@dataclass
class IUPEConfig(ABCOConfig):
    """Hyperparameters of :class:`IUPE` (ABCO's, plus the Box samplers)."""

    exploration_std: float = 0.1
    """Box actions only: σ of the Gaussian exploration noise while the agent plays, in actions
    scaled to [-1, 1] (0.1: TD3's default, arXiv 1802.09477)."""
    sample_box_labels: bool = False
    """Box actions only: draw the demonstrations' labels from ``N(μ_IDM, σ²)`` (σ: the IDM's RMS
    residual) instead of using the IDM's mean (see the module docstring for why False is the default)."""

    def __post_init__(self):
        super().__post_init__()
        if self.exploration_std < 0:
            raise ValueError(f"IUPEConfig.exploration_std must be >= 0, got {self.exploration_std}")



class _Explorer:
    """The agent's exploratory behaviour policy for Box actions: ``clip(μ_π(s) + σ ε)``, ε ~ N(0, I)."""

    def __init__(self, method: "IUPE", std: np.ndarray, rng: np.random.Generator):
        self.method, self.std, self.rng = method, std, rng

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        m = self.method
        batch, single = _batch(obs, m.observation_space)
        with torch.inference_mode(), torch_threads(1):
            mean = m._forward(as_tensor_obs(batch)).cpu().numpy()
        scaled = mean + self.std * self.rng.standard_normal(mean.shape).astype(np.float32)
        actions = m.codec.decode(torch.as_tensor(np.clip(scaled, -1.0, 1.0)))
        return _finish_actions(actions, m.action_space, single), state


class IUPE(ABCO):
    """Imitating unknown policies via exploration (Gavenski et al. 2020, arXiv 2008.05660).

    ABCO with exploratory play (actions sampled from the policy) and sampled IDM labels (see the
    module docstring for the Discrete and Box samplers). Acting after training (``predict`` with
    ``deterministic=True``, what evaluation uses) is greedy, as in ABCO.

    Logs ABCO's history plus ``label_agreement`` (fraction of sampled labels equal to the IDM's
    most likely action, Discrete; within 0.1 scaled, Box, when labels are sampled) and, for Box,
    ``exploration_std`` per round.
    """

    name = "iupe"
    config_class = IUPEConfig

    def _behaviour(self):
        if self.codec.discrete:
            return self._with_epsilon(self, False)  # sample from the policy's softmax
        std = np.full(self.codec.dim, self.config.exploration_std, dtype=np.float32)
        self._log(exploration_std=float(self.config.exploration_std))
        return self._with_epsilon(_Explorer(self, std, self._rng("explore")), True)

    def sample_labels(self, obs: np.ndarray, next_obs: np.ndarray, rng: np.random.Generator,
                      std: np.ndarray | None = None) -> np.ndarray:
        """Actions drawn from the IDM's distribution for each pair ``(obs[t], next_obs[t])``.

        Args:
            obs, next_obs: ``(T, *obs_shape)`` consecutive observations.
            rng: the random stream of the draw.
            std: Box only, ``(act_dim,)`` σ of the Gaussian in scaled units (default: the IDM's
                root-mean-square residual on its own data).

        Returns:
            ``(T,)`` int64 (Discrete: a draw from the softmax) or ``(T, *act_shape)`` float32
            (Box: a draw from ``N(μ, σ²)`` in scaled units, clipped to the bounds).
        """
        x = idm_input(obs, next_obs)
        with torch.inference_mode(), torch_threads(1):
            out = torch.cat([self.idm(as_tensor_obs(x[i:i + 8192])) for i in range(0, len(x), 8192)]).numpy()
        if self.codec.discrete:
            logits = out - out.max(-1, keepdims=True)
            p = np.exp(logits)
            cdf = np.cumsum(p / p.sum(-1, keepdims=True), -1)
            u = rng.random((len(cdf), 1))
            idx = np.minimum((cdf < u).sum(-1), self.codec.dim - 1)
            return idx.astype(np.int64) + self.codec.start
        if std is None:
            std = self._idm_std()
        scaled = np.clip(out + std * rng.standard_normal(out.shape), -1.0, 1.0).astype(np.float32)
        return self.codec.decode(torch.as_tensor(scaled))

    def _idm_std(self) -> np.ndarray:
        """Box: the IDM's RMS residual per component on its data (maximum-likelihood σ of the Gaussian)."""
        data = self._idm_data
        x = idm_input(data["obs"], data["next_obs"])
        with torch.inference_mode(), torch_threads(1):
            out = torch.cat([self.idm(as_tensor_obs(x[i:i + 8192])) for i in range(0, len(x), 8192)])
        target = self.codec.encode(data["actions"])
        return np.sqrt(((out - target) ** 2).mean(0).numpy()).astype(np.float32)

    def _fit_policy(self, demos: Demonstrations, idm_gen: torch.Generator, pol_gen: torch.Generator,
                    progress: bool, round_: int) -> None:
        """Fit the policy one epoch at a time, each on freshly sampled IDM labels (one Adam state);
        Box with ``sample_box_labels=False``: ABCO's fit on the IDM's mean labels."""
        cfg = self.config
        if not self.codec.discrete and not cfg.sample_box_labels:
            super()._fit_policy(demos, idm_gen, pol_gen, progress, round_)  # mean labels (module docstring)
            return
        rng = self._rng("labels")
        greedy = self.infer_actions(demos.obs, demos.next_obs)
        std = None if self.codec.discrete else self._idm_std()
        opt = torch.optim.Adam(self.net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        agree = []
        for _ in range(cfg.epochs):
            labels = self.sample_labels(demos.obs, demos.next_obs, rng, std)
            if self.codec.discrete:
                agree.append(float(np.mean(labels == greedy)))
            else:
                err = np.abs(labels - greedy).reshape(len(labels), -1) / self.codec.half
                agree.append(float(np.mean((err <= 0.1).all(-1))))
            losses = fit_supervised(self.net, self.codec, demos.obs, labels, epochs=1, batch_size=cfg.batch_size,
                                    learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay,
                                    generator=pol_gen, optimizer=opt, progress=False)
            self.history.setdefault("loss", []).extend(losses)
        self._log(label_agreement=float(np.mean(agree)))


QUICK_CONFIG: dict = {"pre_demo_steps": 2000, "agent_steps": 1000, "post_iterations": 2, "epochs": 10,
                      "idm_epochs": 10}
"""``IUPEConfig`` overrides for the benchmark's ``--quick`` mode (CartPole, tiny budgets)."""

BENCHMARK_CONFIGS: dict[str, dict] = {
    "CartPole-v1": {"post_iterations": 3},  # every round already scores 500 on validation; saves ~2/3 of the time
    # ε-random play keeps the IDM reading s' (labels of the expert's transitions 0.92 -> 0.99 correct, seed 0);
    # a 256x256 policy and 200 selection episodes: chosen on 300 held-out validation episodes (docs/methods.md)
    "Acrobot-v1": {"explore_epsilon": 0.2, "selection_episodes": 200, "hidden_sizes": (256, 256)},
    # both landers (one id): ε-random play, chosen on 100 held-out validation episodes; continuous 0.72 -> 0.96 (ABCO)
    "LunarLander-v3": {"explore_epsilon": 0.2},
}
"""``IUPEConfig`` overrides per environment id for the published table (missing: the defaults)."""
