"""Train a bundled expert reproducibly: ``python -m illab.experts.train <id> [--seed 0]``.

Trains the SB3 algorithm of :func:`illab.experts.zoo.spec` (a bundled :data:`~illab.experts.zoo.ZOO`
expert or a :data:`~illab.experts.zoo.CANDIDATES` one) from a fixed seed on one torch thread and
checkpoints every ``--checkpoint-every`` steps into ``--workdir/<id>/``: the model, for off-policy
algorithms (SAC, TD3) also the replay buffer (only the latest one is kept: it weighs ~200 MB per
million MuJoCo steps), and ``progress.json`` (wall time summed over sessions). ``--resume`` picks up
the latest complete checkpoint, so long MuJoCo runs survive session ends; ``--stop-by HH:MM`` ends
training at that time of day (a checkpoint is written first) so a run never overstays its slot.

Experts with ``eval_every`` in their spec are evaluated every that many steps on validation-stream
episodes; the best checkpoint is kept (``best.zip``) and is the one that ships. The shipped expert
is then evaluated on 100 test-stream episodes (and a seeded random policy on the same seeds, the
reference returns of normalized performance) and written as ``<id>.zip`` (+ ``<id>.npz``
VecNormalize observation statistics) with the card ``<id>.json`` into ``--out`` (default: the
package's ``bundled/``). Existing files are only replaced when the new expert is at least as good
(or ``--force``). Shipped files are acting-only (:func:`strip_for_acting`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time
import zipfile
from pathlib import Path

import numpy as np

from illab.fileio import atomic_write, remove_stale_temps, sha256, torch_threads

BUNDLED = Path(__file__).parent / "bundled"
OFF_POLICY = ("SAC", "TD3", "DDPG")


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


def parse_stop_by(value: str | None, now: dt.datetime | None = None) -> float | None:
    """``"HH:MM"`` (today, local clock) or an ISO date-time as a POSIX timestamp; ``None`` passes.

    Raises:
        ValueError: not ``HH:MM`` nor ISO 8601, or the time has already passed.
    """
    if value is None:
        return None
    now = now or dt.datetime.now()
    try:
        if len(value) <= 5 and ":" in value:
            h, m = (int(x) for x in value.split(":"))
            when = now.replace(hour=h, minute=m, second=0, microsecond=0)
        else:
            when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--stop-by {value!r}: give a time of day HH:MM or an ISO date-time "
                         "(e.g. 16:20 or 2026-11-23T16:20)") from None
    if when <= now:
        raise ValueError(f"--stop-by {value!r} has already passed (now {now:%H:%M}); give a later time")
    return when.timestamp()


class _Checkpoints:
    """The files of one training run in ``work``: ``ckpt_<steps>_steps.zip`` (+ replay buffer,
    VecNormalize statistics), ``best.zip``/``best.json`` and ``progress.json``."""

    def __init__(self, work: Path):
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.work)

    def model(self, steps: int) -> Path:
        return self.work / f"ckpt_{steps}_steps.zip"

    def buffer(self, steps: int) -> Path:
        return self.work / f"ckpt_replay_buffer_{steps}_steps.pkl"

    def vecnormalize(self, steps: int) -> Path:
        return self.work / f"ckpt_vecnormalize_{steps}_steps.pkl"

    def latest(self, need_buffer: bool):
        """``(steps, model_path)`` of the newest checkpoint (with its replay buffer if
        ``need_buffer`` and one exists for some checkpoint), or ``None``."""
        found = sorted((int(p.stem.split("_")[-2]), p) for p in self.work.glob("ckpt_*_steps.zip"))
        if need_buffer:
            with_buffer = [f for f in found if self.buffer(f[0]).exists()]
            if with_buffer:
                return with_buffer[-1]
        return found[-1] if found else None

    def save(self, model, venv, off_policy: bool) -> None:
        """Replay buffer and statistics first, the model zip last (its presence marks a complete
        checkpoint); older replay buffers are deleted once the new one is on disk."""
        steps = int(model.num_timesteps)
        if off_policy and getattr(model, "replay_buffer", None) is not None:
            from stable_baselines3.common.save_util import save_to_pkl
            atomic_write(self.buffer(steps), lambda f: save_to_pkl(f, model.replay_buffer))
        if venv is not None and hasattr(venv, "obs_rms"):
            atomic_write(self.vecnormalize(steps), lambda f: f.write(_pickle(venv)))
        atomic_write(self.model(steps), lambda f: model.save(f))
        for p in self.work.glob("ckpt_replay_buffer_*_steps.pkl"):
            if int(p.stem.split("_")[-2]) != steps:
                p.unlink()

    def progress(self) -> dict:
        p = self.work / "progress.json"
        return json.loads(p.read_text()) if p.exists() else {"wall_seconds": 0.0, "best": None}

    def write_progress(self, progress: dict) -> None:
        atomic_write(self.work / "progress.json", json.dumps(progress, indent=2) + "\n")


def _pickle(venv) -> bytes:
    import pickle
    return pickle.dumps(venv)


def train(expert_id: str, seed: int = 0, out: Path = BUNDLED, workdir: Path = Path("runs/experts"),
          timesteps: int | None = None, checkpoint_every: int = 50_000, resume: bool = False,
          force: bool = False, stop_by: float | None = None, spec=None) -> dict | None:
    """Train, evaluate and write one expert; returns its card (a dict). See the module docstring.

    Args:
        expert_id: a :func:`illab.experts.zoo.spec` id.
        seed: training seed (environment, network initialisation, exploration) and base seed of the
            validation and test episode streams.
        out: folder receiving ``<id>.zip``, ``<id>.json`` (and ``<id>.npz``).
        workdir: checkpoints go to ``workdir/<id>/``.
        timesteps: training budget in environment steps (default: the spec's).
        checkpoint_every: steps between checkpoints.
        resume: continue from the latest checkpoint in ``workdir/<id>/``.
        force: replace an existing expert in ``out`` even if the new one is worse.
        stop_by: POSIX time at which training stops (checkpoint, then evaluation); see
            :func:`parse_stop_by`.
        spec: a :class:`~illab.experts.zoo.ZooSpec` to use instead of looking ``expert_id`` up.

    Returns:
        The card, or ``None`` if ``stop_by`` had passed before training began (nothing written).

    Raises:
        ValueError: unknown ``expert_id``.
    """
    with torch_threads(1):
        return _train(expert_id, seed, Path(out), Path(workdir), timesteps, checkpoint_every, resume, force,
                      stop_by, spec)


def _train(expert_id, seed, out, workdir, timesteps, checkpoint_every, resume, force, stop_by, spec):
    import stable_baselines3 as sb3
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.noise import NormalActionNoise
    from stable_baselines3.common.vec_env import VecNormalize

    from illab.experts.zoo import spec as zoo_spec
    from illab.policy import RandomPolicy
    from illab.rollout import make_env, run_episodes
    from illab.seeds import episode_seeds

    spec = spec or zoo_spec(expert_id)
    if stop_by is not None and time.time() >= stop_by:
        print(f"{expert_id}: --stop-by time reached before training began; skipped", flush=True)
        return None
    budget = int(timesteps or spec.n_timesteps)
    off_policy = spec.algo in OFF_POLICY
    ckpts = _Checkpoints(Path(workdir) / expert_id)
    algo = getattr(sb3, spec.algo)

    venv = make_vec_env(spec.env_id, n_envs=spec.n_envs, seed=seed, env_kwargs=spec.env_kwargs)
    latest = ckpts.latest(need_buffer=off_policy) if resume else None
    if spec.normalize:
        if latest and ckpts.vecnormalize(latest[0]).exists():
            venv = VecNormalize.load(str(ckpts.vecnormalize(latest[0])), venv)
        else:
            venv = VecNormalize(venv, gamma=spec.hyperparams.get("gamma", 0.99))
    norm_env = venv if spec.normalize else None
    progress = ckpts.progress() if latest else {"wall_seconds": 0.0, "best": None}
    if latest:
        model = algo.load(latest[1], env=venv, device="cpu")
        if off_policy:
            if ckpts.buffer(latest[0]).exists():
                model.load_replay_buffer(str(ckpts.buffer(latest[0])))
            else:
                print(f"warning: no replay buffer beside {latest[1]}; continuing with an empty one", flush=True)
        print(f"resuming {expert_id} from {latest[1]} ({model.num_timesteps} steps)", flush=True)
    else:
        kwargs = _hyperparams(spec)
        if spec.action_noise is not None:
            n_act = venv.action_space.shape[0]
            kwargs["action_noise"] = NormalActionNoise(np.zeros(n_act), spec.action_noise * np.ones(n_act))
        model = algo("MlpPolicy", venv, seed=seed, device="cpu", verbose=0, **kwargs)

    val_seeds = episode_seeds(seed, spec.eval_episodes, "validation")
    best_path = ckpts.work / "best.zip"

    def validate() -> tuple[float, float]:
        eps = run_episodes(_policy(model, norm_env), spec.env_id, val_seeds, env_kwargs=spec.env_kwargs,
                           record=False)
        returns = np.array([e.ret for e in eps])
        return float(returns.mean()), float(returns.std())

    def consider_best(mean: float, std: float) -> None:
        best = progress.get("best")
        if best is None or mean > best["validation_return"][0]:
            atomic_write(best_path, lambda f: model.save(f, exclude=["replay_buffer"]))
            if norm_env is not None:
                atomic_write(ckpts.work / "best_vecnormalize.pkl", _pickle(norm_env))
            progress["best"] = {"steps": int(model.num_timesteps), "validation_return": [mean, std]}
            ckpts.write_progress(progress)

    t0 = time.time()
    wall_before = float(progress.get("wall_seconds", 0.0))

    class Loop(BaseCallback):
        """Checkpoints, validation (stop_at, best-keeping) and the --stop-by deadline."""

        def __init__(self):
            super().__init__()
            self.last_ckpt = self.last_eval = 0
            self.stopped_by = None

        def _on_training_start(self) -> None:
            self.last_ckpt = self.last_eval = self.num_timesteps

        def _on_step(self) -> bool:
            n = self.num_timesteps
            if n - self.last_ckpt >= checkpoint_every:
                self.last_ckpt = n
                progress["wall_seconds"] = wall_before + time.time() - t0
                ckpts.save(model, norm_env, off_policy)
                ckpts.write_progress(progress)
            every = spec.eval_every or max(spec.n_envs * spec.hyperparams.get("n_steps", 1000), 5000)
            if (spec.eval_every or spec.stop_at is not None) and n - self.last_eval >= every:
                self.last_eval = n
                mean, std = validate()
                print(f"{expert_id}: {n} steps, validation return {mean:.1f} ± {std:.1f} "
                      f"({time.time() - t0:.0f} s this session)", flush=True)
                if spec.eval_every:
                    consider_best(mean, std)
                if spec.stop_at is not None and mean >= spec.stop_at:
                    self.stopped_by = f"validation mean {mean:.1f} >= stop_at {spec.stop_at:g}"
                    return False
            if stop_by is not None and time.time() >= stop_by:
                self.stopped_by = "--stop-by time"
                return False
            return True

    loop = Loop()
    remaining = budget - model.num_timesteps
    if remaining > 0:
        model.learn(remaining, callback=loop, reset_num_timesteps=not latest, progress_bar=False)
    progress["wall_seconds"] = wall_before + time.time() - t0
    if loop.stopped_by:
        print(f"{expert_id}: stopped at {model.num_timesteps} steps ({loop.stopped_by})", flush=True)
    if model.num_timesteps != (latest[0] if latest else 0) and not ckpts.model(model.num_timesteps).exists():
        ckpts.save(model, norm_env, off_policy)
    ckpts.write_progress(progress)

    selected = "final"
    if spec.eval_every:
        consider_best(*validate())
        best = progress["best"]
        if best["steps"] != model.num_timesteps:
            model = algo.load(best_path, device="cpu")
            if norm_env is not None:
                import pickle
                norm_env = pickle.loads((ckpts.work / "best_vecnormalize.pkl").read_bytes())
            selected = f"best validation checkpoint ({best['steps']} steps)"
        else:
            selected = f"final = best validation checkpoint ({best['steps']} steps)"

    policy = _policy(model, norm_env)
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
        "train_wall_seconds": round(float(progress["wall_seconds"]), 1),
        "versions": _versions(), "repo_id": spec.repo_id, "hub_filename": spec.hub_filename,
    }
    if spec.action_noise is not None:
        card["action_noise"] = spec.action_noise
    if spec.deviation:
        card["deviation"] = spec.deviation
    if spec.eval_every:
        card["trained_timesteps"] = _latest_steps(ckpts)
        card["selection"] = (f"{selected}, chosen on {spec.eval_episodes} validation-stream episodes every "
                             f"{spec.eval_every} steps")
        card["validation_return"] = progress["best"]["validation_return"]
    _write(expert_id, model, norm_env, card, Path(out), force)
    return card


def _latest_steps(ckpts: _Checkpoints) -> int:
    latest = ckpts.latest(need_buffer=False)
    return latest[0] if latest else 0


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


def strip_for_acting(model) -> list[str]:
    """Make an off-policy SB3 model acting-only: optimizer state dropped and the critics and
    target networks (``critic``, ``critic_target``, ``actor_target``) zeroed, so the saved zip,
    deflated by :func:`_deflate`, weighs about the actor alone. SB3 still loads it (same keys)
    and its deterministic actions are unchanged; it can no longer be trained further (resume
    from the run's checkpoints for that). On-policy models only lose optimizer state.

    Returns:
        The zeroed submodule names (empty for on-policy models).
    """
    import torch
    _drop_optimizer_state(model)
    zeroed = []
    for name in ("critic", "critic_target", "actor_target"):
        module = getattr(model.policy, name, None)
        if module is not None:
            with torch.no_grad():
                for p in module.parameters():
                    p.zero_()
            zeroed.append(name)
    return zeroed


def _deflate(src: Path, dst: Path) -> None:
    """Copy an SB3 zip (written uncompressed) into ``dst`` with deflate compression."""
    def write(f):
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as zout:
            for item in zin.infolist():
                zout.writestr(item.filename, zin.read(item.filename))
    atomic_write(dst, write)


def _save_acting(model, path: Path) -> list[str]:
    zeroed = strip_for_acting(model)
    tmp = path.with_name(f".{path.stem}-raw.{os.getpid()}.tmp.zip")  # remove_stale_temps' pattern
    try:
        model.save(str(tmp), exclude=["replay_buffer", "rollout_buffer", "ep_info_buffer", "ep_success_buffer"])
        _deflate(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return zeroed


def repack(expert_id: str, out: Path = BUNDLED) -> None:
    """Re-save an expert in ``out`` acting-only (:func:`strip_for_acting`) and update its card's sha256."""
    from illab.experts import load_sb3
    card_path = Path(out) / f"{expert_id}.json"
    card = json.loads(card_path.read_text())
    path = Path(out) / card["file"]
    model = load_sb3(path, card["algo"])
    zeroed = _save_acting(model, path)
    card["sha256"] = sha256(path)
    if zeroed:
        card["acting_only"] = f"optimizer state dropped; {', '.join(zeroed)} zeroed (resume from the run's checkpoints to train on)"
    atomic_write(card_path, json.dumps(card, indent=2) + "\n")
    print(f"{expert_id}: {path.stat().st_size / 1e6:.2f} MB, sha256 {card['sha256'][:12]}")


def promote(expert_id: str, src: Path, new_id: str, dest: Path = BUNDLED) -> dict:
    """Copy a verified candidate (``src/<expert_id>.zip`` + card) into ``dest`` as ``new_id``.

    The card's ``id``, ``file`` and ``sha256`` are rewritten (``promoted_from`` records the old id);
    a ``dest/<new_id>.npz`` left by a previous expert is removed when the candidate has none. The
    zoo spec of ``new_id`` must be switched to the candidate's by hand (``zoo.ZOO[new_id] =
    zoo.CANDIDATES[expert_id]``), and benchmark rows tied to the old file's sha256 re-run.

    Returns:
        The new card.

    Raises:
        FileNotFoundError: no card or weights for ``expert_id`` in ``src``.
        ValueError: the candidate's sha256 does not match its card.
    """
    src, dest = Path(src), Path(dest)
    card = json.loads((src / f"{expert_id}.json").read_text())
    weights = src / card["file"]
    if sha256(weights) != card["sha256"]:
        raise ValueError(f"{weights}: sha256 differs from its card; re-verify the candidate before promoting it")
    data = weights.read_bytes()
    atomic_write(dest / f"{new_id}.zip", data)
    norm = card.get("normalization_file")
    if norm:
        atomic_write(dest / f"{new_id}.npz", (src / norm).read_bytes())
    else:
        (dest / f"{new_id}.npz").unlink(missing_ok=True)
    card.update(id=new_id, file=f"{new_id}.zip", promoted_from=expert_id,
                normalization_file=f"{new_id}.npz" if norm else None, sha256=sha256(dest / f"{new_id}.zip"))
    atomic_write(dest / f"{new_id}.json", json.dumps(card, indent=2) + "\n")
    return card


def _write(expert_id, model, venv, card, out: Path, force: bool):
    out.mkdir(parents=True, exist_ok=True)
    card_path = out / f"{expert_id}.json"
    if card_path.exists() and not force:
        old = json.loads(card_path.read_text())
        if old.get("expert_return", [-np.inf])[0] > card["expert_return"][0]:
            print(f"kept the existing {expert_id} expert ({old['expert_return'][0]:.1f} > "
                  f"{card['expert_return'][0]:.1f}); pass --force to replace it")
            return
    zeroed = _save_acting(model, out / f"{expert_id}.zip")
    if zeroed:
        card["acting_only"] = f"optimizer state dropped; {', '.join(zeroed)} zeroed (resume from the run's checkpoints to train on)"
    if venv is not None:
        atomic_write(out / f"{expert_id}.npz", lambda f: np.savez(
            f, obs_mean=venv.obs_rms.mean, obs_var=venv.obs_rms.var, clip_obs=np.float64(venv.clip_obs),
            epsilon=np.float64(venv.epsilon)))
    card["file"] = f"{expert_id}.zip"
    card["sha256"] = sha256(out / f"{expert_id}.zip")
    card["normalization_file"] = f"{expert_id}.npz" if venv is not None else None
    atomic_write(card_path, json.dumps(card, indent=2) + "\n")
    print(json.dumps({k: card[k] for k in ("id", "timesteps", "expert_return", "random_return", "passed")}), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("expert_id", nargs="+", help="ids, trained one after another")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timesteps", type=int, default=None, help="override the zoo budget")
    parser.add_argument("--out", type=Path, default=BUNDLED,
                        help="folder for <id>.zip/.json; '{id}' in it is replaced by the expert id")
    parser.add_argument("--workdir", type=Path, default=Path("runs/experts"))
    parser.add_argument("--checkpoint-every", type=int, default=50_000)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--stop-by", default=None, help="stop training at this time (HH:MM today, or ISO)")
    parser.add_argument("--repack", action="store_true",
                        help="only re-save the files in --out acting-only (no training)")
    parser.add_argument("--promote-as", default=None, metavar="NEW_ID",
                        help="no training: copy the expert in --out into the package's bundled/ as NEW_ID")
    args = parser.parse_args(argv)
    if args.promote_as and len(args.expert_id) != 1:
        parser.error("--promote-as takes exactly one expert id")
    stop_by = parse_stop_by(args.stop_by)
    for expert_id in args.expert_id:
        out = Path(str(args.out).replace("{id}", expert_id))
        if args.promote_as:
            card = promote(expert_id, out, args.promote_as)
            print(f"{expert_id} -> {BUNDLED / card['file']} (sha256 {card['sha256'][:12]}); now set "
                  f"zoo.ZOO[{args.promote_as!r}] to the candidate's spec and re-run its benchmark rows")
            continue
        if args.repack:
            repack(expert_id, out)
            continue
        train(expert_id, args.seed, out, args.workdir, args.timesteps, args.checkpoint_every,
              args.resume, args.force, stop_by)


if __name__ == "__main__":
    main()
