"""Build rl-baselines3-zoo-format model files offline, as the zoo's gym-era files are (run as a script).

``python tests/_zoo_files.py OUT`` trains tiny SB3 models (a few hundred steps, tiny networks) and
saves them the way the zoo's Hugging Face repos hold them: ``<algo>-<EnvId>.zip`` whose ``data``
pickles reference ``gym.spaces.*`` (a stub ``gym`` package, written to ``OUT/stub``, is importable
here only), ``vec_normalize.pkl`` (a pickled ``VecNormalize`` whose spaces are ``gym`` spaces) and
``config.yml`` (``yaml.dump`` of an ``OrderedDict``, as the zoo writes it). Beside them: the
original models' deterministic actions on fixed observations (``expected.npz``) and poisoned copies
whose unpickling writes the file named by ``$ILLAB_MARKER``; this script proves each poison fires
under the ordinary loaders (``control_*`` markers) so the tests' "marker never appears" means something.

OUT/<repo name>/...      the files of one repo (copied into a Hugging Face cache by the tests)
OUT/poison/...           poisoned files
OUT/expected.npz         obs_<name>, act_<name>
OUT/report.json          what was built, and the control results
"""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import shutil
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path

STUB = {
    "gym/__init__.py": "__version__ = \"0.21.0\"\nfrom gym import spaces\n",
    "gym/spaces/__init__.py": "from gym.spaces.box import Box\nfrom gym.spaces.discrete import Discrete\n",
    "gym/spaces/box.py": "import gymnasium\n\n\nclass Box(gymnasium.spaces.Box):\n    pass\n",
    "gym/spaces/discrete.py": "import gymnasium\n\n\nclass Discrete(gymnasium.spaces.Discrete):\n    pass\n",
}
PAYLOAD = "import os; open(os.environ['ILLAB_MARKER'], 'w').write('the download ran code')"


class Poison:
    """Unpickling this runs ``exec(PAYLOAD)``: it writes the file named by ``$ILLAB_MARKER``."""

    def __reduce__(self):
        return (exec, (PAYLOAD,))


def _to_gym(space):
    import gym
    import gymnasium
    if isinstance(space, gymnasium.spaces.Box):
        return gym.spaces.Box(low=space.low, high=space.high, dtype=space.dtype)
    return gym.spaces.Discrete(int(space.n))


def _config(path: Path, hp: dict) -> None:
    import yaml
    path.write_text(yaml.dump(OrderedDict([(k, hp[k]) for k in sorted(hp)])))


def _obs(env, n: int, rng):
    import numpy as np
    starts = [env.reset(seed=s)[0] for s in range(n)]
    return (np.stack(starts) + rng.normal(0, 0.3, size=(n, *env.observation_space.shape))).astype(np.float32)


