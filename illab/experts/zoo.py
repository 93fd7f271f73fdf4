"""The curated experts: environments, algorithms and rl-baselines3-zoo hyperparameters.

Hyperparameters are those of DLR-RM/rl-baselines3-zoo (``hyperparams/<algo>.yml``, entry named in
``zoo_entry``) for the same task; ``budget`` caps training steps where the zoo's budget does not
fit this project's 2-core machine (stated in each expert's card). ``stop_at`` ends training early
once 20 validation-stream episodes average at least that return, which keeps classic-control
training to seconds without changing the algorithm.
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


_MUJOCO_PPO = dict(policy_kwargs=dict(log_std_init=-2, ortho_init=False, activation_fn="ReLU",
                                      net_arch=dict(pi=[256, 256], vf=[256, 256])))

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
    "hopper": ZooSpec(
        "Hopper-v5", "PPO",
        dict(batch_size=32, n_steps=512, gamma=0.999, learning_rate=9.80828e-05, ent_coef=0.00229519,
             clip_range=0.2, n_epochs=5, gae_lambda=0.99, max_grad_norm=0.7, vf_coef=0.835671, **_MUJOCO_PPO),
        n_envs=1, n_timesteps=1_000_000, threshold=2000.0, normalize=True,
        repo_id="sb3/ppo-Hopper-v3", hub_filename="ppo-Hopper-v3.zip", zoo_entry="ppo.yml Hopper-v3"),
    "cheetah": ZooSpec(
        "HalfCheetah-v5", "PPO",
        dict(batch_size=64, n_steps=512, gamma=0.98, learning_rate=2.0633e-05, ent_coef=0.000401762,
             clip_range=0.1, n_epochs=20, gae_lambda=0.92, max_grad_norm=0.8, vf_coef=0.58096, **_MUJOCO_PPO),
        n_envs=1, n_timesteps=1_000_000, threshold=4000.0, normalize=True,
        repo_id="sb3/ppo-HalfCheetah-v3", hub_filename="ppo-HalfCheetah-v3.zip", zoo_entry="ppo.yml HalfCheetah-v3"),
    "walker": ZooSpec(
        "Walker2d-v5", "PPO",
        dict(batch_size=32, n_steps=512, gamma=0.99, learning_rate=5.05041e-05, ent_coef=0.000585045,
             clip_range=0.1, n_epochs=20, gae_lambda=0.95, max_grad_norm=1.0, vf_coef=0.871923, **_MUJOCO_PPO),
        n_envs=1, n_timesteps=1_000_000, threshold=2500.0, normalize=True,
        repo_id="sb3/ppo-Walker2d-v3", hub_filename="ppo-Walker2d-v3.zip", zoo_entry="ppo.yml Walker2d-v3"),
}
