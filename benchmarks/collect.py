"""Collection speed and cost: raw env.step, a naive per-step SB3 loop, and illab's Controller.

    python benchmarks/collect.py speed [--envs cartpole hopper] [--episodes 256] [--rounds 3]
    python benchmarks/collect.py inprocess [--episodes 1000]       # CartPole threads=1 vs raw env.step
    python benchmarks/collect.py first                             # first vs second start() in a fresh process
    python benchmarks/collect.py pool                              # cold vs warm worker pool, fresh process
    python benchmarks/collect.py scale [--cartpole 10000] [--hopper 1000]

``speed`` prints, per expert, steps/s of raw ``env.step`` with random actions (the ceiling of any
collector), the naive loop (SB3 ``model.predict`` once per step, IL-Datasets' way), and the
Controller with threads=1 and threads=2 (medians of ``--rounds`` alternating rounds, the expert
already loaded), with threads=2 / threads=1. ``scale`` collects into a temp folder with the warm
2-process pool (CartPole) and threads=2 (Hopper) and reports wall time and peak RSS (parent =
play bookkeeping + streaming collate, workers = the largest pool worker). Every line is printed
with the 1-minute load average; the numbers are recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import gymnasium as gym
import numpy as np


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def raw_rate(env_id: str, env_kwargs: dict, steps: int, clock=time.perf_counter) -> float:
    env = gym.make(env_id, **env_kwargs)
    env.action_space.seed(0)
    env.reset(seed=0)
    actions = [env.action_space.sample() for _ in range(steps)]
    t0 = clock()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return steps / (clock() - t0)


def naive_rate(expert_id: str, episodes: int) -> float:
    import stable_baselines3 as sb3

    from illab import experts
    from illab.seeds import episode_seeds
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


def illab_run(expert_id: str, episodes: int, threads: int = 1, executor=None, mode: str = "play"):
    from illab.controller import Controller
    with tempfile.TemporaryDirectory() as tmp:
        ctl = Controller(episodes=episodes, threads=threads, executor=executor, seed=0, path=tmp, progress=False,
                         threshold=-np.inf)
        t0 = time.perf_counter()
        ctl.start({"game": expert_id, "mode": mode})
        return ctl.stats, time.perf_counter() - t0


def speed(args) -> None:
    from illab import experts
    from illab.controller import Controller, _cached_expert, physics_seconds, process_executor, threads_pay
    block = inspect.signature(Controller).parameters["block_size"].default
    if args.episodes < 2 * block:
        print(f"note: {args.episodes} episodes are fewer than two blocks of {block}: threads=2 has one block to play, "
              f"so it cannot differ from threads=1 (use --episodes {2 * block} or more)")
    print(f"{'expert':24s} {'raw':>9s} {'naive':>7s} {'thr=1':>9s} {'thr=2':>9s} {'2/1':>5s} {'pool2':>9s} {'p/1':>5s} "
          f"{'1/raw':>6s} {'physics':>8s}  (steps/s, medians of {args.rounds} rounds, {args.episodes} episodes; "
          f"pool2 = warm process_executor(2); physics = µs per step outside the GIL, * = threads play in parallel)")
    pool = process_executor(2)
    while not pool.warm():  # until then the Controller plays in this process and the workers load nothing
        time.sleep(0.05)
    for expert_id in args.envs:
        e = experts.get(expert_id)
        _cached_expert(expert_id)
        illab_run(expert_id, 2)  # warm-up: env construction, first torch call
        illab_run(expert_id, 4, executor=pool)  # the workers load the expert
        raw = raw_rate(e.env_id, e.env_kwargs, 20_000)
        naive = naive_rate(expert_id, args.naive_episodes) if args.naive_episodes else float("nan")
        one, two, procs = [], [], []
        for _ in range(args.rounds):
            one.append(illab_run(expert_id, args.episodes, threads=1)[0].steps_per_second)
            two.append(illab_run(expert_id, args.episodes, threads=2)[0].steps_per_second)
            procs.append(illab_run(expert_id, args.episodes, executor=pool)[0].steps_per_second)
        m1, m2, mp = statistics.median(one), statistics.median(two), statistics.median(procs)
        physics = physics_seconds(e.env_id, e.env_kwargs) * 1e6
        mark = "*" if threads_pay(e.env_id, e.env_kwargs) else ""
        print(f"{expert_id:24s} {raw:9,.0f} {naive:7,.0f} {m1:9,.0f} {m2:9,.0f} {m2 / m1:5.2f} {mp:9,.0f} {mp / m1:5.2f} "
              f"{m1 / raw:6.2f} {physics:7.0f}{mark:1s}  {load()}", flush=True)
    pool.close()


def inprocess(args) -> None:
    from illab.controller import _cached_expert
    _cached_expert("cartpole")
    illab_run("cartpole", 2)
    for r in range(args.rounds):  # wall clock, and CPU time (steadier when other processes share the cores)
        raw = raw_rate("CartPole-v1", {}, 100_000)
        raw_cpu = raw_rate("CartPole-v1", {}, 100_000, clock=time.process_time)
        c0 = time.process_time()
        stats, _ = illab_run("cartpole", args.episodes, threads=1)
        cpu = stats.steps / (time.process_time() - c0)
        print(f"round {r}: CartPole {args.episodes} episodes threads=1 {stats.steps_per_second:,.0f} steps/s, raw "
              f"env.step {raw:,.0f} steps/s: {stats.steps_per_second / raw:.2f}x raw; per CPU second {cpu:,.0f} vs "
              f"{raw_cpu:,.0f}: {cpu / raw_cpu:.2f}x raw  {load()}", flush=True)


FIRST = """
import json, sys, time, tempfile
t0 = time.perf_counter()
import illab.controller as C
t1 = time.perf_counter()
from illab.controller import _cached_expert
_cached_expert("cartpole")
t2 = time.perf_counter()
out = {"import": t1 - t0, "expert": t2 - t1}
with tempfile.TemporaryDirectory() as d:
    for i in range(3):
        t = time.perf_counter()
        C.collect("cartpole", 32, f"{d}/{i}", seed=i)
        out[f"start{i}"] = time.perf_counter() - t
