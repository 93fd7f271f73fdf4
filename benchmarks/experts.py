"""Verify every bundled expert: 100 seeded test-stream episodes through ``illab.experts.load(id)``.

    python benchmarks/experts.py [ids ...] [--episodes 100] [--seed 0]
    python benchmarks/experts.py --candidates /work/ckpt/candidates [ids ...]

Prints id, env, algorithm, training steps, mean ± std return, the shipped threshold (and the target of a
lowered one) and PASS/FAIL.
Exits non-zero if an expert misses its threshold. ``--candidates DIR`` verifies experts that are
not bundled yet instead: ``DIR/<id>/<id>.json`` cards written by
``python -m illab.experts.train <id> --out 'DIR/{id}'`` (sha256-checked like bundled ones).
"""

from __future__ import annotations

import argparse
import json
import sys

from pathlib import Path

from illab import experts
from illab.evaluate import evaluate


def _candidates(folder: Path, ids: list[str]):
    """``(id, env_id, env_kwargs, algo, threshold, card, policy)`` of each candidate card in ``folder``."""
    cards = sorted(folder.glob("*/*.json")) if not ids else [folder / i / f"{i}.json" for i in ids]
    for card_path in cards:
        card = json.loads(card_path.read_text())
        norm = card.get("normalization_file")
        policy = experts.load_file(card_path.parent / card["file"], card["algo"], card["sha256"],
                                   card_path.parent / norm if norm else None)
        yield card["id"], card["env_id"], card.get("env_kwargs") or {}, card["algo"], card["threshold"], card, policy


def _bundled(ids: list[str]):
    for expert_id in ids or experts.list():
        e = experts.get(expert_id)
        if e.path is None:
            continue
        card = json.loads(e.path.with_suffix(".json").read_text())
        yield expert_id, e.env_id, e.env_kwargs, e.algo, e.threshold, card, experts.load(expert_id)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ids", nargs="*", help="expert ids (default: every bundled expert)")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--candidates", type=Path, default=None,
                        help="verify the not-yet-bundled experts in DIR/<id>/ instead of the bundled ones")
    args = parser.parse_args(argv)
    print(f"| id | env | algo | steps | return (mean ± std, {args.episodes} test episodes) | threshold | verdict |")
    print("|---|---|---|---:|---:|---:|---|")
    failed = 0
    rows = _candidates(args.candidates, args.ids) if args.candidates else _bundled(args.ids)
    for expert_id, env_id, env_kwargs, algo, threshold, card, policy in rows:
        res = evaluate(policy, env_id, args.episodes, seed=args.seed, env_kwargs=env_kwargs)
        ok = res.mean >= threshold
        failed += not ok
        target = card.get("target_threshold")  # a lowered threshold (the card's note says why) and its target
        shown = f"{threshold:g} (target {target:g})" if target else f"{threshold:g}"
        verdict = "PASS" if ok else "FAIL"
        if ok and target and res.mean < target:
            verdict = "PASS, **below target** (the card's note says why)"
        print(f"| {expert_id} | {env_id}{' ' + str(env_kwargs) if env_kwargs else ''} | {algo} | "
              f"{card['timesteps']:,} | {res.mean:.1f} ± {res.std:.1f} | {shown} | {verdict} |", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
