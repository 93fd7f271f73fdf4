"""Quality and speed of the IL methods (issue 6): the table, BC samples/s, BC time-to-0.99 on CartPole.

    python benchmarks/methods.py                 # full: 100 demos, 100 test episodes (~10 min on 2 cores)
    python benchmarks/methods.py --quick         # smoke run: small budgets, numbers not meaningful

Protocol: demonstrations are collected with the bundled experts (``illab.controller.collect`` when
available, else :func:`illab.rollout.run_episodes` on the same ``"demonstrations"`` seed stream);
methods train on episodes [0, N); every score is the normalized performance
``(X − random) / (expert − random)`` (IL-Datasets, arXiv 2403.00550) over 100 test-stream episodes
whose start states are checked to differ from every training start state
(:func:`illab.evaluate.select_test_seeds`); reference returns come from the expert registry.
Validation-stream episodes (never test) decide when BC has reached 0.99 for the time-to-0.99 row.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


from illab import experts
from illab.evaluate import dataset_start_states, evaluate, select_test_seeds
from illab.methods import BCConfig, BCOConfig, DAggerConfig, GAILConfig, METHODS
from illab.methods.bc import BENCHMARK_CONFIGS

# (expert id, method, target normalized performance); the quality bar
PLAN = [("cartpole", "bc", 0.95), ("cartpole", "bco", 0.95), ("cartpole", "dagger", 0.95),
        ("cartpole", "gail", 0.9), ("pendulum", "bc", 0.9), ("pendulum", "dagger", 0.9), ("pendulum", "bco", None)]


def configs(quick: bool) -> dict:
    if quick:
        return {"bc": BCConfig(epochs=20), "bco": BCOConfig(pre_demo_steps=2000, post_iterations=1),
                "dagger": DAggerConfig(rounds=2, episodes_per_round=2), "gail": GAILConfig(total_timesteps=8192)}
    return {"bc": BCConfig(epochs=30), "bco": BCOConfig(), "dagger": DAggerConfig(),
            "gail": GAILConfig(total_timesteps=150_000, eval_every=0)}


def load_demos(expert_id: str, episodes: int, out: Path, seed: int):
    """The training split: the Controller's dataset file opened as a BaselineDataset."""
    from illab.controller import collect
    from illab.data import BaselineDataset
    path = collect(expert_id, episodes, out, seed=seed, progress=False)
    return BaselineDataset(path, n_episodes=episodes)


def time_to(threshold: float, ds, expert_id: str, seed: int, max_epochs: int = 50) -> tuple[float, int, float]:
    """Training seconds (evaluation excluded) until BC's validation score reaches ``threshold``."""
    from illab.methods import BC
    random_mean, expert_mean = experts.get(expert_id).reference_returns()
    bc = BC.from_dataset(ds, BCConfig(epochs=1), seed=seed)
    train_seconds, perf = 0.0, float("-inf")
    for epoch in range(1, max_epochs + 1):
        t = time.perf_counter()
        bc.fit(ds, eval_episodes=0, progress=False)
        train_seconds += time.perf_counter() - t
        res = evaluate(bc, ds.env_id, 20, seed=seed, stream="validation", env_kwargs=ds.env_kwargs)
        perf = res.performance(random_mean, expert_mean)[0]
        if perf >= threshold:
            return train_seconds, epoch, perf
    return train_seconds, max_epochs, perf


FIRST_FIT = """
import sys, time
from illab.data import BaselineDataset
from illab.methods import BC, BCConfig
ds = BaselineDataset(sys.argv[1])
seconds = []
for _ in range(2):
    bc = BC.from_dataset(ds, BCConfig(epochs=1, batch_size=int(sys.argv[2])), seed=0)
    t = time.perf_counter()
    bc.fit(ds, eval_episodes=0, progress=False)
    seconds.append(time.perf_counter() - t)
print(seconds[0], seconds[1], "torch._dynamo" in sys.modules)
"""


