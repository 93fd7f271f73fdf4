"""Check the registered Hugging Face Hub experts: load each (safe loader), play seeded test episodes
through ``illab.evaluate`` and collect a few through the Controller, and compare with its threshold.

    HF_HUB_OFFLINE=1 python benchmarks/hub_experts.py                 # every hub expert in the cache
    python benchmarks/hub_experts.py td3-Hopper-v3 ppo-Hopper-v3 --episodes 10

An expert whose files are not reachable (offline and not cached) is reported as ``unavailable``
with the reason; one the safe loader refuses as ``refused``. Exit status 1 if any loaded expert
scores below its threshold or is refused.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from illab import experts, hub
from illab.controller import collect
from illab.evaluate import evaluate
from illab.experts.safe_sb3 import RefusedFileError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ids", nargs="*", help="hub expert ids (default: every registered hub-only expert)")
    parser.add_argument("--episodes", type=int, default=10, help="test-stream episodes through evaluate")
    parser.add_argument("--collect", type=int, default=2, help="episodes through the Controller (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    ids = args.ids or [i for i in experts.list() if experts.get(i).hub_only]
    print(f"| id | env | algo | return (mean ± std, {args.episodes} test episodes) | Controller | threshold | verdict |")
    print("|---|---|---|---:|---|---:|---|")
    bad = 0
    for eid in ids:
        e = experts.get(eid)
        env = f"{e.env_id}{' ' + str(e.env_kwargs) if e.env_kwargs else ''}"
        t0 = time.perf_counter()
        try:
            policy = experts.load(eid, source="hub")
        except hub.HubUnavailableError as err:
            print(f"| {eid} | {env} | {e.algo} | unavailable: {str(err).splitlines()[0][:120]} | | {e.threshold:g} | — |")
            continue
        except (RefusedFileError, ValueError) as err:
            bad += 1
            print(f"| {eid} | {env} | {e.algo} | refused: {err} | | {e.threshold:g} | FAIL |")
            continue
        res = evaluate(policy, e.env_id, args.episodes, seed=args.seed, env_kwargs=e.env_kwargs)
        ctrl = "—"
        if args.collect:
            from illab import datafile
            with tempfile.TemporaryDirectory() as tmp:
                path = collect(eid, args.collect, tmp, seed=args.seed, threshold=-float("inf"))
                card = datafile.read_card(path)
                ctrl = f"{card['return_mean']:.1f} ({card['episodes']} ep.)"
        ok = res.mean >= e.threshold
        bad += not ok
        print(f"| {eid} | {env} | {e.algo} | {res.mean:.1f} ± {res.std:.1f} | {ctrl} | {e.threshold:g} | "
              f"{'PASS' if ok else 'below'} ({time.perf_counter() - t0:.0f} s) |", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
