"""Writes notebook 08 (inverse reinforcement learning), outputs cleared. Run: python tools/make_irl_notebook.py"""
import nbformat as nbf

md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell


def skip(src):
    c = code(src)
    c.metadata["tags"] = ["nbval-skip"]
    return c


nb08 = [
md(r"""# 08 · Inverse reinforcement learning: recover a reward, then optimise it

**Learning objectives** — after this notebook you can
- say what inverse RL (IRL) recovers and why the problem is *ill-posed*;
- run apprenticeship learning (Abbeel & Ng 2004) and read its feature-matching margin;
- train AIRL (Fu, Luo & Levine 2018, arXiv 1710.11248) and compare its recovered reward with the true one;
- write the projection step and AIRL's discriminator logit yourself.

**The one idea.** Behavioural cloning copies *actions*. IRL explains them: it looks for a reward $r$ under which
the expert's behaviour is optimal, then trains a policy on $r$ with reinforcement learning. A reward is a compact,
transferable description of a task — it can be re-optimised when the dynamics change, and it can be *looked at*.

illab has three IRL methods, all on the same PPO inner loop (`illab.methods.adversarial`, shared with GAIL):

| method | learned reward | source |
|---|---|---|
| `AppL` | linear in state features, $w\cdot\phi(s)$ | Abbeel & Ng, ICML 2004 |
| `GCL` | a cost network $c_\theta(s,a)$, reward $-c_\theta$ | Finn, Levine & Abbeel 2016, arXiv 1603.00448 |
| `AIRL` | $g(s)$ (+ a shaping potential $h$) | Fu, Luo & Levine 2018, arXiv 1710.11248 |

Every one exposes `reward(obs, actions, next_obs) -> (n,)`."""),
code("""import os
import gymnasium as gym
import numpy as np
import matplotlib.pyplot as plt

from illab import experts
from illab.demonstrations import Demonstrations
from illab.evaluate import evaluate
from illab.rollout import run_episodes
from illab.seeds import episode_seeds
from illab.course import irl as course

QUICK = os.environ.get("ILLAB_QUICK") == "1"   # CI sets this to shrink the run


def demonstrations(expert_id, n_episodes):
    \"\"\"n seeded expert episodes (demonstrations stream) as Demonstrations.\"\"\"
    e = experts.get(expert_id)
    eps = run_episodes(experts.load(expert_id), e.env_id, episode_seeds(0, n_episodes), env_kwargs=e.env_kwargs)
    env = gym.make(e.env_id, **e.env_kwargs)
    return Demonstrations.from_episodes(eps, observation_space=env.observation_space, action_space=env.action_space,
                                        env_id=e.env_id, env_kwargs=e.env_kwargs)"""),
md(r"""## 1 · Why IRL is ill-posed

Many rewards make the same behaviour optimal (Ng & Russell 2000). Three families never change which policy is
optimal:

- **zero** — $r \equiv 0$ makes *every* policy optimal (so "optimal under $r$" must be made strict);
- **scale** — $c\,r$ with $c > 0$;
- **shaping** — $r(s,a,s') + \gamma\Phi(s') - \Phi(s)$ for any potential $\Phi$ (Ng, Harada & Russell 1999).

So the best IRL can hope for is the reward *up to* these transformations. Below: a 6-state chain (move left or
right; reward 1 at the right end). Value iteration under the true, scaled and shaped rewards picks the same
actions — while the rewards themselves look nothing alike."""),
code("""P, R = course.chain_mdp(6)
rng = np.random.default_rng(0)
phi = rng.normal(scale=3.0, size=6)                       # an arbitrary potential
candidates = {"true R": R, "5 R": 5 * R, "R shaped by Φ": course.shaped(R, phi)}
for name, r in candidates.items():
    Q = course.optimal_q(P, r)
    print(f"{name:>14}: greedy actions {Q[:-1].argmax(1)} (1 = right)   Q(s, right) - Q(s, left) = {np.round(Q[:-1, 1] - Q[:-1, 0], 2)}")
print("zero reward: Q gaps", np.round(np.ptp(course.optimal_q(P, 0 * R), axis=1), 3), "-> every action is optimal")"""),
md(r"""AIRL deals with shaping explicitly: its learned $f = g(s) + \gamma h(s') - h(s)$ *is* a shaped reward, and
its state-only part $g$ is the candidate for the disentangled reward (up to a constant, under the paper's
conditions). Apprenticeship learning sidesteps the ambiguity: it only asks for a policy whose *feature
expectations* match the expert's — then it is as good as the expert for **every** reward $w\cdot\phi$."""),
md(r"""## 2 · Apprenticeship learning: match the expert's feature expectations

With $r(s) = w\cdot\phi(s)$, a policy's value is $w\cdot\mu(\pi)$ where
$\mu(\pi) = \mathbb E[\sum_t \gamma^t \phi(s_t)]$. The **projection algorithm** keeps a point $\bar\mu$ (a mixture
of the policies found so far), sets $w = \mu_E - \bar\mu$, runs RL on $w\cdot\phi$ (here: PPO for a few rollouts),
measures the new policy's $\mu$ and projects $\mu_E$ onto the line through $\bar\mu$ and $\mu$. The *margin*
$t = \lVert \mu_E - \bar\mu \rVert$ shrinks. Features here: Gaussian RBFs around demonstration states
(`AppLConfig(features="rbf")`). AppL uses only the demonstrations' *states* — and because its reward is
state-only, `Box` actions work as well as `Discrete` ones."""),
code("""from illab.methods import AppL, AppLConfig

cart = demonstrations("cartpole", 4)
cfg = AppLConfig(total_timesteps=8_192 if QUICK else 16_384, rollouts_per_iteration=2, eval_every=2, feature_episodes=5)
appl = AppL.from_dataset(cart, cfg, seed=0).fit(cart, eval_episodes=3, progress=False)

fig, ax = plt.subplots(1, 2, figsize=(10, 3.2))
ax[0].plot(appl.history["margin"], "o-", label="margin t = ‖μ_E − μ̄‖")
ax[0].plot(appl.history["policy_distance"], "s--", label="‖μ_E − μ(π_i)‖")
ax[0].set(xlabel="iteration", ylabel="feature distance", title="feature matching"); ax[0].legend()
ax[1].plot(appl.history["eval_step"], appl.history["eval_return"], "o-")
ax[1].set(xlabel="PPO steps", ylabel="return", title="validation return of the iterates")
plt.tight_layout(); plt.show()
print("kept the iterate at step", appl.history["selected_step"], "with validation return", appl.history["selected_return"])
assert appl.history["margin"][-1] < appl.history["margin"][0]"""),
md(r"""## 3 · AIRL on Pendulum: look at the recovered reward

AIRL trains a discriminator with logit $f(s,a,s') - \log\pi(a\mid s)$ against the PPO learner. After training,
$g(s)$ is the recovered reward. Pendulum's true reward is $-(\theta^2 + 0.1\,\dot\theta^2 + 0.001\,u^2)$, highest
upright and still. We draw $g$ over the $(\theta, \dot\theta)$ plane beside it. (With the default, short budget the
*policy* is far from the expert's; the reward already takes shape. Rewards are only defined up to scale and
offset, so compare the shapes, and the rank correlation printed below.)"""),
code("""from illab.methods import AIRL, AIRLConfig

pend = demonstrations("pendulum", 10)
airl = AIRL.from_dataset(pend, AIRLConfig(total_timesteps=8_192 if QUICK else 24_576, n_steps=256), seed=0)
airl.fit(pend, eval_episodes=0, progress=False)

theta, thetadot, grid = course.pendulum_grid(41)
learned = airl.reward(grid).reshape(41, 41)
true = course.pendulum_true_reward(grid).reshape(41, 41)
fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
for a, z, title in ((ax[0], true, "true reward (u = 0)"), (ax[1], learned, "AIRL's g(s)")):
    im = a.pcolormesh(theta, thetadot, z, shading="auto"); fig.colorbar(im, ax=a)
    a.set(xlabel="θ (rad, 0 = upright)", ylabel="θ̇ (rad/s)", title=title)
ax[1].plot(np.arctan2(pend.obs[:, 1], pend.obs[:, 0]), pend.obs[:, 2], "w.", ms=1, alpha=0.3)
plt.tight_layout(); plt.show()

def ranks(x):
    return np.argsort(np.argsort(x.ravel()))
rho = np.corrcoef(ranks(learned), ranks(true))[0, 1]
print(f"rank correlation of g(s) with the true reward over the grid: {rho:.2f} (white dots: expert states)")"""),
md("""Longer training sharpens both the reward and the policy. Set `RUN_LONG = True` to try (CI skips this cell;
a few minutes)."""),
skip("""RUN_LONG = False
if RUN_LONG:
    long = AIRL.from_dataset(pend, AIRLConfig(total_timesteps=200_000, n_steps=256), seed=0).fit(pend, eval_episodes=10)
    print("normalized performance:", evaluate(long, "Pendulum-v1", 50, stream="test").performance(
        *experts.get("pendulum").reference_returns()))
    g = long.reward(grid).reshape(41, 41)
    plt.pcolormesh(theta, thetadot, g, shading="auto"); plt.colorbar(); plt.title("AIRL g(s), 200k steps"); plt.show()"""),
md(r"""## 4 · Exercises: the projection step and AIRL's logit

1. `projection_step(mu_bar, mu, mu_expert)`: Abbeel & Ng's update
   $\bar\mu_{new} = \bar\mu + \frac{(\mu-\bar\mu)\cdot(\mu_E-\bar\mu)}{\lVert\mu-\bar\mu\rVert^2}(\mu-\bar\mu)$.
2. `airl_logit(g_s, h_s, h_next, terminated, log_pi, gamma)`: $g(s) + \gamma h(s')(1-\text{terminated}) - h(s) - \log\pi(a\mid s)$.

Each checker tells you what is wrong. Until you replace `raise NotImplementedError`, it says *not attempted yet*
and uses the reference solution (`illab/course/solutions.py` — peek only after trying)."""),
code("""from illab.course.irl import check_airl_logit, check_projection_step


def projection_step(mu_bar, mu, mu_expert):
    # YOUR CODE HERE
    raise NotImplementedError


def airl_logit(g_s, h_s, h_next, terminated, log_pi, gamma):
    # YOUR CODE HERE
    raise NotImplementedError


projection_step = check_projection_step(projection_step)   # your function if it is right, else the reference (and it says so)
airl_logit = check_airl_logit(airl_logit)"""),
md("""## Summary

- IRL recovers a reward that explains the demonstrations — only up to zero, scale and shaping.
- Apprenticeship learning matches feature expectations; its guarantee holds for every linear reward at once.
- AIRL's discriminator is built so that its state-only part $g$ can be read as a reward; GCL learns a cost by
  importance-sampled maximum entropy IOC. All three alternate reward learning with PPO, like GAIL.

**Benchmarks.** `benchmarks/irl_quality.py` and `docs/methods.md` report AIRL, GCL and AppL against the expert."""),
]

nb = nbf.v4.new_notebook(cells=nb08)
nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
nbf.write(nb, "notebooks/08_inverse_rl.ipynb")
print("wrote 08_inverse_rl")
