"""Writes notebook 09 (off-policy imitation: SQIL and IQ-Learn), outputs cleared.
Run: python tools/make_offpolicy_notebook.py"""
import nbformat as nbf

md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell


def skip(src):
    c = code(src)
    c.metadata["tags"] = ["nbval-skip"]
    return c


cells = [
md(r"""# 09 · Off-policy imitation: SQIL and IQ-Learn

**Learning objectives** — after this notebook you can
- say why off-policy imitation needs far fewer environment steps than GAIL;
- state SQIL's one-line idea and train it with `illab.methods.SQIL`;
- explain IQ-Learn's "learn a Q-function, the reward is implied" and train `illab.methods.IQLearn`;
- compute a soft value and an implied reward yourself.

**Why off-policy.** GAIL (notebook 06) trains its learner with PPO, an *on-policy* algorithm: every transition
is used for a few gradient steps and then thrown away, so it needs hundreds of thousands of environment steps.
Off-policy learners (DQN, SAC) keep every transition in a *replay buffer* and reuse it many times — and the
demonstrations can sit in that same buffer from the start."""),
code("""import os, tempfile
import numpy as np
import matplotlib.pyplot as plt
import torch

from illab import experts
from illab.controller import collect
from illab.data import BaselineDataset
from illab.evaluate import evaluate
from illab.methods import GAIL, GAILConfig, IQLearn, IQLearnConfig, SQIL, SQILConfig

QUICK = os.environ.get("ILLAB_QUICK") == "1"   # CI sets this to shrink the run
workdir = tempfile.mkdtemp(prefix="illab-offpolicy-")   # everything this notebook writes goes here
random_return, expert_return = experts.get("cartpole").reference_returns()
refs = dict(expert_return=expert_return, random_return=random_return)   # for normalized performance
print("data goes to", workdir, "| CartPole references: random", random_return, "expert", expert_return)"""),
md("""## 1 · Demonstrations

Four seeded CartPole episodes of the bundled PPO expert. The methods here need whole transitions
$(s, a, s', \\text{terminated})$ — illab's datasets always have them."""),
code("""path = collect("cartpole", 4, workdir, seed=0)
demos = BaselineDataset(path)
print(f"{len(demos)} expert transitions, average return {demos.average_return:.0f}")"""),
md(r"""## 2 · SQIL: the one-line idea

SQIL (Reddy, Dragan & Levine 2019, arXiv 1905.11108): **put the demonstrations in the replay buffer with reward 1,
the agent's own transitions with reward 0, and run ordinary off-policy RL on half-and-half minibatches.** The agent
is paid for doing what the expert did in the states the expert visited; leaving them earns nothing, so it learns
to return to them. No discriminator, no environment reward.

illab's `SQIL` is Stable-Baselines3's DQN (Discrete actions; SAC for Box actions) with one change: its replay
buffer. Every `eval_every` environment steps it evaluates on validation-stream episodes; `history["eval_normalized"]`
is the normalized return and `history["steps_to_expert"]` the first step at ≥ 0.9."""),
code("""STEPS = 3000 if QUICK else 6000
sqil = SQIL.from_dataset(demos, SQILConfig(total_timesteps=STEPS, eval_every=STEPS // 6, **refs), seed=0)
sqil.fit(demos, eval_episodes=5, progress=False)
print("SQIL steps to expert:", sqil.history["steps_to_expert"][-1])
print("normalized validation returns:", np.round(sqil.history["eval_normalized"], 2))"""),
md(r"""## 3 · IQ-Learn: learn a Q-function, the reward is implied

IQ-Learn (Garg et al., NeurIPS 2021, arXiv 2106.12142) never learns a reward network. For a *soft* Q-function the
policy is $\pi(a\mid s) \propto \exp(Q(s,a)/\alpha)$ with the soft value $V(s) = \alpha \log \sum_a \exp(Q(s,a)/\alpha)$,
and the reward that makes $Q$ optimal is fixed by the Bellman equation read backwards:

$$r(s, a) = Q(s, a) - \gamma\, V(s').$$

So IQ-Learn fits $Q$ directly: raise the implied reward on expert transitions, lower the value of the states the
agent visits, and keep the expert rewards bounded with a $\chi^2$ penalty ($c = 0.5$):

$$\min_Q\; -\mathbb E_{\text{expert}}\big[Q(s,a) - \gamma V(s')\big] + \mathbb E_{\text{mix}}\big[V(s) - \gamma V(s')\big]
+ \tfrac{1}{4c}\,\mathbb E_{\text{expert}}\big[(Q(s,a) - \gamma V(s'))^2\big].$$

For continuous actions (the SAC learner) illab takes the $\chi^2$ penalty over the mix, as the authors' MuJoCo
runs do: over the expert rows alone it did not learn Hopper (0.06 normalized against 1.07, `docs/methods.md`).
`IQLearnConfig(offline=True)` learns from the demonstrations alone, without playing at all."""),
code("""iq = IQLearn.from_dataset(demos, IQLearnConfig(total_timesteps=STEPS, eval_every=STEPS // 6, **refs), seed=0)
iq.fit(demos, eval_episodes=5, progress=False)
print("IQ-Learn steps to expert:", iq.history["steps_to_expert"][-1])
d = demos.to_demonstrations()
r_expert = iq.reward(d.obs, d.actions, d.next_obs, d.terminated).mean()
r_other = iq.reward(d.obs, 1 - d.actions, d.next_obs, d.terminated).mean()
print(f"implied reward of the expert's actions {r_expert:.2f}, of the other action {r_other:.2f}")"""),
md("""## 4 · Sample efficiency against GAIL

The same four demonstrations, GAIL with its PPO learner. We plot normalized validation performance against the
environment steps each method used (log scale)."""),
code("""GAIL_STEPS = 8192 if QUICK else 24_576
gail = GAIL.from_dataset(demos, GAILConfig(total_timesteps=GAIL_STEPS, eval_every=2), seed=0)
gail.fit(demos, eval_episodes=5, progress=False)


def normalized(returns):
    return (np.asarray(returns) - random_return) / (expert_return - random_return)


plt.figure(figsize=(6.5, 3.5))
for label, m in (("SQIL", sqil), ("IQ-Learn", iq), ("GAIL", gail)):
    plt.plot(m.history["eval_step"], normalized(m.history["eval_return"]), "o-", label=label)
plt.axhline(0.9, ls="--", c="k", lw=1, label="0.9 (expert level)")
plt.xscale("log"); plt.xlabel("environment steps"); plt.ylabel("normalized validation return")
plt.title("CartPole: off-policy imitation needs far fewer steps"); plt.legend(); plt.show()
best = {label: normalized(m.history["eval_return"]).max() for label, m in (("SQIL", sqil), ("IQ-Learn", iq))}
print({k: round(float(v), 2) for k, v in best.items()})
assert max(best.values()) > 0.5"""),
md("""The test stream gives the score we would report (model selection already used the validation stream)."""),
code("""for label, m in (("SQIL", sqil), ("IQ-Learn", iq)):
    res = evaluate(m, "CartPole-v1", n_episodes=5 if QUICK else 20, seed=0, stream="test")
    print(f"{label}: test normalized performance {res.performance(random_return, expert_return)[0]:.2f}")"""),
md("""A longer IQ-Learn run from the demonstrations alone (offline, no environment steps; about a minute). Off by
default; set `RUN_LONG = True` to try it (CI skips this cell)."""),
skip("""RUN_LONG = False
if RUN_LONG:
    off = IQLearn.from_dataset(demos, IQLearnConfig(offline=True, total_timesteps=10_000, eval_every=2000, **refs))
    off.fit(demos, eval_episodes=10)
    print("offline IQ-Learn normalized validation returns:", np.round(off.history["eval_normalized"], 2))"""),
md("""## 5 · Exercises: the soft value and the implied reward

1. `soft_value(q, alpha)`: for a batch of Q-values `q` of shape `(n, k)` return $V(s) = \\alpha \\log\\sum_a \\exp(Q(s,a)/\\alpha)$,
   shape `(n,)`. It must not overflow when Q-values are in the hundreds.
2. `implied_reward(q_sa, v_next, terminated, gamma)`: IQ-Learn's reward $Q(s,a) - \\gamma V(s')$, with no future
   value after a terminal state (`terminated` is a bool tensor).

Each checker tells you what is wrong. Until you replace `raise NotImplementedError`, it says *not attempted yet*
and uses the reference solution (`illab/course/solutions.py` — peek only after trying)."""),
code("""from illab.course.offpolicy import check_implied_reward, check_soft_value


def soft_value(q, alpha):
    # YOUR CODE HERE
    raise NotImplementedError


def implied_reward(q_sa, v_next, terminated, gamma):
    # YOUR CODE HERE
    raise NotImplementedError


soft_value = check_soft_value(soft_value)   # your function if it is right, else the reference (and it says so)
implied_reward = check_implied_reward(implied_reward)"""),
md("""## Summary

- Off-policy learners reuse every transition from a replay buffer, so imitation needs thousands of environment
  steps instead of hundreds of thousands.
- SQIL: demonstrations with reward 1, own play with reward 0, half-and-half batches — then plain DQN/SAC.
- IQ-Learn: learn the soft Q-function; the reward $Q(s,a) - \\gamma V(s')$ comes for free, and it also works offline.

**What next.** `docs/methods.md` lists the budgets and the benchmark numbers on the classic-control tasks."""),
]

nb = nbf.v4.new_notebook(cells=cells)
nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
nbf.write(nb, "notebooks/09_off_policy_imitation.ipynb")
print("wrote 09_off_policy_imitation")
