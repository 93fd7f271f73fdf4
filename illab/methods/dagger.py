"""DAgger: dataset aggregation with an interactive expert.

Ross, Gordon & Bagnell 2011, "A Reduction of Imitation Learning and Structured Prediction to
No-Regret Online Learning", AISTATS, arXiv 1011.0686.

BC trains on the expert's state distribution but is tested on its own; one mistake leads to
states the expert never showed and errors compound (``O(εT²)``). DAgger trains on the states
the *learner* visits, labelled by the expert:

    for i = 0 … N−1:
        π_i = β_i π* + (1 − β_i) π̂_i            # mixture: the expert acts with probability β_i
        run π_i, collect states D_i = {s}
        D ← D ∪ {(s, π*(s)) : s ∈ D_i}           # the expert labels every visited state
        π̂_{i+1} = train(D)

with ``β_i = p^i`` (exponential) or ``β_i = max(0, 1 − i/N)`` (linear); ``β_0 = 1`` means the
first round is plain expert data. The cost grows only ``O(εT)`` with the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from illab.demonstrations import Demonstrations
from illab.fileio import torch_threads
from illab.methods.base import ConfigBase, Env, ILMethod
from illab.methods.networks import fit_supervised
from illab.policy import Policy
from illab.rollout import episodes_to_arrays, run_episodes
from illab.seeds import episode_seeds, torch_seed


@dataclass
class DAggerConfig(ConfigBase):
    """Hyperparameters of :class:`DAgger` (defaults work on the classic-control tasks untuned)."""

    hidden_sizes: tuple[int, ...] = (64, 64)
    """Widths of the policy MLP's hidden layers."""
    rounds: int = 6
    """N, number of data-collection rounds."""
    episodes_per_round: int = 8
    """Episodes played by the mixture policy in every round."""
    beta_schedule: str = "exponential"
    """``"exponential"`` (``β_i = beta_decay ** i``) or ``"linear"`` (``β_i = max(0, 1 − i / rounds)``)."""
    beta_decay: float = 0.5
    """p of the exponential schedule."""
    learning_rate: float = 1e-3
    """Adam step size."""
    batch_size: int = 256
    """Transitions per gradient step."""
    epochs: int = 10
    """Epochs over the aggregated dataset after every round (the network is warm-started)."""
    weight_decay: float = 0.0
    """Adam L2 penalty."""

    def __post_init__(self):
        super().__post_init__()
        self._check_positive("rounds", "episodes_per_round", "learning_rate", "batch_size", "epochs")
        if self.beta_schedule not in ("exponential", "linear"):
            raise ValueError(f"beta_schedule must be 'exponential' or 'linear', got {self.beta_schedule!r}")
        if not 0.0 <= self.beta_decay <= 1.0:
            raise ValueError(f"beta_decay must be in [0, 1], got {self.beta_decay}")


def beta(i: int, config: DAggerConfig) -> float:
    """β_i, the probability that the expert acts in round ``i`` (0-based)."""
    if config.beta_schedule == "exponential":
        return float(config.beta_decay ** i)
    return float(max(0.0, 1.0 - i / config.rounds))


class MixturePolicy:
    """``β π* + (1 − β) π̂``: each step, each environment independently lets the expert act with
    probability ``β`` (a seeded ``numpy.random.Generator`` draws the coin flips)."""

    def __init__(self, expert: Policy, learner: Policy, beta: float, seed: int):
        self.expert, self.learner, self.beta = expert, learner, float(beta)
        self.rng = np.random.default_rng(seed)
        self.observation_space = getattr(learner, "observation_space", None)

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        with torch_threads(1):
            return self._predict(np.asarray(obs), deterministic), state

    def _predict(self, obs, deterministic):
        use_expert = self.rng.random(len(obs)) < self.beta
        if use_expert.all():
            return self.expert.predict(obs, deterministic=deterministic)[0]
        actions = np.array(self.learner.predict(obs, deterministic=deterministic)[0], copy=True)
        if use_expert.any():
            actions[use_expert] = self.expert.predict(obs[use_expert], deterministic=deterministic)[0]
        return actions