print(json.dumps(out))
"""

FIRST_PLAIN = """
import json, sys, time, tempfile
t0 = time.perf_counter()
import illab.controller as C
t1 = time.perf_counter()
out = {"import": t1 - t0}
with tempfile.TemporaryDirectory() as d:
    for i in range(3):
        t = time.perf_counter()
        C.collect("cartpole", 32, f"{d}/{i}", seed=i)
        out[f"start{i}"] = time.perf_counter() - t
print(json.dumps(out))
"""


def _fresh(code: str) -> dict:
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def first(args) -> None:
    for r in range(args.rounds):
        a = _fresh(FIRST_PLAIN)
        b = _fresh(FIRST)
        print(f"round {r}: fresh process, CartPole 32 episodes: import illab.controller {a['import']:.2f} s; "
              f"start() #1 {a['start0']:.2f} s, #2 {a['start1']:.2f} s, #3 {a['start2']:.2f} s "
              f"(first - second {a['start0'] - a['start1']:+.2f} s); split in another fresh process: expert load "
              f"{b['expert']:.2f} s, then start() #1 {b['start0']:.2f} s, #2 {b['start1']:.2f} s  {load()}", flush=True)


POOL = """
import json, time, tempfile
import numpy as np
from illab.controller import Controller, process_executor
out = {}
with tempfile.TemporaryDirectory() as d:
    for i in range(3):
        t = time.perf_counter()
        pool = process_executor(2)
        ctl = Controller(episodes=EPISODES, executor=pool, seed=i, path=f"{d}/{i}", progress=False, threshold=-np.inf)
        ctl.start({"game": "cartpole", "mode": "play"})
        out[f"start{i}"] = time.perf_counter() - t
        out[f"rate{i}"] = ctl.stats.steps_per_second
        out[f"pids{i}"] = pool.pids()
        out[f"here{i}"] = ctl.stats.here
    t = time.perf_counter()
    pool.close()
    out["close"] = time.perf_counter() - t
