"""Quality and sample efficiency of SQIL and IQ-Learn (issue 17) on the classic-control tasks.

    nice -n 10 python benchmarks/offpolicy_quality.py --experts cartpole --methods sqil iqlearn --seeds 0 1 2
    nice -n 10 python benchmarks/offpolicy_quality.py --quick          # smoke run, numbers not meaningful

Protocol: ``--episodes`` demonstrations collected with the bundled expert
(:func:`illab.controller.collect`, ``"demonstrations"`` seed stream); each method trains with its
``BENCHMARK_CONFIGS[env_id]`` budget (``QUICK_CONFIG`` with ``--quick``) and the expert card's
reference returns (``reference_returns()``) for ``eval_normalized`` / ``steps_to_expert``
(validation stream, 10 episodes per evaluation); the kept weights are then scored on
``--test-episodes`` test-stream episodes as normalized performance
``(X − random) / (expert − random)`` (IL-Datasets, arXiv 2403.00550). One JSON line per run is
appended to ``--out`` (default ``results/offpolicy_quality.jsonl``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from illab import experts
from illab.controller import collect
from illab.data import BaselineDataset
from illab.evaluate import evaluate
from illab.fileio import torch_threads
from illab.methods import METHODS
from illab.methods import iqlearn, sqil

MODULES = {"sqil": sqil, "iqlearn": iqlearn}


def run(expert_id: str, method: str, seed: int, episodes: int, test_episodes: int, quick: bool, workdir: Path,
        overrides: dict) -> dict:
    card = experts.get(expert_id)
    random_return, expert_return = card.reference_returns()
    path = workdir / expert_id / f"{expert_id}.npz"
    if not path.exists():  # one dataset per expert, shared by every method and seed
        path = collect(expert_id, episodes, workdir / expert_id, seed=0, progress=False)
    ds = BaselineDataset(path, n_episodes=episodes)
    mod = MODULES[method]
    kw = dict(mod.QUICK_CONFIG if quick else mod.BENCHMARK_CONFIGS[card.env_id])
    kw.update(overrides)
    cls = METHODS[method]
    cfg = cls.config_class(expert_return=expert_return, random_return=random_return, **kw)
    t = time.perf_counter()
    with torch_threads(1):
        m = cls.from_dataset(ds, config=cfg, seed=seed).fit(ds, eval_episodes=10, progress=False)
        seconds = time.perf_counter() - t
        res = evaluate(m, card.env_id, test_episodes, seed=seed, stream="test", env_kwargs=card.env_kwargs)
    h = m.history
    return {"expert_id": expert_id, "env_id": card.env_id, "method": method, "seed": seed, "demonstrations": episodes,
            "config": kw, "test_return": res.mean, "test_normalized": res.performance(random_return, expert_return)[0],
            "steps_to_expert": h["steps_to_expert"][-1], "eval_step": h["eval_step"],
            "eval_normalized": [round(x, 3) for x in h.get("eval_normalized", [])],
            "selected_step": h["selected_step"][-1], "seconds": round(seconds, 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--experts", nargs="+", default=["cartpole", "acrobot", "mountaincar", "lunarlander", "pendulum"])
    p.add_argument("--methods", nargs="+", default=["sqil", "iqlearn"], choices=sorted(MODULES))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--episodes", type=int, default=10, help="demonstrated episodes")
    p.add_argument("--test-episodes", type=int, default=30)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--set", nargs="*", default=[], help="config overrides key=python-literal")
    p.add_argument("--out", default="results/offpolicy_quality.jsonl")
    args = p.parse_args(argv)
    import ast
    overrides = {k: ast.literal_eval(v) for k, v in (s.split("=", 1) for s in args.set)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="illab-offpolicy-") as tmp:
        for expert_id in args.experts:
            for method in args.methods:
                for seed in args.seeds:
                    row = run(expert_id, method, seed, args.episodes, args.test_episodes, args.quick, Path(tmp),
                              overrides)
                    print(json.dumps(row), flush=True)
                    with out.open("a") as f:
                        f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