class DAgger(ILMethod):
    """DAgger (Ross, Gordon & Bagnell 2011, arXiv 1011.0686) with a β schedule.

    Needs ``env_id`` (or a dataset with one) and ``expert`` (any illab ``Policy``, SB3 model or
    registered expert id) that it queries on every state the mixture policy visits. An optional
    dataset of demonstrations (``obs``, ``actions``) seeds the aggregate ``D``.

    Attributes:
        aggregate: the aggregated ``{"obs", "actions"}`` arrays after :meth:`fit`.
        expert_queries: number of states the expert labelled.
    """

    name = "dagger"
    config_class = DAggerConfig
    needs_demonstrations = False
    needs_env = True
    needs_expert = True

    def _build(self) -> None:
        super()._build()
        self.aggregate: dict[str, np.ndarray] | None = None
        self.expert_queries = 0

    def _normalize(self, demos: Demonstrations) -> None:
        pass  # fitted on the first aggregate D in _train_policy (demonstrations, or round 0's states)

    def _train(self, demos: Demonstrations | None, *, env: Env, expert: Policy, progress: bool) -> int:
        """Run ``config.rounds`` DAgger rounds (``eval_step`` = round).

        With demonstrations the policy is first trained on them and round ``i`` uses ``β_{i+1}``;
        without, round 0 uses ``β_0 = 1`` (pure expert play). Logs ``loss`` (per epoch), ``beta``
        and ``transitions`` (size of D) per round, ``eval_*``.
        """
        cfg = self.config
        gen = torch.Generator().manual_seed(torch_seed(self.seed, "dagger-batches"))
        opt = torch.optim.Adam(self.net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        env_base = torch_seed(self.seed, "dagger-env")
        offset = 0
        if demos is not None:
            self.aggregate = {"obs": demos.obs, "actions": demos.actions}
            self._train_policy(gen, opt)
            offset = 1
        from tqdm.auto import trange
        for r in trange(cfg.rounds, desc="DAgger", disable=not progress):
            b = beta(r + offset, cfg)
            mixture = MixturePolicy(expert, self, b, seed=torch_seed(self.seed, f"dagger-mix-{r}"))
            seeds = episode_seeds(env_base, cfg.episodes_per_round, "demonstrations", start=r * cfg.episodes_per_round)
            eps = run_episodes(mixture, env.id, seeds, env_kwargs=env.kwargs, n_envs=min(16, len(seeds)))
            obs = episodes_to_arrays(eps)["obs"]
            labels = self._label(expert, obs)  # the expert labels every state the mixture visited
            if self.aggregate is None:
                self.aggregate = {"obs": obs, "actions": labels}
            else:
                self.aggregate = {"obs": np.concatenate([self.aggregate["obs"], obs]),
                                  "actions": np.concatenate([np.asarray(self.aggregate["actions"]), labels])}
            self._train_policy(gen, opt)
            self._log(beta=b, transitions=len(self.aggregate["obs"]))
            self._evaluate(r + 1)
        return cfg.rounds

    def _label(self, expert: Policy, obs: np.ndarray) -> np.ndarray:
        self.expert_queries += len(obs)
        with torch_threads(1):
            return np.concatenate([np.asarray(expert.predict(obs[i:i + 4096], deterministic=True)[0])
                               for i in range(0, len(obs), 4096)])

    def _train_policy(self, gen: torch.Generator, opt: torch.optim.Optimizer) -> None:
        if not self.history.get("loss"):
            self.net.encoder.fit_normalization(self.aggregate["obs"])
        cfg = self.config
        losses = fit_supervised(self.net, self.codec, self.aggregate["obs"], self.aggregate["actions"],
                                epochs=cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                                weight_decay=cfg.weight_decay, generator=gen, optimizer=opt)
        self.history.setdefault("loss", []).extend(losses)
