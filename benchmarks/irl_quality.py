"""Quality of the inverse-RL methods (issue 16): AIRL, AppL, GCL with their BENCHMARK_CONFIGS.

    nice -n 10 python benchmarks/irl_quality.py --env cartpole --methods airl gcl appl --seeds 0
    nice -n 10 python benchmarks/irl_quality.py --quick          # smoke run, numbers not meaningful

Protocol (as benchmarks/methods.py): 100 expert demonstrations collected with
``illab.controller.collect`` (bundled experts, ``"demonstrations"`` seed stream, base seed 0), read
with ``BaselineDataset``; each method trains with the per-environment config of its module's
``BENCHMARK_CONFIGS`` (``QUICK_CONFIG`` with ``--quick``), with model selection on 10
validation-stream episodes per evaluation; scores on 100 test-stream episodes whose start states
differ from every training start state, as normalized performance ``(X − random) / (expert − random)``
(IL-Datasets, arXiv 2403.00550) with the expert card's reference returns. One JSON line per run is
appended to ``--results`` (default ``benchmarks/irl_quality.jsonl``, which holds the runs quoted in
``docs/methods.md``); torch runs on one thread.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
from pathlib import Path

from illab import experts
from illab.evaluate import dataset_start_states, evaluate, select_test_seeds
from illab.fileio import torch_threads
from illab.methods import METHODS


def method_config(name: str, env_id: str, quick: bool, extra: dict | None = None):
    module = importlib.import_module(f"illab.methods.{name}")
    overrides = module.QUICK_CONFIG if quick else module.BENCHMARK_CONFIGS.get(env_id)
    if overrides is None:
        return None
    return METHODS[name].config_class(**{**overrides, **(extra or {})})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="cartpole", help="expert id (its card gives env id and kwargs)")
    p.add_argument("--methods", nargs="*", default=["airl", "gcl", "appl"])
    p.add_argument("--seeds", nargs="*", type=int, default=[0])
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--test-episodes", type=int, default=100)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--data", type=Path, default=None, help="dataset directory (default: a temp dir)")
    p.add_argument("--results", type=Path, default=Path("benchmarks/irl_quality.jsonl"))
    p.add_argument("--quick", action="store_true")
    p.add_argument("--override", type=json.loads, default=None,
                   help='JSON config overrides on top of BENCHMARK_CONFIGS, e.g. \'{"ent_coef": 0.01}\' (tuning)')
    args = p.parse_args(argv)
    if args.quick:
        args.episodes, args.test_episodes, args.eval_episodes = 10, 20, 3
    from illab.controller import collect
    from illab.data import BaselineDataset
    e = experts.get(args.env)
    out = args.data or Path(tempfile.mkdtemp(prefix="illab-irl-"))
    path = collect(args.env, args.episodes, out / args.env, seed=0, progress=False)
    ds = BaselineDataset(path, n_episodes=args.episodes)
    starts = dataset_start_states(ds.obs, ds.episode_starts)
    test_seeds, _ = select_test_seeds(e.env_id, args.test_episodes, starts, seed=0, env_kwargs=e.env_kwargs)
    random_mean, expert_mean = e.reference_returns()
    args.results.parent.mkdir(parents=True, exist_ok=True)
    for name in args.methods:
        cfg = method_config(name, e.env_id, args.quick, args.override)
        if cfg is None:
            print(f"{name}: no BENCHMARK_CONFIGS entry for {e.env_id}; skipped")
            continue
        for seed in args.seeds:
            t = time.perf_counter()
            with torch_threads(1):
                m = METHODS[name].from_dataset(ds, cfg, seed=seed).fit(
                    ds, env_id=e.env_id, env_kwargs=e.env_kwargs, eval_episodes=args.eval_episodes, progress=False)
            seconds = time.perf_counter() - t
            res = evaluate(m, e.env_id, seeds=test_seeds, env_kwargs=e.env_kwargs)
            perf, perf_std = res.performance(random_mean, expert_mean)
            row = {"env": args.env, "env_id": e.env_id, "env_kwargs": e.env_kwargs, "method": name, "seed": seed,
                   "aer": res.mean, "aer_std": res.std, "perf": perf, "perf_std": perf_std,
                   "train_seconds": seconds, "selected_step": m.history.get("selected_step"),
                   "eval_return": m.history.get("eval_return"), "quick": args.quick,
                   "config": json.loads(json.dumps(cfg.__dict__, default=list))}
            with open(args.results, "a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"{e.env_id:<16} {name:<5} seed {seed}: AER {res.mean:9.2f} ± {res.std:7.2f}  normalized "
                  f"{perf:6.3f} ± {perf_std:5.3f}  ({seconds:.0f}s, selected step {row['selected_step']})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
