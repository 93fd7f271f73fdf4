"""Notebook 05's section on ABCO and IUPE (issue 15), as a list of nbformat cells.

The lead appends :data:`CELLS` to ``nb05`` in ``tools/make_methods_notebooks.py`` (after section 4,
before the summary). The cells use what 05's setup and section 1 define: ``np``, ``plt``,
``QUICK``, ``experts``, ``collect``, ``BaselineDataset``, ``evaluate``, ``workdir``. Run alone with ``ILLAB_QUICK=1`` in ~40 s.

    python tools/nb05_abco_section.py --check    # executes 05's first cells + CELLS in a scratch notebook
"""

import nbformat as nbf

md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell

CELLS = [
md(r"""## 5 · Why BCO stalls, and what ABCO and IUPE change

The IDM is only as good as the states it was trained on. Random play covers the *start* of CartPole well, but the
expert keeps the pole up for 500 steps and drifts to states random play never reaches (in LunarLander: hovering and
landing; in Walker2d: walking). There the IDM guesses, the guessed labels teach the policy wrong actions, the policy
visits wrong states — and BCO(α) **appends all of them**, good or bad, to the IDM's data, where they are drowned by
the random $\mathcal I^{pre}$.

**ABCO** (Monteiro et al., IJCNN 2020, arXiv 2004.13529) lets the agent's success decide. After each round of own play
it measures the performance ratio
$$r = \frac1E\sum_{e=1}^{E} \operatorname{clip}\!\Big(\frac{G_e - G_{\text{random}}}{G_{\text{expert}} - G_{\text{random}}},\,0,\,1\Big)\in[0,1]$$
($G_e$: return of the agent's episode $e$) and rebuilds the IDM's data from a $(1-r)$ share of the old data and an $r$
share of the new transitions: a failing agent adds nothing, a good agent's near-expert transitions replace the random
ones — exactly the states whose actions the demonstrations need.

**IUPE** (Gavenski et al., BMVC 2020, arXiv 2008.05660) adds exploration: the agent *samples* its actions from the
policy's softmax while it plays, and the demonstrations' labels are *drawn* from the IDM's softmax instead of its
argmax (for `Box` actions illab draws from the Gaussian that mean-squared error fits; see `illab/methods/iupe.py`).

Below: MountainCar, where random play stays at the bottom of the valley while the expert swings up the hill.
BCO(α) and ABCO get the same random budget. We track the IDM's accuracy on the **agent's** own new states (measured
before it trains on them) and on the **expert's** states (true actions kept aside only for this plot)."""),
code("""from illab.methods import ABCO, ABCOConfig, BCO, BCOConfig

car = experts.get("mountaincar")
car_random, car_expert = car.reference_returns()
car_demos = BaselineDataset(collect("mountaincar", 5, workdir, seed=0), n_episodes=5)
budget = dict(pre_demo_steps=2000, epochs=20, idm_epochs=20)
rounds = 3 if QUICK else 5
bco_a = BCO.from_dataset(car_demos, BCOConfig(alpha=0.5, post_iterations=rounds, **budget), seed=1)
bco_a.fit(car_demos, eval_episodes=3, progress=False)  # demos' actions: only the inferred_accuracy diagnostic
abco = ABCO.from_dataset(car_demos, ABCOConfig(agent_steps=1000, post_iterations=rounds, **budget), seed=1)
abco.fit(car_demos, eval_episodes=3, progress=False)
print("ABCO ratio r per round:        ", np.round(abco.history["ratio"], 2))
print("ABCO IDM data size per round:  ", abco.history["idm_size"])
for name, m in (("BCO(α)", bco_a), ("ABCO", abco)):
    print(f"{name:6s} IDM accuracy on the expert's states per round: {np.round(m.history['inferred_accuracy'], 3)}"
          f" | validation return {np.round(m.history['eval_return'], 0)}")"""),
code("""def show_idm(ax=None):
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.2), sharey=True)
    for a, (name, m) in zip(ax, (("BCO(α)", bco_a), ("ABCO", abco))):
        h = m.history
        a.plot(range(len(h["inferred_accuracy"])), h["inferred_accuracy"], "o-", label="expert's states")
        a.plot(range(1, len(h["idm_accuracy_on_policy"]) + 1), h["idm_accuracy_on_policy"], "s--",
               label="agent's new states")
        if "ratio" in h:
            a.plot(range(1, len(h["ratio"]) + 1), h["ratio"], "^:", c="gray", label="ratio r")
        a.set(xlabel="round (0 = random play only)", title=name, ylim=(0, 1.05))
    ax[0].set_ylabel("IDM accuracy (fraction)"); ax[1].legend(loc="lower right")
    plt.tight_layout(); plt.show()

show_idm()
for name, m in (("BCO(α)", bco_a), ("ABCO", abco)):
    res = evaluate(m, car.env_id, 10 if QUICK else 30, seed=0, stream="test")
    print(f"{name:6s} normalized test performance {res.performance(car_random, car_expert)[0]:.3f} "
          f"({m.interaction_steps} environment steps)")
assert abco.history["inferred_accuracy"][-1] >= abco.history["inferred_accuracy"][0] - 0.05"""),
md(r"""**Reading the plot.** Round 0 is BCO(0): the IDM knows only random play, which never climbs the hill, and it is
wrong on a good share of the expert's states. One round of own play already covers them in both methods; ABCO
additionally weighs that play by $r$, so as the agent succeeds its own transitions replace the random ones instead
of being appended to them. Goal-aware sampling is no cure-all: on LunarLanderContinuous, whose engines ignore small
throttle values (many actions, one effect), ABCO stays at BCO's level (`docs/methods.md`).

## 6 · Exercise: the success-weighted sampling ratio

Write `success_ratio(returns, random_return, expert_return)`: `returns` is a float array `(E,)` of the agent's
episode returns; return ABCO's $r$ above as a Python float in $[0, 1]$ (normalize each episode, clip each to
$[0, 1]$, then average; 0 for no episodes). Then say how many transitions the next IDM data set keeps from the old
data and takes from the new (next cell)."""),
code("""from illab.course.observation import check_success_ratio
# the reference is illab.methods.abco.goal_aware_ratio — peek only after trying


def success_ratio(returns, random_return, expert_return):
    # YOUR CODE HERE
    raise NotImplementedError


check_success_ratio(success_ratio)"""),
md(r"""**Check yourself.** With $r$, ABCO keeps `int((1 - r) * len(old))` uniformly drawn old transitions and adds
`int(r * len(new))` new ones. The cell below recomputes ABCO's data sizes from its logged ratios — if your
`success_ratio` is right, both lines agree (uses the reference if yours is still a stub)."""),
code("""ratio_fn = check_success_ratio(success_ratio)   # yours if right, else the reference
sizes, n_new = [abco.history["idm_size"][0]], abco.config.agent_steps
for r in abco.history["ratio"]:
    sizes.append(sizes[-1] if r == 0 else int(sizes[-1] * (1 - r)) + int(n_new * r))
print("recomputed IDM sizes:", sizes)
print("ABCO's IDM sizes:    ", abco.history["idm_size"])
print("r of a perfect and a random episode:", ratio_fn(np.array([car_expert, car_random]), car_random, car_expert))
assert sizes == abco.history["idm_size"]"""),
]


def _check() -> int:
    """Execute 05's title/setup/data cells and CELLS in a scratch notebook with nbval (ILLAB_QUICK=1)."""
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    nb05 = nbf.read(root / "notebooks" / "05_learning_from_observation.ipynb", as_version=4)
    head = nb05.cells[:4]  # title, setup, "state-only demonstrations" md, the collect cell
    nb = nbf.v4.new_notebook(cells=head + CELLS)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    out = Path(tempfile.mkdtemp(prefix="illab-nb05-abco-")) / "scratch_05_abco.ipynb"
    nbf.write(nb, out)
    env = dict(os.environ, ILLAB_QUICK="1", PYTHONPATH=str(root))
    return subprocess.call([sys.executable, "-m", "pytest", str(out), "--nbval-lax", "--nbval-current-env", "-q",
                            "-p", "no:cacheprovider"], cwd=root / "notebooks", env=env)


if __name__ == "__main__":
    import sys
    if "--check" in sys.argv:
        raise SystemExit(_check())
    print(f"{len(CELLS)} cells; run with --check to execute them after notebook 05's setup")