def build(out: Path) -> dict:
    import numpy as np
    import torch
    import torch.nn as nn
    import gymnasium
    from stable_baselines3 import DQN, PPO, SAC, TD3
    from stable_baselines3.common.noise import NormalActionNoise
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    expected, report = {}, {"repos": {}}

    def save(model, name: str, files: dict, obs, act, venv=None):
        folder = out / name
        folder.mkdir(parents=True)
        model.observation_space = _to_gym(model.observation_space)
        model.action_space = _to_gym(model.action_space)
        model.save(folder / f"{name}.zip")
        if venv is not None:
            venv.observation_space = _to_gym(venv.observation_space)
            venv.action_space = _to_gym(venv.action_space)
            venv.save(str(folder / "vec_normalize.pkl"))
        for fname, hp in files.items():
            _config(folder / fname, hp)
        expected[f"obs_{name}"], expected[f"act_{name}"] = obs, act
        data = json.loads(zipfile.ZipFile(folder / f"{name}.zip").read("data"))
        report["repos"][name] = {"gym_spaces": "gym.spaces" in data["observation_space"][":type:"],
                                 "files": sorted(p.name for p in folder.iterdir())}

    # PPO + VecNormalize on Hopper (zoo's ppo-Hopper-v3: normalize, ReLU, log_std_init, separate pi/vf)
    venv = VecNormalize(DummyVecEnv([lambda: gymnasium.make("Hopper-v5")]), gamma=0.999)
    pk = dict(log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU, net_arch=dict(pi=[16, 16], vf=[16, 16]))
    model = PPO("MlpPolicy", venv, n_steps=64, batch_size=32, n_epochs=2, policy_kwargs=pk, seed=0, device="cpu")
    model.learn(128)
    env = gymnasium.make("Hopper-v5")
    obs = _obs(env, 16, rng)
    act = model.predict(venv.normalize_obs(obs), deterministic=True)[0]
    hp = dict(batch_size=32, clip_range=0.2, ent_coef=0.0, gae_lambda=0.99, gamma=0.999, learning_rate=9.8e-05,
              n_envs=1, n_epochs=2, n_steps=64, n_timesteps=128.0, normalize=True, policy="MlpPolicy",
              policy_kwargs="dict(log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU, "
                            "net_arch=dict(pi=[16, 16], vf=[16, 16]))")
    save(model, "ppo-Hopper-v3", {"config.yml": hp}, obs, act, venv)
    # SB3 < 1.8 wrote PPO's net_arch as [dict(pi=..., vf=...)]: make this file look like the zoo's
    path = out / "ppo-Hopper-v3" / "ppo-Hopper-v3.zip"
    _rewrite_data(path, lambda d: d["policy_kwargs"].update(net_arch=[d["policy_kwargs"]["net_arch"]]))

    # DQN on Acrobot (zoo's dqn-Acrobot-v1), policy_kwargs plain JSON
    model = DQN("MlpPolicy", "Acrobot-v1", learning_starts=0, buffer_size=1000, train_freq=4, batch_size=32,
                policy_kwargs=dict(net_arch=[16]), seed=0, device="cpu")
    model.learn(200)
    env = gymnasium.make("Acrobot-v1")
    obs = _obs(env, 16, rng)
    save(model, "dqn-Acrobot-v1", {"config.yml": dict(batch_size=32, buffer_size=1000, learning_starts=0,
                                                     n_timesteps=200.0, policy="MlpPolicy",
                                                     policy_kwargs="dict(net_arch=[16])", train_freq=4)},
         obs, model.predict(obs, deterministic=True)[0])

    # SAC on Pendulum (zoo's sac-Pendulum-v1), gSDE and a Tanh network; *no* config.yml: the loader
    # must read the zip's readable policy_kwargs ("<class 'torch.nn.modules.activation.Tanh'>")
    model = SAC("MlpPolicy", "Pendulum-v1", learning_starts=50, buffer_size=1000, batch_size=32, use_sde=True,
                policy_kwargs=dict(net_arch=[16, 16], activation_fn=nn.Tanh, log_std_init=-3), seed=0, device="cpu")
    model.learn(100)
    env = gymnasium.make("Pendulum-v1")
    obs = _obs(env, 16, rng)
    save(model, "sac-Pendulum-v1", {}, obs, model.predict(obs, deterministic=True)[0])

    # TD3 on Hopper (zoo's td3-Hopper-v3), with the zoo's action noise object in the zip
    noise = NormalActionNoise(np.zeros(3), 0.1 * np.ones(3))
    model = TD3("MlpPolicy", "Hopper-v5", learning_starts=50, buffer_size=1000, batch_size=32, action_noise=noise,
                policy_kwargs=dict(net_arch=[16, 16]), seed=0, device="cpu")
    model.learn(100)
    env = gymnasium.make("Hopper-v5")
    obs = _obs(env, 16, rng)
    save(model, "td3-Hopper-v3", {"config.yml": dict(learning_starts=50, noise_std=0.1, noise_type="normal",
                                                    n_timesteps=100.0, policy="MlpPolicy",
                                                    policy_kwargs="dict(net_arch=[16, 16])")},
         obs, model.predict(obs, deterministic=True)[0])

    np.savez(out / "expected.npz", **expected)
    report["poison"] = _poison(out, out / "ppo-Hopper-v3")
    return report


