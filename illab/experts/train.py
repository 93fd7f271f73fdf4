"""Train a bundled expert reproducibly: ``python -m illab.experts.train <id> [--seed 0]``.

Trains the SB3 algorithm of :data:`illab.experts.zoo.ZOO` from a fixed seed on one torch
thread, checkpoints every ``--checkpoint-every`` steps into ``--workdir`` (``--resume`` picks up
the latest checkpoint, so long MuJoCo runs survive session ends), evaluates the result on 100
test-stream episodes (and a seeded random policy on the same seeds, the reference returns of
normalized performance) and writes ``<id>.zip`` (+ ``<id>.npz`` VecNormalize observation
statistics) and the card ``<id>.json`` into ``--out`` (default: the package's ``bundled/``).
Existing files are only replaced when the new expert is at least as good (or ``--force``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from illab.fileio import sha256

BUNDLED = Path(__file__).parent / "bundled"


def _schedule(value):
    if isinstance(value, str) and value.startswith("lin_"):
        start = float(value[4:])
        return lambda progress_remaining: progress_remaining * start
    return value


def _hyperparams(spec):
    import torch.nn as nn
    hp = {k: _schedule(v) for k, v in spec.hyperparams.items()}
    if "policy_kwargs" in hp:
        pk = dict(hp["policy_kwargs"])
        if isinstance(pk.get("activation_fn"), str):
            pk["activation_fn"] = getattr(nn, pk["activation_fn"])
        hp["policy_kwargs"] = pk
    return hp


def _policy(model, venv):
    from illab.policy import SB3Policy
    if venv is not None and hasattr(venv, "obs_rms"):
        return SB3Policy(model, venv.obs_rms.mean, venv.obs_rms.var, venv.clip_obs, venv.epsilon)
    return SB3Policy(model)


def train(expert_id: str, seed: int = 0, out: Path = BUNDLED, workdir: Path = Path("runs/experts"),
          timesteps: int | None = None, checkpoint_every: int = 50_000, resume: bool = False,
          force: bool = False) -> dict:
    """Train, evaluate and write one expert; returns its card (a dict). See the module docstring."""
    import stable_baselines3 as sb3
    import torch
    from stable_baselines3.common.callbacks import BaseCallback, CallbackList, CheckpointCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    from illab.experts.zoo import ZOO
    from illab.policy import RandomPolicy
    from illab.rollout import make_env, run_episodes
    from illab.seeds import episode_seeds

    if expert_id not in ZOO:
        raise ValueError(f"unknown expert id {expert_id!r}; trainable ids: {sorted(ZOO)}")
    spec = ZOO[expert_id]
    torch.set_num_threads(1)
    budget = int(timesteps or spec.n_timesteps)
    work = Path(workdir) / expert_id
    work.mkdir(parents=True, exist_ok=True)
    algo = getattr(sb3, spec.algo)

    venv = make_vec_env(spec.env_id, n_envs=spec.n_envs, seed=seed, env_kwargs=spec.env_kwargs)
    latest = _latest_checkpoint(work) if resume else None
    if spec.normalize:
        if latest and (work / f"ckpt_vecnormalize_{latest[0]}_steps.pkl").exists():
            venv = VecNormalize.load(str(work / f"ckpt_vecnormalize_{latest[0]}_steps.pkl"), venv)
        else:
            venv = VecNormalize(venv, gamma=spec.hyperparams.get("gamma", 0.99))
    if latest:
        model = algo.load(latest[1], env=venv, device="cpu")
        print(f"resuming {expert_id} from {latest[1]} ({model.num_timesteps} steps)")
    else:
        model = algo("MlpPolicy", venv, seed=seed, device="cpu", verbose=0, **_hyperparams(spec))

    val_seeds = episode_seeds(seed, 20, "validation")

    class StopAt(BaseCallback):
        def __init__(self, every: int):
            super().__init__()
            self.every, self.last = every, 0

        def _on_step(self) -> bool:
            if spec.stop_at is None or self.num_timesteps - self.last < self.every:
                return True
            self.last = self.num_timesteps
            eps = run_episodes(_policy(self.model, venv if spec.normalize else None), spec.env_id, val_seeds,
                               env_kwargs=spec.env_kwargs, record=False)
            mean = float(np.mean([e.ret for e in eps]))
            print(f"{expert_id}: {self.num_timesteps} steps, validation mean return {mean:.1f}", flush=True)
            return mean < spec.stop_at

    eval_every = max(spec.n_envs * spec.hyperparams.get("n_steps", 1000), 5000)
    callbacks = CallbackList([StopAt(eval_every),
                              CheckpointCallback(max(checkpoint_every // spec.n_envs, 1), str(work), "ckpt",
                                                 save_vecnormalize=spec.normalize)])
    t0 = time.time()
    remaining = budget - model.num_timesteps
    if remaining > 0:
        model.learn(remaining, callback=callbacks, reset_num_timesteps=not latest, progress_bar=False)
    wall = time.time() - t0

    policy = _policy(model, venv if spec.normalize else None)
    test_seeds = episode_seeds(seed, 100, "test")
    expert_returns = np.array([e.ret for e in run_episodes(policy, spec.env_id, test_seeds,
                                                           env_kwargs=spec.env_kwargs, record=False)])
    env = make_env(spec.env_id, spec.env_kwargs)
    random_policy = RandomPolicy(env.action_space, seed=seed, observation_space=env.observation_space)
    random_returns = np.array([e.ret for e in run_episodes(random_policy, spec.env_id, test_seeds,
                                                           env_kwargs=spec.env_kwargs, record=False)])
    card = {
        "id": expert_id, "env_id": spec.env_id, "env_kwargs": spec.env_kwargs, "algo": spec.algo,
        "seed": seed, "timesteps": int(model.num_timesteps), "budget": budget, "zoo_entry": spec.zoo_entry,
        "hyperparams": spec.hyperparams, "n_envs": spec.n_envs, "normalize": spec.normalize,
        "threshold": spec.threshold, "passed": bool(expert_returns.mean() >= spec.threshold),
        "expert_return": [float(expert_returns.mean()), float(expert_returns.std())],
        "random_return": [float(random_returns.mean()), float(random_returns.std())],
        "eval_episodes": 100, "eval_stream": "test", "eval_base_seed": seed,
        "train_wall_seconds": round(wall, 1),
        "versions": _versions(), "repo_id": spec.repo_id, "hub_filename": spec.hub_filename,
    }
    _write(expert_id, model, venv if spec.normalize else None, card, Path(out), force)
    return card


def _latest_checkpoint(work: Path):
    found = sorted((int(p.stem.split("_")[-2]), p) for p in work.glob("ckpt_*_steps.zip"))
    return found[-1] if found else None


def _versions() -> dict:
    import gymnasium
    import stable_baselines3
    import torch
    return {"python": platform.python_version(), "torch": torch.__version__,
            "gymnasium": gymnasium.__version__, "stable_baselines3": stable_baselines3.__version__,
            "numpy": np.__version__}


def _drop_optimizer_state(model) -> None:
    """Bundled experts only act: drop optimizer state (Adam moments weigh twice the weights).

    The optimizers stay (SB3's loader expects them), with an empty ``state``; actions are unchanged.
    """
    from operator import attrgetter
    for name in model._get_torch_save_params()[0]:
        if name.endswith("optimizer"):
            attrgetter(name)(model).state.clear()


def repack(expert_id: str, out: Path = BUNDLED) -> None:
    """Re-save a bundled expert without optimizer state and update the sha256 in its card."""
    from illab.experts import load_sb3
    card_path = Path(out) / f"{expert_id}.json"
    card = json.loads(card_path.read_text())
    path = Path(out) / card["file"]
    model = load_sb3(path, card["algo"])
    _drop_optimizer_state(model)
    tmp = Path(out) / f".{expert_id}.tmp.zip"
    model.save(str(tmp))
    os.replace(tmp, path)
    card["sha256"] = sha256(path)
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(f"{expert_id}: {path.stat().st_size / 1e6:.2f} MB, sha256 {card['sha256'][:12]}")


def _write(expert_id, model, venv, card, out: Path, force: bool):
    out.mkdir(parents=True, exist_ok=True)
    card_path = out / f"{expert_id}.json"
    if card_path.exists() and not force:
        old = json.loads(card_path.read_text())
        if old.get("expert_return", [-np.inf])[0] > card["expert_return"][0]:
            print(f"kept the existing {expert_id} expert ({old['expert_return'][0]:.1f} > "
                  f"{card['expert_return'][0]:.1f}); pass --force to replace it")
            return
    tmp = out / f".{expert_id}.tmp.zip"
    _drop_optimizer_state(model)
    model.save(str(tmp), exclude=["replay_buffer", "rollout_buffer", "ep_info_buffer", "ep_success_buffer"])
    if venv is not None:
        np.savez(out / f".{expert_id}.tmp.npz", obs_mean=venv.obs_rms.mean, obs_var=venv.obs_rms.var,
                 clip_obs=np.float64(venv.clip_obs), epsilon=np.float64(venv.epsilon))
        os.replace(out / f".{expert_id}.tmp.npz", out / f"{expert_id}.npz")
    os.replace(tmp, out / f"{expert_id}.zip")
    card["file"] = f"{expert_id}.zip"
    card["sha256"] = sha256(out / f"{expert_id}.zip")
    card["normalization_file"] = f"{expert_id}.npz" if venv is not None else None
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps({k: card[k] for k in ("id", "timesteps", "expert_return", "random_return", "passed")}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("expert_id", nargs="+")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timesteps", type=int, default=None, help="override the zoo budget")
    parser.add_argument("--out", type=Path, default=BUNDLED)
    parser.add_argument("--workdir", type=Path, default=Path("runs/experts"))
    parser.add_argument("--checkpoint-every", type=int, default=50_000)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--repack", action="store_true",
                        help="only re-save the bundled files without optimizer state (no training)")
    args = parser.parse_args(argv)
    for expert_id in args.expert_id:
        if args.repack:
            repack(expert_id, args.out)
            continue
        train(expert_id, args.seed, args.out, args.workdir, args.timesteps, args.checkpoint_every,
              args.resume, args.force)


if __name__ == "__main__":
    main()
