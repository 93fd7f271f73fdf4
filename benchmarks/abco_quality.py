"""Quality of BCO, ABCO and IUPE on the benchmark's own cells, with their training history (issue 15).

    nice -n 10 python benchmarks/abco_quality.py --experts acrobot --methods abco iupe --seeds 0
    nice -n 10 python benchmarks/abco_quality.py --experts acrobot --methods abco --config '{"epochs": 20}'

Each run is exactly one benchmark cell (:func:`illab.benchmark.cells.prepare_env` for the
demonstrations and the leakage-checked test seeds, the training seed of cell index ``k``, the
method module's ``BENCHMARK_CONFIGS`` updated by ``--config``, validation-stream model selection,
100 test episodes, normalized performance ``(X − random) / (expert − random)``, IL-Datasets,
arXiv 2403.00550), so a number printed here is the number ``python -m illab benchmark`` reports
for the same config. It also prints the per-round history (goal-aware ratio, IDM accuracy on the
agent's own new transitions, inferred-label accuracy on the demonstrations, validation returns)
and the AER under IL-Datasets' own random reference where the issue quotes one.
Datasets are reused from (or collected into) ``--data``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from illab.benchmark.cells import _make_config, method_config, prepare_env, train_seed
from illab.evaluate import evaluate, normalized_performance
from illab.fileio import torch_threads
from illab.methods import METHODS

IL_DATASETS_RANDOM = {"CartPole-v1": 9.8, "MountainCar-v0": -200.0, "Acrobot-v1": -498.65, "LunarLander-v3": -175.65}
"""IL-Datasets' random reference returns (``src/benchmark/registers.py``; LunarLander is their -v2)."""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--experts", nargs="+", default=["cartpole"])
    p.add_argument("--methods", nargs="+", default=["abco", "iupe"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="training seed indices k of the cells")
    p.add_argument("--data", type=Path, default=Path("data"))
    p.add_argument("--config", type=json.loads, default={}, help='JSON overrides, e.g. \'{"post_iterations": 5}\'')
    p.add_argument("--eval-episodes", type=int, default=None, help="validation episodes per evaluation")
    p.add_argument("--holdout", type=int, default=0,
                   help="also score the kept model on this many validation-stream episodes of base seed 1 (drawn "
                        "neither by model selection, whose base seed is the training seed, nor by the test): "
                        "compare configs here")
    args = p.parse_args(argv)
    summary = []
    with torch_threads(1):
        for expert_id in args.experts:
            setup = prepare_env(expert_id, 100, args.data)
            random_ret, expert_ret = setup.reference
            for name in args.methods:
                cls = METHODS[name]
                cfg = method_config(cls, setup.env_id, args.config, quick=False, expert_id=expert_id)
                perfs, holdouts = [], []
                for k in args.seeds:
                    t = time.perf_counter()
                    m = cls.from_dataset(setup.dataset, config=_make_config(cls, cfg),
                                         seed=train_seed(0, expert_id, name, k))
                    kw = {} if args.eval_episodes is None else {"eval_episodes": args.eval_episodes}
                    m.fit(setup.dataset, env_id=setup.env_id, env_kwargs=setup.env_kwargs, progress=False, **kw)
                    secs = time.perf_counter() - t
                    res = evaluate(m, setup.env_id, env_kwargs=setup.env_kwargs, stream="test", seeds=setup.test_seeds)
                    perf = float(normalized_performance(res.returns, random_ret, expert_ret).mean())
                    perfs.append(perf)
                    if args.holdout:
                        hold = evaluate(m, setup.env_id, env_kwargs=setup.env_kwargs, stream="validation",
                                        n_episodes=args.holdout, seed=1)
                        holdouts.append(float(normalized_performance(hold.returns, random_ret, expert_ret).mean()))
                    h = m.history
                    extra = ""
                    if setup.env_id in IL_DATASETS_RANDOM:
                        r = IL_DATASETS_RANDOM[setup.env_id]
                        extra = f" (vs IL-Datasets' random {r}: {(res.mean - r) / (expert_ret - r):.3f})"
                    ds = setup.dataset
                    if m.codec.discrete and getattr(ds, "actions", None) is not None:  # the IDM's shortcut
                        true = np.asarray(ds.actions).reshape(-1)
                        labels = m.infer_actions(ds.obs, ds.next_obs)
                        pol = m.predict(ds.obs)[0]
                        wrong = labels != true
                        extra_h = (f"\n    demonstrations: labels wrong {wrong.mean():.3f}, of those equal to the "
                                   f"policy's own action {np.mean(labels[wrong] == pol[wrong]) if wrong.any() else 0:.2f}; "
                                   f"policy != expert {np.mean(pol != true):.3f}")
                    else:
                        extra_h = ""
                    print(f"{expert_id:<24} {name:<5} k={k} cfg={cfg or {}}  AER {res.mean:8.2f} ± {res.std:6.2f}  "
                          f"normalized {perf:6.3f}{extra}  {secs:.0f}s {m.interaction_steps} env steps\n"
                          f"    ratio {np.round(h.get('ratio', []), 2).tolist()}\n"
                          f"    idm_on_policy {np.round(h.get('idm_accuracy_on_policy', []), 3).tolist()}\n"
                          f"    inferred {np.round(h.get('inferred_accuracy', []), 3).tolist()}\n"
                          f"    val {np.round(h.get('eval_return', []), 1).tolist()}  selected {h.get('selected_step')}"
                          f"{extra_h}",
                          flush=True)
                held = f"{np.mean(holdouts):.3f} ({', '.join(f'{h:.3f}' for h in holdouts)})" if holdouts else "—"
                summary.append((setup.env_id, expert_id, name, float(np.mean(perfs)), float(np.std(perfs)), len(perfs),
                                held))
    print("\n| environment | expert | method | normalized (mean ± std over seeds) | seeds | held-out validation |")
    print("|---|---|---|---|---|---|")
    for env_id, expert_id, name, mean, std, n, hold in summary:
        print(f"| {env_id} | `{expert_id}` | {name} | {mean:.3f} ± {std:.3f} | {n} | {hold} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