print(json.dumps(out))
"""


POOL_AHEAD = """
import json, time, tempfile
import numpy as np
from illab.controller import Controller, process_executor
pool = process_executor(2)   # made ahead of use (e.g. one notebook cell earlier): it warms up meanwhile
time.sleep(AHEAD)
with tempfile.TemporaryDirectory() as d:
    t = time.perf_counter()
    ctl = Controller(episodes=EPISODES, executor=pool, seed=0, path=d, progress=False, threshold=-np.inf)
    ctl.start({"game": "cartpole", "mode": "play"})
    print(json.dumps({"start0": time.perf_counter() - t}))
pool.close()
"""


def pool(args) -> None:
    for r in range(args.rounds):
        o = _fresh(POOL.replace("EPISODES", str(args.episodes)))
        a = _fresh(POOL_AHEAD.replace("EPISODES", str(args.episodes)).replace("AHEAD", "3"))
        same = o["pids1"] == o["pids2"]
        print(f"round {r}: fresh process, process_executor(2), CartPole {args.episodes} episodes: start() #1 (cold: "
              f"forkserver + workers + expert; {o['here0']} block(s) played by the caller meanwhile) {o['start0']:.2f} s "
              f"({o['rate0']:,.0f} steps/s); #2 "
              f"{o['start1']:.2f} s ({o['rate1']:,.0f} steps/s); #3 {o['start2']:.2f} s ({o['rate2']:,.0f} steps/s); "
              f"same workers in #2 and #3: {same}; close {o['close']:.2f} s; pool made 3 s ahead: start() #1 {a['start0']:.2f} s  "
              f"{load()}", flush=True)


SCALE = """
import json, resource, time, tempfile
from illab.controller import Controller, process_executor
out = {}
with tempfile.TemporaryDirectory() as d:
    kw = dict(episodes=EPISODES, seed=0, path=d, progress=False)
    if PROCESSES:
        pool = process_executor(2)
        kw["executor"] = pool
    else:
        kw["threads"] = 2
    ctl = Controller(**kw)
    t = time.perf_counter()
    ctl.start({"game": "EXPERT", "mode": "play"})
    out["play"] = time.perf_counter() - t
    out["steps"] = ctl.stats.steps
    out["rss_play"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    ctl.start({"game": "EXPERT", "mode": "collate"})
    out["collate"] = time.perf_counter() - t
    out["size"] = (__import__("pathlib").Path(d) / "EXPERT.npz").stat().st_size
    if PROCESSES:
        pool.close()
out["rss_parent"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out["rss_children"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps(out))
"""


def scale(args) -> None:
    for expert_id, episodes, processes in (("cartpole", args.cartpole, True), ("hopper", args.hopper, False)):
        if not episodes:
            continue
        o = _fresh(SCALE.replace("EPISODES", str(episodes)).replace("EXPERT", expert_id)
                   .replace("PROCESSES", str(processes)))
        how = "warm-able 2-process pool (cold here)" if processes else "threads=2"
        print(f"{expert_id} {episodes} episodes ({o['steps']:,} steps) with {how}: play {o['play']:.1f} s "
              f"({o['steps'] / o['play']:,.0f} steps/s), collate {o['collate']:.1f} s, dataset {o['size'] / 2**20:.0f} "
              f"MiB; peak RSS parent {o['rss_parent'] / 1024:.0f} MiB (after play {o['rss_play'] / 1024:.0f} MiB), "
              f"largest worker {o['rss_children'] / 1024:.0f} MiB  {load()}", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("section", choices=["speed", "inprocess", "first", "pool", "scale"])
    parser.add_argument("--episodes", type=int, default=None)
    parser.add_argument("--naive-episodes", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--envs", nargs="+", default=["cartpole", "acrobot", "mountaincar", "mountaincar-continuous",
                                                       "pendulum", "lunarlander", "lunarlander-continuous",
                                                       "hopper", "cheetah", "walker"])
    parser.add_argument("--cartpole", type=int, default=10_000)
    parser.add_argument("--hopper", type=int, default=1_000)
    args = parser.parse_args(argv)
    if args.episodes is None:
        args.episodes = {"speed": 256, "inprocess": 1000, "pool": 100}.get(args.section, 0)
    print(f"# {args.section}: {os.cpu_count()} cores, {load()}", flush=True)
    {"speed": speed, "inprocess": inprocess, "first": first, "pool": pool, "scale": scale}[args.section](args)


if __name__ == "__main__":
    main()