def first_fit(path: Path, batch_size: int) -> tuple[float, float, bool]:
    """Seconds of the first and the second one-epoch BC ``fit`` in a fresh Python process (imports of
    illab, torch and the dataset excluded), and whether ``torch._dynamo`` got imported (issue 21: the
    first fit should cost ≤ 0.5 s more than the second)."""
    import subprocess
    out = subprocess.run([sys.executable, "-c", FIRST_FIT, str(path), str(batch_size)], capture_output=True,
                         text=True, check=True).stdout.split()
    return float(out[-3]), float(out[-2]), out[-1] == "True"


def throughput(ds, batch_size: int, seed: int, epochs: int = 3, config: dict | None = None) -> float:
    """BC training samples/s (second fit in this process: steady state, evaluation excluded)."""
    from illab.methods import BC
    cfg = BCConfig(epochs=epochs, batch_size=batch_size, **(config or {}))
    BC.from_dataset(ds, BCConfig(epochs=1, batch_size=batch_size), seed=seed).fit(ds, eval_episodes=0,
                                                                                  progress=False)
    bc = BC.from_dataset(ds, cfg, seed=seed)
    return bc.fit(ds, eval_episodes=0, progress=False).history["samples_per_second"][-1]


STEADY = BENCHMARK_CONFIGS["*"]
"""The benchmark's BC settings, which stay at the expert on CartPole (not the defaults: they overfit a few
demonstrations)."""


def settled_from(perfs: list[float], threshold: float = 0.99) -> int | None:
    """Index of the first checkpoint from which every checkpoint is ≥ ``threshold`` (None: the last is below)."""
    k = len(perfs)
    while k and perfs[k - 1] >= threshold:
        k -= 1
    return k if k < len(perfs) else None