def _rewrite_data(path: Path, edit) -> None:
    """Edit the JSON ``data`` member of an SB3 zip (other members copied byte for byte)."""
    with zipfile.ZipFile(path) as src:
        members = {n: src.read(n) for n in src.namelist()}
    data = json.loads(members["data"])
    edit(data)
    members["data"] = json.dumps(data, indent=4).encode()
    with zipfile.ZipFile(path, "w") as dst:
        for n, b in members.items():
            dst.writestr(n, b)


def _poison(out: Path, repo: Path) -> dict:
    """Poisoned copies of the PPO repo's files, each proven to fire under the ordinary loader."""
    import torch
    from stable_baselines3 import PPO

    folder = out / "poison"
    folder.mkdir()
    blob = base64.b64encode(pickle.dumps(Poison())).decode()
    # 1. the zip: every :serialized: field (spaces, schedules, policy class) is a poison
    shutil.copy(repo / "ppo-Hopper-v3.zip", folder / "serialized.zip")

    def poison_fields(d):
        for v in d.values():
            if isinstance(v, dict) and ":serialized:" in v:
                v[":serialized:"] = blob
    _rewrite_data(folder / "serialized.zip", poison_fields)
    # 2. policy.pth: a torch pickle that runs code
    with zipfile.ZipFile(repo / "ppo-Hopper-v3.zip") as src:
        members = {n: src.read(n) for n in src.namelist()}
    buf = io.BytesIO()
    torch.save({"mlp_extractor.policy_net.0.weight": Poison()}, buf)
    members["policy.pth"] = buf.getvalue()
    with zipfile.ZipFile(folder / "policy_pth.zip", "w") as dst:
        for n, b in members.items():
            dst.writestr(n, b)
    # 3. vec_normalize.pkl: the statistics object carries a poison among its attributes
    with open(repo / "vec_normalize.pkl", "rb") as f:
        good = f.read()
    (folder / "vec_normalize.pkl").write_bytes(_poison_pickle(good))
    # 4. config.yml with a python/object tag
    (folder / "config.yml").write_text("!!python/object/apply:builtins.exec\n- \"" + PAYLOAD.replace('"', '\\"')
                                       + "\"\n")

    controls = {}

    def control(name, fn):
        marker = out / f"control_{name}"
        os.environ["ILLAB_MARKER"] = str(marker)
        try:
            fn()
        except Exception:  # the ordinary loaders may fail after the payload ran
            pass
        controls[name] = marker.exists()

    control("serialized", lambda: PPO.load(folder / "serialized.zip", device="cpu"))
    control("vec_normalize", lambda: pickle.loads((folder / "vec_normalize.pkl").read_bytes()))
    control("policy_pth", lambda: torch.load(io.BytesIO(members["policy.pth"]), weights_only=False))
    import yaml
    control("config", lambda: yaml.unsafe_load((folder / "config.yml").read_text()))
    os.environ.pop("ILLAB_MARKER")
    return controls


def _poison_pickle(good: bytes) -> bytes:
    """The VecNormalize pickle with a poisoned extra attribute (``BUILD`` sets it on load)."""
    obj = pickle.loads(good)  # our own, freshly written file (gym stub importable here)
    obj.__dict__.update(extra=Poison(), class_attributes={}, returns=None)  # the last two: VecNormalize.__getstate__ drops them
    return pickle.dumps(obj)


if __name__ == "__main__":
    out = Path(sys.argv[1])
    stub = out / "stub"
    for rel, text in STUB.items():
        (stub / rel).parent.mkdir(parents=True, exist_ok=True)
        (stub / rel).write_text(text)
    sys.path.insert(0, str(stub))
    import torch
    torch.set_num_threads(1)
    report = build(out)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report))
