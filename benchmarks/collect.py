"""Collection speed: raw env.step, a naive per-step SB3 predict loop, and illab's Controller.

    python benchmarks/collect.py [--episodes 100] [--envs cartpole hopper]

For each expert it prints steps/s of
  raw      random actions through ``env.step`` (the ceiling of any collector),
  naive    SB3 ``model.predict`` once per step per episode (what IL-Datasets does),
  illab    the Controller with threads=1, threads=2, and a 2-process (spawn) executor,
and the ratios illab/naive and illab/raw. Numbers are recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import gymnasium as gym
import numpy as np

from illab import experts
from illab.controller import Controller, process_executor
from illab.seeds import episode_seeds


def raw_rate(env_id: str, env_kwargs: dict, steps: int) -> float:
    env = gym.make(env_id, **env_kwargs)
    env.action_space.seed(0)
    env.reset(seed=0)
    actions = [env.action_space.sample() for _ in range(steps)]
    t0 = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t0)


def naive_rate(expert_id: str, episodes: int) -> float:
    import stable_baselines3 as sb3
    e = experts.get(expert_id)
    model = getattr(sb3, e.algo).load(str(e.path), device="cpu")
    policy = experts.load(expert_id)  # for VecNormalize stats, applied by hand below
    env = gym.make(e.env_id, **e.env_kwargs)
    steps, t0 = 0, time.perf_counter()
    for seed in episode_seeds(0, episodes):
        obs, _ = env.reset(seed=int(seed))
        done = False
        while not done:
            x = policy.normalize(obs[None])[0] if policy.obs_mean is not None else obs
            obs, _, term, trunc, _ = env.step(model.predict(x, deterministic=True)[0])
            steps += 1
            done = term or trunc
    return steps / (time.perf_counter() - t0)


def _warm(expert_id: str) -> bool:
    """Load the expert in a worker process (imports torch/SB3) outside the timing."""
    from illab.controller import _cached_expert
    _cached_expert(expert_id)
    time.sleep(1.0)  # keep this worker busy so the next warm-up task goes to the other one
    return True


def illab_rate(expert_id: str, episodes: int, threads: int = 1, processes: int = 0) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        kwargs = dict(episodes=episodes, seed=0, path=tmp, progress=False, threshold=-np.inf)
        if processes:
            with process_executor(processes) as ex:
                list(ex.map(_warm, [expert_id] * processes))  # start workers and load the expert untimed
                ctl = Controller(executor=ex, **kwargs)
                ctl.start({"game": expert_id, "mode": "play"})
        else:
            ctl = Controller(threads=threads, **kwargs)
            ctl.start({"game": expert_id, "mode": "play"})
        return ctl.stats.steps_per_second, ctl.stats.uptime


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=256)
    parser.add_argument("--naive-episodes", type=int, default=10)
    parser.add_argument("--envs", nargs="+", default=["cartpole", "hopper"])
    args = parser.parse_args(argv)
    print(f"{'expert':10s} {'measure':22s} {'steps/s':>10s} {'x naive':>8s} {'x raw':>7s} {'uptime':>7s}")
    for expert_id in args.envs:
        e = experts.get(expert_id)
        raw = raw_rate(e.env_id, e.env_kwargs, 50_000)
        naive = naive_rate(expert_id, args.naive_episodes)
        rows = [("raw env.step (random)", raw, None), ("naive SB3 predict loop", naive, None)]
        for label, kw in (("illab threads=1", {}), ("illab threads=2", {"threads": 2}),
                          ("illab 2 processes", {"processes": 2})):
            rate, uptime = illab_rate(expert_id, args.episodes, **kw)
            rows.append((label, rate, uptime))
        for label, rate, uptime in rows:
            up = f"{uptime:.0%}" if uptime is not None else ""
            print(f"{expert_id:10s} {label:22s} {rate:10,.0f} {rate / naive:8.1f} {rate / raw:7.2f} {up:>7s}", flush=True)


if __name__ == "__main__":
    main()
