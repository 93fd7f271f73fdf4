"""The registered Hugging Face Hub experts: rl-baselines3-zoo models in the ``sb3`` organisation.

IL-Datasets' registry (its classic-control teachers and the MuJoCo ``-v3`` TD3/SAC experts, with its
thresholds, which are the zoo's published mean returns for MuJoCo) plus the zoo models of illab's own
bundled ids (thresholds from :mod:`illab.experts.zoo`). Each is registered under the repo's name
(``"td3-Hopper-v3"``) and loads with :func:`illab.experts.load` from the Hub (or an offline Hugging
Face cache) through the safe loader; ``twin`` names the bundled illab id the same zoo model serves
with ``source="hub"``.

Environments: the zoo trained on gym ids that gymnasium 1.x no longer registers; each record plays
on the id with the same observation layout (:data:`illab.hub.ENV_ID_MAP`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HubModel:
    """One zoo model repo as an illab expert.

    Attributes:
        repo_id: ``"sb3/<algo>-<EnvId>"``; the model file is ``"<algo>-<EnvId>.zip"``.
        algo: SB3 algorithm name.
        zoo_env_id: the env id the zoo trained on (mapped with :data:`illab.hub.ENV_ID_MAP`).
        threshold: return an episode must reach to count as expert behaviour.
        normalize: ``True`` when the zoo trained with ``VecNormalize`` (the repo's
            ``vec_normalize.pkl`` is then required); ``None``: follow the repo's ``config.yml``.
        twin: the bundled illab id this model also serves (``load(twin, source="hub")``).
        origin: where the entry and its threshold come from.
    """

    repo_id: str
    algo: str
    zoo_env_id: str
    threshold: float
    normalize: bool | None = None
    twin: str | None = None
    origin: str = "IL-Datasets"

    @property
    def id(self) -> str:
        """The registry id: the repo's name (``"td3-Hopper-v3"``)."""
        return self.repo_id.split("/", 1)[1]

    @property
    def filename(self) -> str:
        return f"{self.id}.zip"


HUB_MODELS: tuple[HubModel, ...] = (
    # IL-Datasets' registry (thresholds as there)
    HubModel("sb3/ppo-CartPole-v1", "PPO", "CartPole-v1", 500.0, twin="cartpole"),
    HubModel("sb3/dqn-MountainCar-v0", "DQN", "MountainCar-v0", -110.0, twin="mountaincar"),
    HubModel("sb3/dqn-Acrobot-v1", "DQN", "Acrobot-v1", -75.0, twin="acrobot"),
    HubModel("sb3/td3-Hopper-v3", "TD3", "Hopper-v3", 3604.0, twin="hopper"),
    HubModel("sb3/td3-Walker2d-v3", "TD3", "Walker2d-v3", 4703.0, twin="walker"),
    HubModel("sb3/td3-HalfCheetah-v3", "TD3", "HalfCheetah-v3", 9709.0, twin="cheetah"),
    HubModel("sb3/td3-Ant-v3", "TD3", "Ant-v3", 5822.0),  # not the bundled ant's twin: Ant-v3's 111-dim observation is not Ant-v5's 105
    HubModel("sb3/sac-Ant-v3", "SAC", "Ant-v3", 5181.0),
    HubModel("sb3/td3-Swimmer-v3", "TD3", "Swimmer-v3", 359.0, twin="swimmer"),
    HubModel("sb3/sac-Humanoid-v3", "SAC", "Humanoid-v3", 6251.0),
    # the zoo models of illab's other bundled ids (thresholds of illab.experts.zoo)
    HubModel("sb3/ppo-LunarLander-v2", "PPO", "LunarLander-v2", 200.0, twin="lunarlander", origin="zoo"),
    HubModel("sb3/ppo-LunarLanderContinuous-v2", "PPO", "LunarLanderContinuous-v2", 200.0,
             twin="lunarlander-continuous", origin="zoo"),
    HubModel("sb3/sac-Pendulum-v1", "SAC", "Pendulum-v1", -200.0, twin="pendulum", origin="zoo"),
    HubModel("sb3/sac-MountainCarContinuous-v0", "SAC", "MountainCarContinuous-v0", 90.0,
             twin="mountaincar-continuous", origin="zoo"),
    HubModel("sb3/ppo-Hopper-v3", "PPO", "Hopper-v3", 2000.0, normalize=True, origin="zoo"),
    HubModel("sb3/ppo-HalfCheetah-v3", "PPO", "HalfCheetah-v3", 4000.0, normalize=True, origin="zoo"),
    HubModel("sb3/ppo-Walker2d-v3", "PPO", "Walker2d-v3", 2500.0, normalize=True, origin="zoo"),
)
