"""GAIL quality variants (issue 18): which change closes GAIL's gap on the cheap tasks.

    nice -n 10 python benchmarks/gail_quality.py --env mountaincar --variant bc --seeds 0
    nice -n 10 python benchmarks/gail_quality.py --env pendulum --variant paper bc bc+abs --seeds 0 1 2
    nice -n 10 python benchmarks/gail_quality.py --quick          # smoke run, numbers not meaningful

A *variant* is a set of ``GAILConfig`` overrides of the defaults (:data:`VARIANTS`: ``paper`` = the
defaults, Ho & Ermon's GAIL; ``benchmark`` = the environment's ``illab.methods.gail.BENCHMARK_CONFIGS``
entry); ``--override`` adds JSON overrides on top (tuning). Protocol as ``benchmarks/irl_quality.py`` and the
benchmark table: 100 expert demonstrations collected with ``illab.controller.collect`` (bundled
experts, base seed 0), model selection on 10 validation-stream episodes per evaluation, 100
test-stream episodes whose start states differ from every demonstration's, normalized performance
``(X − random) / (expert − random)`` (IL-Datasets, arXiv 2403.00550) with the expert card's reference
returns. Each run appends one JSON line to ``--results`` (default ``benchmarks/gail_quality.jsonl``,
which holds the runs quoted in ``docs/methods.md``) with the validation returns along the way (step 0
= the warm-started policy before any adversarial step) and the step model selection kept; torch runs
on one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from illab import experts
from illab.evaluate import dataset_start_states, evaluate, select_test_seeds
from illab.fileio import torch_threads
from illab.methods import GAIL, GAILConfig

VARIANTS: dict[str, dict | None] = {
    "paper": {},  # GAILConfig() defaults: Ho & Ermon's GAIL, reward −log(1 − D), 100k PPO steps
    "norm": {"normalize_obs": True},
    "abs": {"normalize_obs": True, "absorbing": True},
    "bc": {"normalize_obs": True, "bc_epochs": 50},
    "bc+logit": {"normalize_obs": True, "bc_epochs": 50, "reward": "airl"},
    "bc+abs": {"normalize_obs": True, "bc_epochs": 50, "absorbing": True},
    "benchmark": None,  # the environment's illab.methods.gail.BENCHMARK_CONFIGS entry
}
"""Variant name → ``GAILConfig`` overrides of the defaults (``None``: the environment's
``BENCHMARK_CONFIGS`` entry, defaults where it has none)."""


def make_config(variant: str, env_id: str, override: dict | None, quick: bool) -> GAILConfig:
    """The ``GAILConfig`` of ``variant`` on ``env_id`` (see :data:`VARIANTS`), with ``override`` on top."""
    from illab.methods import gail
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known: {sorted(VARIANTS)}")
    base = dict(gail.BENCHMARK_CONFIGS.get(env_id, {}) if VARIANTS[variant] is None else VARIANTS[variant])
    if quick:
        base.update(gail.QUICK_CONFIG)
    return GAILConfig(**{**base, **(override or {})})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", nargs="*", default=["mountaincar"], help="expert ids (their cards give env id and kwargs)")
    p.add_argument("--variant", nargs="*", default=["bc"], help=f"of {sorted(VARIANTS)}")
    p.add_argument("--seeds", nargs="*", type=int, default=[0])
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--test-episodes", type=int, default=100)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--data", type=Path, default=None, help="dataset directory, reused across runs (default: a temp dir)")
    p.add_argument("--results", type=Path, default=Path("benchmarks/gail_quality.jsonl"))
    p.add_argument("--quick", action="store_true")
    p.add_argument("--override", type=json.loads, default=None,
                   help='JSON GAILConfig overrides on top of the variant, e.g. \'{"total_timesteps": 200000}\'')
    p.add_argument("--label", default=None, help="name of the run in the results (default: the variant)")
    args = p.parse_args(argv)
    if args.quick:
        args.episodes, args.test_episodes, args.eval_episodes = 10, 20, 3
    for v in args.variant:
        if v not in VARIANTS:
            p.error(f"unknown variant {v!r}; known: {sorted(VARIANTS)}")
    from illab.controller import collect
    from illab.data import BaselineDataset
    root = args.data or Path(tempfile.mkdtemp(prefix="illab-gail-"))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    for env_name in args.env:
        e = experts.get(env_name)
        out = root / f"{env_name}-n{args.episodes}-s0"
        path = collect(env_name, args.episodes, out, seed=0, progress=False)  # reused when it exists
        ds = BaselineDataset(path, n_episodes=args.episodes)
        starts = dataset_start_states(ds.obs, ds.episode_starts)
        test_seeds, _ = select_test_seeds(e.env_id, args.test_episodes, starts, seed=0, env_kwargs=e.env_kwargs)
        random_mean, expert_mean = e.reference_returns()
        for variant in args.variant:
            cfg = make_config(variant, e.env_id, args.override, args.quick)
            for seed in args.seeds:
                t = time.perf_counter()
                with torch_threads(1):
                    m = GAIL.from_dataset(ds, cfg, seed=seed).fit(
                        ds, env_id=e.env_id, env_kwargs=e.env_kwargs, eval_episodes=args.eval_episodes,
                        progress=False)
                seconds = time.perf_counter() - t
                res = evaluate(m, e.env_id, seeds=test_seeds, env_kwargs=e.env_kwargs)
                perf, perf_std = res.performance(random_mean, expert_mean)
                h = m.history
                row = {"env": env_name, "env_id": e.env_id, "variant": args.label or variant, "seed": seed,
                       "aer": res.mean, "aer_std": res.std, "perf": perf, "perf_std": perf_std,
                       "wall_seconds": seconds, "train_seconds": h["train_seconds"][-1],
                       "selected_step": h.get("selected_step", [None])[-1],
                       "eval_step": h.get("eval_step"), "eval_return": h.get("eval_return"),
                       "true_return_last": h["true_return"][-1], "quick": args.quick,
                       "load": os.getloadavg()[0],
                       "config": json.loads(json.dumps(cfg.__dict__, default=list))}
                with open(args.results, "a") as f:
                    f.write(json.dumps(row) + "\n")
                print(f"{e.env_id:<26} {row['variant']:<10} seed {seed}: AER {res.mean:9.2f} ± {res.std:7.2f}  "
                      f"normalized {perf:6.3f} ± {perf_std:5.3f}  ({seconds:.0f}s, selected step "
                      f"{row['selected_step']}, load {row['load']:.1f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
