"""The curated experts: environments, algorithms and rl-baselines3-zoo hyperparameters.

Hyperparameters are those of DLR-RM/rl-baselines3-zoo (``hyperparams/<algo>.yml``, entry named in
``zoo_entry``) for the same task; ``budget`` caps training steps where the zoo's budget does not
fit this project's 2-core machine (stated in each expert's card). ``stop_at`` ends training early
once 20 validation-stream episodes average at least that return, which keeps classic-control
training to seconds without changing the algorithm.

:data:`CANDIDATES` holds the stronger off-policy MuJoCo experts of issue 19 (TD3, Fujimoto et al.
2018, arXiv 1802.09477) while they are trained and verified (their weights live outside the package
until promoted); ``hopper``, ``cheetah``, ``walker``, ``swimmer`` and ``ant`` are promoted: :data:`ZOO` maps them to
their TD3 specs (``ant`` below its target; its card says so).
:data:`ZOO` lists exactly the bundled experts; :func:`spec` looks an id up in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ZooSpec:
    """How one bundled expert is trained.

    Attributes:
        env_id: gymnasium id (current versions: ``LunarLander-v3``, MuJoCo ``-v5``).
        algo: SB3 algorithm name (``"PPO"``, ``"DQN"``, ``"SAC"``).
        hyperparams: keyword arguments of the SB3 algorithm (``"lin_<x>"`` = linear schedule).
        n_envs: parallel training environments (zoo ``n_envs``).
        n_timesteps: zoo training budget in environment steps.
        normalize: wrap in ``VecNormalize`` (observations and rewards); the observation
            statistics ship beside the model and the ``Policy`` applies them.
        threshold: return an expert episode must reach to be kept in a dataset (also the bar
            the expert's 100-episode mean must clear to ship).
        repo_id, hub_filename: the matching zoo model on the Hugging Face Hub.
        zoo_entry: the file and entry the hyperparameters come from.
        env_kwargs: extra ``gymnasium.make`` arguments.
        stop_at: validation mean return that ends training early (``None``: full budget).
        action_noise: std of the Gaussian exploration noise added to TD3's actions (zoo
            ``noise_type: normal``, ``noise_std``); ``None`` for algorithms without it.
        eval_every: off-policy runs: evaluate every this many steps on ``eval_episodes``
            validation-stream episodes and keep the best checkpoint (``None``: no best-keeping).
        eval_episodes: validation episodes per evaluation (20 for ``stop_at``-only runs).
        deviation: how and why the settings differ from ``zoo_entry`` (stated in the card).
    """

    env_id: str
    algo: str
    hyperparams: dict[str, Any]
    n_envs: int
    n_timesteps: int
    threshold: float
    repo_id: str
    hub_filename: str
    zoo_entry: str
    normalize: bool = False
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    stop_at: float | None = None
    action_noise: float | None = None
    eval_every: int | None = None
    eval_episodes: int = 20
    deviation: str = ""


ZOO: dict[str, ZooSpec] = {
    "cartpole": ZooSpec(
        "CartPole-v1", "PPO",
        dict(n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
             learning_rate="lin_0.001", clip_range="lin_0.2"),
        n_envs=8, n_timesteps=100_000, threshold=475.0, stop_at=500.0,
        repo_id="sb3/ppo-CartPole-v1", hub_filename="ppo-CartPole-v1.zip", zoo_entry="ppo.yml CartPole-v1"),
    "acrobot": ZooSpec(
        "Acrobot-v1", "DQN",
        dict(learning_rate=6.3e-4, batch_size=128, buffer_size=50_000, learning_starts=0, gamma=0.99,
             target_update_interval=250, train_freq=4, gradient_steps=-1, exploration_fraction=0.12,
             exploration_final_eps=0.1, policy_kwargs=dict(net_arch=[256, 256])),
        n_envs=1, n_timesteps=100_000, threshold=-85.0, stop_at=-75.0,
        repo_id="sb3/dqn-Acrobot-v1", hub_filename="dqn-Acrobot-v1.zip", zoo_entry="dqn.yml Acrobot-v1"),
    "mountaincar": ZooSpec(
        "MountainCar-v0", "DQN",
        dict(learning_rate=4e-3, batch_size=128, buffer_size=10_000, learning_starts=1000, gamma=0.98,
             target_update_interval=600, train_freq=16, gradient_steps=8, exploration_fraction=0.2,
             exploration_final_eps=0.07, policy_kwargs=dict(net_arch=[256, 256])),
        n_envs=1, n_timesteps=120_000, threshold=-110.0, stop_at=-100.0,
        repo_id="sb3/dqn-MountainCar-v0", hub_filename="dqn-MountainCar-v0.zip", zoo_entry="dqn.yml MountainCar-v0"),
    "lunarlander": ZooSpec(
        "LunarLander-v3", "PPO",
        dict(n_steps=1024, batch_size=64, gae_lambda=0.98, gamma=0.999, n_epochs=4, ent_coef=0.01),
        n_envs=16, n_timesteps=1_000_000, threshold=200.0, stop_at=250.0,
        repo_id="sb3/ppo-LunarLander-v2", hub_filename="ppo-LunarLander-v2.zip", zoo_entry="ppo.yml LunarLander-v2"),
    "pendulum": ZooSpec(
        "Pendulum-v1", "SAC", dict(learning_rate=1e-3),
        n_envs=1, n_timesteps=20_000, threshold=-200.0, stop_at=-160.0,
        repo_id="sb3/sac-Pendulum-v1", hub_filename="sac-Pendulum-v1.zip", zoo_entry="sac.yml Pendulum-v1"),
    "mountaincar-continuous": ZooSpec(
        "MountainCarContinuous-v0", "SAC",
        dict(learning_rate=3e-4, buffer_size=50_000, batch_size=512, ent_coef=0.1, train_freq=32,
             gradient_steps=32, gamma=0.9999, tau=0.01, learning_starts=0, use_sde=True,
             policy_kwargs=dict(log_std_init=-3.67, net_arch=[64, 64])),
        n_envs=1, n_timesteps=50_000, threshold=90.0, stop_at=93.0,
        repo_id="sb3/sac-MountainCarContinuous-v0", hub_filename="sac-MountainCarContinuous-v0.zip",
        zoo_entry="sac.yml MountainCarContinuous-v0"),
    "lunarlander-continuous": ZooSpec(
        "LunarLander-v3", "PPO",
        dict(n_steps=1024, batch_size=64, gae_lambda=0.98, gamma=0.999, n_epochs=4, ent_coef=0.01),
        n_envs=16, n_timesteps=1_000_000, threshold=200.0, stop_at=250.0, env_kwargs={"continuous": True},
        repo_id="sb3/ppo-LunarLanderContinuous-v2", hub_filename="ppo-LunarLanderContinuous-v2.zip",
        zoo_entry="ppo.yml LunarLanderContinuous-v2"),
}


# TD3 with the zoo's MuJoCo defaults (td3.yml ``mujoco-defaults``: learning_starts 10000, normal
# noise 0.1, train_freq 1, gradient_steps 1, lr 1e-3, batch 256, net [400, 300]) except two
# changes for this CPU: 128x128 networks and the TD3 paper's batch of 100 (the updates dominate the
# cost; on one Hopper-v5 core 256x256/batch 256 ran 50 steps/s, 256x256/batch 100 112, 128x128/batch
# 256 121). The replay buffer holds the whole budget.
_TD3 = dict(learning_rate=1e-3, learning_starts=10_000, batch_size=100, tau=0.005, gamma=0.99,
            train_freq=1, gradient_steps=1, policy_delay=2, target_policy_noise=0.2, target_noise_clip=0.5,
            policy_kwargs=dict(net_arch=[128, 128]))
_TD3_DEVIATION = ("zoo td3.yml mujoco-defaults with 128x128 networks instead of [400, 300] and batch 100 "
                  "(the TD3 paper's) instead of 256: several times the steps per second on a shared CPU core")


def _td3(env_id: str, budget: int, threshold: float, stop_at: float, zoo_env: str, **overrides) -> ZooSpec:
    return ZooSpec(env_id, "TD3", {**_TD3, "buffer_size": budget, **overrides}, n_envs=1, n_timesteps=budget,
                   threshold=threshold, stop_at=stop_at, action_noise=0.1, eval_every=25_000, eval_episodes=10,
                   repo_id=f"sb3/td3-{zoo_env}", hub_filename=f"td3-{zoo_env}.zip",
                   zoo_entry=f"td3.yml {zoo_env}", deviation=_TD3_DEVIATION)


#: Stronger MuJoCo experts in training (issue 19); thresholds are the zoo-PPO-level targets,
#: ``stop_at`` (validation mean) ends a run early so the next task gets the remaining CPU time.
CANDIDATES: dict[str, ZooSpec] = {
    "hopper-td3": _td3("Hopper-v5", 600_000, 2400.0, 3500.0, "Hopper-v3"),
    "cheetah-td3": _td3("HalfCheetah-v5", 400_000, 5800.0, 9000.0, "HalfCheetah-v3"),
    "swimmer-td3": _td3("Swimmer-v5", 400_000, 280.0, 350.0, "Swimmer-v3", gamma=0.9999),
    "walker-td3": _td3("Walker2d-v5", 600_000, 3400.0, 4500.0, "Walker2d-v3"),
    "ant-td3": _td3("Ant-v5", 1_000_000, 3000.0, 5000.0, "Ant-v3", buffer_size=600_000),  # 600k, resumed to 1M
    # SAC (Haarnoja et al. 2018, arXiv 1801.01290) with the zoo's sac.yml Ant-v3 entry as is (256x256,
    # learning_starts 10000, the rest SB3's defaults): ant-td3's 128x128 networks plateaued at 2,300-2,600.
    "ant-sac": ZooSpec("Ant-v5", "SAC", dict(learning_starts=10_000, buffer_size=1_000_000), n_envs=1,
                       n_timesteps=1_000_000, threshold=3000.0, stop_at=5000.0, eval_every=25_000, eval_episodes=10,
                       repo_id="sb3/sac-Ant-v3", hub_filename="sac-Ant-v3.zip", zoo_entry="sac.yml Ant-v3"),
}


# Promoted (issue 19): the bundled ``hopper``, ``cheetah``, ``walker``, ``swimmer`` and ``ant`` are these TD3
# candidates (their cards say ``promoted_from``); ``python -m illab.experts.train hopper`` retrains the same spec.
ZOO["hopper"] = CANDIDATES["hopper-td3"]
ZOO["cheetah"] = CANDIDATES["cheetah-td3"]
ZOO["swimmer"] = CANDIDATES["swimmer-td3"]
ZOO["walker"] = CANDIDATES["walker-td3"]
ZOO["ant"] = CANDIDATES["ant-td3"]  # below its 3000 target: the card says so (threshold lowered to 2000)


def spec(expert_id: str) -> ZooSpec:
    """The training spec of a bundled (:data:`ZOO`) or candidate (:data:`CANDIDATES`) expert.

    Raises:
        ValueError: unknown id (the message lists the trainable ids).
    """
    if expert_id in ZOO:
        return ZOO[expert_id]
    if expert_id in CANDIDATES:
        return CANDIDATES[expert_id]
    raise ValueError(f"unknown expert id {expert_id!r}; trainable ids: {sorted(ZOO) + sorted(CANDIDATES)}")
