"""imitation 1.0.1's BC on illab's CartPole demonstrations: the comparison side of issue 21's BC targets.

imitation 1.0.1 pins gymnasium 0.29 and stable-baselines3 2.2, so it runs in its own virtual environment, not
illab's; this script imports nothing from illab (numbers in docs/performance.md and docs/methods.md):

    python3.11 -m venv /tmp/imitation && /tmp/imitation/bin/pip install torch==2.13.0 imitation==1.0.1
    python -c "from illab.controller import collect; print(collect('cartpole', 100, 'demos', seed=0))"
    /tmp/imitation/bin/python benchmarks/imitation_bc.py demos/cartpole.npz speed
    /tmp/imitation/bin/python benchmarks/imitation_bc.py demos/cartpole.npz stability --seeds 0 1 2 3 4 5

``speed``: samples/s of ``bc.BC.train`` (its default policy, Adam at 1e-3, one torch thread) over 3 epochs after
a 1-epoch warm-up, at batch 32 and 256, 3 rounds. ``stability``: issue 21's protocol at batch 256 (3 epochs, the
policy evaluated every 20 gradient steps on 20 CartPole-v1 episodes with reset seeds 10000..10019, normalized
with illab's CartPole references): the first step at >= 0.99, the step from which every later checkpoint stays
>= 0.99, and the share of the checkpoints after the first that are >= 0.99.
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym
import numpy as np
import torch
from imitation.algorithms import bc
from imitation.data.types import Transitions

RANDOM_RETURN, EXPERT_RETURN = 23.23, 499.99
"""illab's CartPole references (the bundled expert's card: uniform random actions, the expert, 100 test episodes)."""


def transitions(path: str) -> Transitions:
    """illab's dataset file (``obs`` ``(T, 4)`` float32, ``actions`` ``(T,)`` int64, ...) as imitation's type."""
    z = np.load(path)
    dones = z["terminated"] | z["truncated"]
    return Transitions(obs=z["obs"], acts=z["actions"], infos=np.array([{}] * len(dones)), next_obs=z["next_obs"],
                       dones=dones)


def evaluate(policy, envs: list) -> float:
    """Mean normalized return of ``policy`` (deterministic, batched over the envs) on reset seeds 10000.."""
    obs = np.stack([e.reset(seed=10_000 + i)[0] for i, e in enumerate(envs)])
    ret, alive = np.zeros(len(envs)), np.ones(len(envs), bool)
    while alive.any():
        act, _ = policy.predict(obs, deterministic=True)
        for i, e in enumerate(envs):
            if alive[i]:
                o, r, term, trunc, _ = e.step(int(act[i]))
                ret[i] += r
                obs[i] = o
                alive[i] = not (term or trunc)
    return float(((ret - RANDOM_RETURN) / (EXPERT_RETURN - RANDOM_RETURN)).mean())


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="illab's cartpole.npz (100 demonstrations)")
    p.add_argument("mode", choices=("speed", "stability"))
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    tr, env = transitions(args.data), gym.make("CartPole-v1")
    if args.mode == "speed":
        for r in range(3):
            for bs in (32, 256):
                t = bc.BC(observation_space=env.observation_space, action_space=env.action_space, demonstrations=tr,
                          rng=np.random.default_rng(r), batch_size=bs)
                t.train(n_epochs=1, progress_bar=False, log_interval=10**9)
                t0 = time.perf_counter()
                t.train(n_epochs=3, progress_bar=False, log_interval=10**9)
                print(f"round {r}, batch {bs}: {3 * len(tr) / (time.perf_counter() - t0):,.0f} samples/s", flush=True)
        return
    envs = [gym.make("CartPole-v1") for _ in range(20)]
    for seed in args.seeds:
        torch.manual_seed(seed)
        t = bc.BC(observation_space=env.observation_space, action_space=env.action_space, demonstrations=tr,
                  rng=np.random.default_rng(seed), batch_size=256)
        perfs, step = [], [0]

        def on_batch_end():
            if step[0] % 20 == 0:
                perfs.append(evaluate(t.policy, envs))
            step[0] += 1

        t.train(n_epochs=3, on_batch_end=on_batch_end, progress_bar=False, log_interval=10**9)
        first = next((i for i, v in enumerate(perfs) if v >= 0.99), None)
        later = perfs[first + 1:] if first is not None else []
        k = len(perfs)
        while k and perfs[k - 1] >= 0.99:
            k -= 1
        print(json.dumps({"seed": seed, "first_step": None if first is None else first * 20,
                          "settled_step": None if k == len(perfs) else k * 20,
                          "later_at_0.99": f"{sum(v >= 0.99 for v in later)}/{len(later)}"}), flush=True)


if __name__ == "__main__":
    main()
