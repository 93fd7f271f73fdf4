"""Quality of BCO, ABCO and IUPE on the benchmark protocol (issue 15).

    nice -n 10 python benchmarks/abco_quality.py --experts cartpole --methods abco iupe --seeds 0
    nice -n 10 python benchmarks/abco_quality.py --experts lunarlander-continuous --methods bco abco iupe

Protocol (the benchmark's): 100 demonstrations from the bundled expert (``illab.controller.collect``,
``"demonstrations"`` seed stream), opened as a ``BaselineDataset``; each method trains with the
configuration of its module's ``BENCHMARK_CONFIGS`` (BCO: its defaults, as in ``BENCHMARKS.md``);
model selection on the validation stream; 100 test-stream episodes whose start states differ from
every training start; normalized performance ``(X − random) / (expert − random)`` (IL-Datasets,
arXiv 2403.00550) with the expert card's reference returns. Prints one line per run and a summary.
Datasets are cached in ``--data`` (collected once per expert).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from illab import experts
from illab.evaluate import dataset_start_states, evaluate, select_test_seeds
from illab.fileio import torch_threads
from illab.methods import METHODS
from illab.methods.abco import BENCHMARK_CONFIGS as ABCO_CONFIGS
from illab.methods.iupe import BENCHMARK_CONFIGS as IUPE_CONFIGS


def load_demos(expert_id: str, episodes: int, folder: Path, seed: int):
    """The training split (collected once into ``folder``)."""
    from illab.controller import collect
    from illab.data import BaselineDataset
    path = folder / f"{expert_id}.npz"
    if not path.exists():
        path = collect(expert_id, episodes, folder, seed=seed, progress=False)
    return BaselineDataset(path, n_episodes=episodes)


def config_for(name: str, env_id: str, overrides: dict):
    table = {"abco": ABCO_CONFIGS, "iupe": IUPE_CONFIGS}.get(name, {})
    cfg = dict(table.get(env_id, {}))
    cfg.update(overrides)
    return METHODS[name].config_class(**cfg)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--experts", nargs="+", default=["cartpole"])
    p.add_argument("--methods", nargs="+", default=["abco", "iupe"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--test-episodes", type=int, default=100)
    p.add_argument("--data", type=Path, default=Path("/tmp/illab-abco-data"))
    p.add_argument("--config", type=json.loads, default={}, help='JSON overrides, e.g. \'{"post_iterations": 5}\'')
    args = p.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    summary = []
    with torch_threads(1):
        for expert_id in args.experts:
            e = experts.get(expert_id)
            ds = load_demos(expert_id, args.episodes, args.data, 0)
            starts = dataset_start_states(ds.obs, ds.episode_starts)
            seeds, _ = select_test_seeds(e.env_id, args.test_episodes, starts, seed=0, env_kwargs=e.env_kwargs)
            for name in args.methods:
                perfs = []
                for seed in args.seeds:
                    cfg = config_for(name, e.env_id, args.config)
                    t = time.perf_counter()
                    m = METHODS[name].from_dataset(ds, config=cfg, seed=seed)
                    m.fit(ds, env_id=e.env_id, env_kwargs=e.env_kwargs, progress=False)
                    secs = time.perf_counter() - t
                    res = evaluate(m, e.env_id, seeds=seeds, env_kwargs=e.env_kwargs)
                    perf, _ = res.performance(*e.reference_returns())
                    perfs.append(perf)
                    h = m.history
                    print(f"{e.env_id:<24} {expert_id:<24} {name:<5} seed {seed}  AER {res.mean:9.2f} ± {res.std:7.2f}"
                          f"  normalized {perf:6.3f}  ({secs:.0f}s, {m.interaction_steps} env steps)  "
                          f"ratio {np.round(h.get('ratio', []), 2).tolist()}  "
                          f"idm_on_policy {np.round(h.get('idm_accuracy_on_policy', []), 2).tolist()}  "
                          f"inferred {np.round(h.get('inferred_accuracy', []), 2).tolist()}  "
                          f"val {np.round(h.get('eval_return', []), 1).tolist()}", flush=True)
                summary.append((e.env_id, expert_id, name, float(np.mean(perfs)), float(np.std(perfs)), len(perfs)))
    print("\n| environment | expert | method | normalized (mean ± std over seeds) | seeds |")
    print("|---|---|---|---|---|")
    for env_id, expert_id, name, mean, std, n in summary:
        print(f"| {env_id} | `{expert_id}` | {name} | {mean:.3f} ± {std:.3f} | {n} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