def stability(ds, expert_id: str, seed: int, batch_size: int = 256, epochs: int = 3, every: int = 20,
              episodes: int = 20, config: dict | None = None) -> tuple[int | None, float, list[float]]:
    """Does BC stay at the expert once it gets there? (issue 21; target ≥ 95 %.)

    Fits BC itself (``BCConfig`` with ``config``'s fields, BC's seeds) for ``epochs`` epochs and
    evaluates its policy on ``episodes`` validation-stream episodes after every ``every`` gradient
    steps (the issue's protocol: 3 epochs, batch 256; checkpoint ``i`` is gradient step
    ``(i + 1) * every``). Returns the index of the first checkpoint at ≥ 0.99 normalized (None:
    never), the fraction of the later checkpoints that are ≥ 0.99, and every checkpoint's normalized
    performance.
    """
    from illab.methods import BC
    refs, perfs = experts.get(expert_id).reference_returns(), []

    class Checkpointed(BC):  # BC, its policy scored after every ``every`` gradient steps
        def _after_step(self, step: int) -> None:
            if step % every == 0:
                res = evaluate(self, ds.env_id, episodes, seed=seed, stream="validation", env_kwargs=ds.env_kwargs)
                perfs.append(res.performance(*refs)[0])

    cfg = BCConfig(epochs=epochs, batch_size=batch_size, **(config or {}))
    Checkpointed.from_dataset(ds, cfg, seed=seed).fit(ds, eval_episodes=0, progress=False)
    first = next((i for i, p in enumerate(perfs) if p >= 0.99), None)
    later = perfs[first + 1:] if first is not None else []
    return first, (sum(p >= 0.99 for p in later) / len(later) if later else float("nan")), perfs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--episodes", type=int, default=100, help="demonstration episodes per task (train split)")
    p.add_argument("--test-episodes", type=int, default=100, help="test-stream evaluation episodes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", nargs="*", default=None, help="subset of bc bco dagger gail")
    p.add_argument("--out", type=Path, default=None, help="dataset directory (default: a fresh temp dir)")
    p.add_argument("--quick", action="store_true", help="tiny budgets for a smoke run")
    args = p.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="illab-bench-methods-"))
    cfgs = configs(args.quick)
    demos: dict = {}
    rows = []
    print(f"datasets in {out}; {args.episodes} demonstrations, {args.test_episodes} test episodes, seed {args.seed}")
    for expert_id, name, target in PLAN:
        if args.methods and name not in args.methods:
            continue
        e = experts.get(expert_id)
        if expert_id not in demos:
            t = time.perf_counter()
            ds = demos[expert_id] = load_demos(expert_id, args.episodes, out, args.seed)
            starts = dataset_start_states(ds.obs, ds.episode_starts)
            test_seeds, _ = select_test_seeds(e.env_id, args.test_episodes, starts, seed=args.seed,
                                              env_kwargs=e.env_kwargs)
            demos[expert_id + ":seeds"] = test_seeds
            print(f"  {expert_id}: {len(ds.obs)} transitions collected in {time.perf_counter() - t:.1f}s")
        ds = demos[expert_id]
        m = METHODS[name].from_dataset(ds, config=cfgs[name], seed=args.seed)
        t = time.perf_counter()
        m.fit(ds, env_id=e.env_id, env_kwargs=e.env_kwargs, expert=expert_id, eval_episodes=0, progress=False)
        seconds = time.perf_counter() - t
        res = evaluate(m, e.env_id, seeds=demos[expert_id + ":seeds"], env_kwargs=e.env_kwargs)
        perf, perf_std = res.performance(*e.reference_returns())
        rows.append((e.env_id, name, res.mean, res.std, perf, perf_std, target, seconds))
        print(f"  {e.env_id:<14} {name:<7} AER {res.mean:9.2f}  normalized {perf:6.3f}  ({seconds:.1f}s)", flush=True)

    print("\n| environment | method | AER (mean ± std) | normalized (mean ± std) | target | meets | train s |")
    print("|---|---|---|---|---|---|---|")
    ok = True
    for env_id, name, mean, std, perf, perf_std, target, seconds in rows:
        meets = "—" if target is None else ("yes" if perf >= target else "NO")
        ok &= target is None or perf >= target
        print(f"| {env_id} | {name} | {mean:.2f} ± {std:.2f} | {perf:.3f} ± {perf_std:.3f} | "
              f"{'—' if target is None else f'≥ {target}'} | {meets} | {seconds:.1f} |")

    if "cartpole" in demos and (not args.methods or "bc" in args.methods):
        ds = demos["cartpole"]
        from illab.methods import BC
        print()
        for bs in (32, 256):
            first, second, dynamo = first_fit(ds.path, bs)
            sps, steady = throughput(ds, bs, args.seed), throughput(ds, bs, args.seed, config=STEADY)
            print(f"BC on CartPole, batch {bs}: {sps:,.0f} samples/s, {steady:,.0f} with STEADY's averaging and "
                  f"schedule ({len(ds.obs)} transitions, 3 epochs, 1 torch "
                  f"thread); fresh process: first 1-epoch fit {first:.2f} s, second {second:.2f} s "
                  f"({first - second:+.2f} s; torch._dynamo imported: {dynamo}; target ≤ +0.5 s)")
            ok &= first - second <= 0.5
        for name, config in (("default", None), ("learning_rate=1e-2, lr_schedule='cosine', ema_decay=0.97", STEADY)):
            runs = [stability(ds, "cartpole", s, config=config) for s in range(args.seed, args.seed + 3)]
            fracs = [frac for _, frac, _ in runs]
            step = lambda i: "never" if i is None else str((i + 1) * 20)  # checkpoint index -> gradient step
            print(f"BC ({name}) stays at the expert: after first reaching 0.99 (validation, 20 episodes, every 20 "
                  f"steps of 3 epochs at batch 256), {', '.join(f'{f:.0%}' for f in fracs)} of the later checkpoints "
                  f"stay >= 0.99 (seeds {args.seed}..{args.seed + 2}; issue 21's target >= 95%); first at 0.99 at "
                  f"gradient step {', '.join(step(first) for first, _, _ in runs)}, at 0.99 for good from step "
                  f"{', '.join(step(settled_from(perfs)) for _, _, perfs in runs)}")
            ok &= config is None or min(fracs) >= 0.95  # the defaults trade it for few demonstrations
        secs, epochs, perf = time_to(0.99, ds, "cartpole", args.seed)
        print(f"BC time to 0.99 normalized (validation) on CartPole: {secs:.2f} s of training "
              f"({epochs} epoch(s), reached {perf:.3f}); target ≤ 10 s: {'yes' if secs <= 10 and perf >= 0.99 else 'NO'}")
        ok &= secs <= 10 and perf >= 0.99
    print("\nall targets met" if ok else "\nSOME TARGETS MISSED")
    return 0 if ok or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
