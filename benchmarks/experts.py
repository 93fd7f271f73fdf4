"""Verify every bundled expert: 100 seeded test-stream episodes through ``illab.experts.load(id)``.

    python benchmarks/experts.py [ids ...] [--episodes 100] [--seed 0]

Prints id, env, algorithm, training steps, mean ± std return, the shipped threshold and PASS/FAIL.
Exits non-zero if an expert misses its threshold.
"""

from __future__ import annotations

import argparse
import json
import sys

from illab import experts
from illab.evaluate import evaluate


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ids", nargs="*", help="expert ids (default: every bundled expert)")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"| id | env | algo | steps | return (mean ± std, {args.episodes} test episodes) | threshold | verdict |")
    print("|---|---|---|---:|---:|---:|---|")
    failed = 0
    for expert_id in args.ids or experts.list():
        e = experts.get(expert_id)
        if e.path is None:
            continue
        card = json.loads(e.path.with_suffix(".json").read_text())
        res = evaluate(experts.load(expert_id), e.env_id, args.episodes, seed=args.seed, env_kwargs=e.env_kwargs)
        ok = res.mean >= e.threshold
        failed += not ok
        print(f"| {expert_id} | {e.env_id}{' ' + str(e.env_kwargs) if e.env_kwargs else ''} | {e.algo} | "
              f"{card['timesteps']:,} | {res.mean:.1f} ± {res.std:.1f} | {e.threshold:g} | {'PASS' if ok else 'FAIL'} |",
              flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
