"""IL methods (BC, BCO, DAgger, GAIL): they learn, they are seeded, they save and load.

Each method is trained once per task on a few expert episodes (module fixtures), then checked
against random play on validation-stream seeds. Budgets are tiny: "learns something" means a
clear margin over a uniformly random policy, not expert level (that is benchmarks/methods.py).
"""

from __future__ import annotations

import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

from illab import experts
from illab.demonstrations import Demonstrations
from illab.evaluate import evaluate
from illab.methods import BC, BCO, METHODS, BCConfig, BCOConfig, DAgger, DAggerConfig, GAIL, GAILConfig
from illab.methods.base import ILMethod
from illab.policy import FunctionPolicy, RandomPolicy
from illab.rollout import run_episodes
from illab.seeds import episode_seeds

# ------------------------------------------------------------------------------------------ fixtures
POINT_ID = "illab-test/PointReach-v0"


class PointReach(gym.Env):
    """A 1-D point that must reach and stay at 0: x' = x + 0.2 a, reward −|x'|, 20 steps (Box actions)."""

    metadata = {"render_modes": ["rgb_array"]}

    observation_space = gym.spaces.Box(-2.0, 2.0, shape=(1,), dtype=np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)

    def __init__(self, render_mode=None):
        self.render_mode = render_mode

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.t = float(self.np_random.uniform(-1.5, 1.5)), 0
        return np.array([self.x], dtype=np.float32), {}

    def step(self, action):
        self.x = float(np.clip(self.x + 0.2 * float(np.clip(action[0], -1, 1)), -2, 2))
        self.t += 1
        return np.array([self.x], dtype=np.float32), -abs(self.x), False, self.t >= 20, {}


if POINT_ID not in gym.registry:
    gym.register(POINT_ID, entry_point=PointReach)


def point_expert():
    return FunctionPolicy(lambda o: np.clip(-5.0 * o, -1, 1), PointReach.observation_space,
                          PointReach.action_space, batched=True)


def make_dataset(policy, env_id, n_episodes, env_kwargs=None):
    """Demonstrations of ``n_episodes`` seeded episodes of ``policy``."""
    eps = run_episodes(policy, env_id, episode_seeds(0, n_episodes), env_kwargs=env_kwargs, n_envs=8)
    env = gym.make(env_id, **(env_kwargs or {}))
    return Demonstrations.from_episodes(eps, observation_space=env.observation_space,
                                        action_space=env.action_space, env_id=env_id, env_kwargs=env_kwargs or {})


@pytest.fixture(scope="module")
def cartpole():
    return make_dataset(experts.load("cartpole"), "CartPole-v1", 4), experts.load("cartpole")


@pytest.fixture(scope="module")
def pendulum():
    return make_dataset(experts.load("pendulum"), "Pendulum-v1", 12), experts.load("pendulum")


@pytest.fixture(scope="module")
def point():
    return make_dataset(point_expert(), POINT_ID, 30), point_expert()


TINY = {
    "bc": BCConfig(epochs=80),
    "bco": BCOConfig(pre_demo_steps=2000, post_iterations=1, alpha=0.2, epochs=80, idm_epochs=30),
    "dagger": DAggerConfig(rounds=3, episodes_per_round=3, epochs=30),
    "gail": GAILConfig(total_timesteps=16384, n_steps=128, eval_every=0),
}


def fit(name, task, seed=0, config=None):
    ds, expert = task
    m = METHODS[name].from_dataset(ds, config=config or TINY[name], seed=seed)
    return m.fit(None if name == "dagger" else ds, env_id=ds.env_id, expert=expert, eval_episodes=0,
                 progress=False)


def margin_over_random(method, ds, n=8):
    """Normalized validation score: 0 = random play on the same seeds, 1 = the expert's mean return."""
    rand = evaluate(RandomPolicy(ds.action_space, seed=0), ds.env_id, n, stream="validation")
    got = evaluate(method, ds.env_id, n, stream="validation")
    return (got.mean - rand.mean) / (ds.episode_returns.mean() - rand.mean)


@pytest.fixture(scope="module")
def trained_cartpole(cartpole):
    return {name: fit(name, cartpole) for name in ("bc", "bco", "dagger", "gail")}


# ---------------------------------------------------------------------------------------- learning
@pytest.mark.parametrize("name", ["bc", "bco", "dagger", "gail"])
def test_learns_discrete_cartpole(trained_cartpole, cartpole, name):
    score = margin_over_random(trained_cartpole[name], cartpole[0])
    floor = 0.5 if name == "gail" else 0.6  # GAIL gets only ~16k RL steps here
    assert score > floor, f"{name} on CartPole: normalized validation score {score:.2f} <= {floor}"


@pytest.mark.parametrize("name", ["bc", "bco", "dagger"])
def test_learns_box_pendulum(pendulum, name):
    score = margin_over_random(fit(name, pendulum), pendulum[0], n=6)
    assert score > 0.5, f"{name} on Pendulum: normalized validation score {score:.2f} <= 0.5"


def test_gail_learns_box_point(point):
    score = margin_over_random(fit("gail", point), point[0])
    assert score > 0.5, f"GAIL on PointReach: normalized validation score {score:.2f} <= 0.5"


def test_bco_ignores_demo_actions_and_infers_them(cartpole):
    ds, _ = cartpole
    blind = ds.without_actions()
    m = BCO.from_dataset(blind, config=TINY["bco"]).fit(blind, eval_episodes=0, progress=False)
    assert "inferred_accuracy" not in m.history                      # no actions, no diagnostic
    assert np.mean(m.infer_actions(ds.obs, ds.next_obs) == ds.actions) > 0.9
    assert m.interaction_steps == 2000 + 400                          # |I_pre| + alpha * |I_pre|
    assert m.history["idm_accuracy"][-1] > 0.9


def test_dagger_aggregates_and_decays_beta(trained_cartpole):
    m = trained_cartpole["dagger"]
    assert m.history["beta"] == [1.0, 0.5, 0.25]
    sizes = m.history["transitions"]
    assert sizes == sorted(sizes) and len(m.aggregate["obs"]) == sizes[-1] == m.expert_queries


def test_gail_discriminator_separates_expert_from_random(trained_cartpole, cartpole):
    ds, _ = cartpole
    g = trained_cartpole["gail"]
    rand = RandomPolicy(ds.action_space, seed=1).predict(ds.obs)[0]
    assert g.discriminate(ds.obs, ds.actions).mean() > g.discriminate(ds.obs, rand).mean()
    assert len(g.history["disc_loss"]) == 16384 // (8 * 128)


def test_history_has_validation_returns(cartpole):
    ds, _ = cartpole
    m = BC.from_dataset(ds, BCConfig(epochs=4, eval_every=2)).fit(ds, eval_episodes=2, progress=False)
    assert m.history["eval_step"] == [2, 4] and len(m.history["loss"]) == 4
    assert all(r > 0 for r in m.history["eval_return"])


def test_model_selection_keeps_the_best_validation_weights(cartpole):
    ds, _ = cartpole
    cfg = BCConfig(epochs=6, eval_every=1, learning_rate=3e-3)
    m = BC.from_dataset(ds, cfg, seed=1).fit(ds, eval_episodes=3, progress=False)
    returns = m.history["eval_return"]
    assert len(returns) == 6 and len(set(returns)) > 1, returns  # the curve must vary for this test to bite
    best = max(returns)
    last_best = max(i for i, r in enumerate(returns) if r == best)
    assert m.history["selected_return"] == [best] and m.history["selected_step"] == [m.history["eval_step"][last_best]]
    again = evaluate(m, ds.env_id, n_episodes=3, seed=m.seed, stream="validation", n_envs=3)
    assert again.mean == best  # the kept weights are the selected ones, not the last epoch's
    unselected = BC.from_dataset(ds, BCConfig(epochs=6, learning_rate=3e-3), seed=1).fit(ds, eval_episodes=0,
                                                                                     progress=False)
    assert "selected_step" not in unselected.history  # no validation episodes: the final weights stay


# -------------------------------------------------------------------------------- seeds and files
@pytest.mark.parametrize("name", ["bc", "dagger"])
def test_same_seed_same_weights(cartpole, name):
    cfg = BCConfig(epochs=5) if name == "bc" else DAggerConfig(rounds=2, episodes_per_round=2, epochs=3)
    a, b, c = (fit(name, cartpole, seed=s, config=cfg) for s in (3, 3, 4))
    sa, sb, sc = a.net.state_dict(), b.net.state_dict(), c.net.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_gail_same_seed_same_weights_and_global_rng_untouched(cartpole):
    ds, _ = cartpole
    cfg = GAILConfig(total_timesteps=2048, n_steps=128, eval_every=0)
    before = torch.get_rng_state().clone(), np.random.get_state()[1].copy()
    a = GAIL.from_dataset(ds, cfg, seed=5).fit(ds, eval_episodes=0, progress=False)
    b = GAIL.from_dataset(ds, cfg, seed=5).fit(ds, eval_episodes=0, progress=False)
    assert torch.equal(before[0], torch.get_rng_state()) and np.array_equal(before[1], np.random.get_state()[1])
    for x, y in ((a.policy, b.policy), (a.disc, b.disc)):
        sx, sy = x.state_dict(), y.state_dict()
        assert all(torch.equal(sx[k], sy[k]) for k in sx)


@pytest.mark.parametrize("name", ["bc", "bco", "dagger", "gail"])
def test_save_load_round_trip(trained_cartpole, cartpole, tmp_path, name):
    m = trained_cartpole[name]
    path = m.save(tmp_path / f"{name}.pt")
    back = METHODS[name].load(path)
    assert type(back) is type(m) and back.config == m.config and back.history == m.history
    obs = cartpole[0].obs[::7]
    np.testing.assert_array_equal(back.predict(obs)[0], m.predict(obs)[0])
    assert type(ILMethod.load(path)) is type(m)  # generic loader dispatches on the stored name
    with pytest.raises(FileExistsError):
        m.save(path)  # never overwrite silently


def test_load_in_another_process_gives_identical_actions(trained_cartpole, cartpole, pendulum, tmp_path):
    ds, _ = pendulum
    box = BC.from_dataset(ds, BCConfig(epochs=2)).fit(ds, eval_episodes=0, progress=False)
    cases = {"bc": (trained_cartpole["bc"], cartpole[0].obs[:50]), "gail": (trained_cartpole["gail"], cartpole[0].obs[:50]),
             "bc_box": (box, ds.obs[:50])}
    for key, (m, obs) in cases.items():
        m.save(tmp_path / f"{key}.pt")
        np.save(tmp_path / f"{key}_obs.npy", obs)
    code = ("import json, sys, numpy as np; from illab.methods import load\n"
            "out = {}\n"
            "for k in sys.argv[2:]:\n"
            "    m = load(f'{sys.argv[1]}/{k}.pt')\n"
            "    out[k] = m.predict(np.load(f'{sys.argv[1]}/{k}_obs.npy'))[0].tolist()\n"
            "print(json.dumps(out))")
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path), *cases], capture_output=True, text=True,
                         check=True)
    other = json.loads(res.stdout.strip().splitlines()[-1])
    for key, (m, obs) in cases.items():
        mine = m.predict(obs)[0]
        np.testing.assert_array_equal(np.asarray(other[key], dtype=mine.dtype), mine)


# ------------------------------------------------------------------------------------ interfaces
def test_predict_shapes_single_and_batch(trained_cartpole, pendulum):
    m = trained_cartpole["bc"]
    a, state = m.predict(np.zeros(4, dtype=np.float32))
    assert a.shape == () and a.dtype == np.int64 and state is None
    assert m.predict(np.zeros((3, 4), dtype=np.float32))[0].shape == (3,)
    box = BC.from_dataset(pendulum[0])
    acts = box.predict(np.full((5, 3), 50.0, dtype=np.float32))[0]
    assert acts.shape == (5, 1) and acts.dtype == np.float32 and np.all(np.abs(acts) <= 2.0)
    with pytest.raises(ValueError, match="observation shape"):
        m.predict(np.zeros((3, 5)))


def test_cnn_encoder_learns_from_images():
    space = gym.spaces.Box(0, 255, shape=(36, 36, 3), dtype=np.uint8)
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 60, size=(256, 36, 36, 3), dtype=np.uint8)
    labels = rng.integers(0, 2, size=256)
    obs[labels == 1, :, :18] += 150  # class 1: bright left half
    ds = Demonstrations(obs=obs, actions=labels, observation_space=space, action_space=gym.spaces.Discrete(2))
    m = BC(space, gym.spaces.Discrete(2), BCConfig(epochs=8, batch_size=32, hidden_sizes=(32,)))
    assert m.net.encoder.image
    m.fit(ds, progress=False)
    assert m.history["loss"][-1] < m.history["loss"][0]
    assert np.mean(m.predict(obs)[0] == labels) > 0.9


def test_bc_learning_rate_follows_its_schedule(cartpole, monkeypatch):
    """With ``lr_schedule="cosine"`` BC's step size starts at ``learning_rate`` and decays on a half cosine
    to ~0 by the last gradient step of the fit (issue 21); the default, ``"constant"``, keeps it at 1e-3."""
    from illab.methods import networks
    ds, _ = cartpole
    seen = []
    step = networks.Adam.step
    monkeypatch.setattr(networks.Adam, "step", lambda self: (seen.append(self.lr), step(self))[1])
    cfg = BCConfig(epochs=3, batch_size=64, lr_schedule="cosine", learning_rate=1e-2)
    BC.from_dataset(ds, cfg).fit(ds, eval_episodes=0, progress=False)
    steps = 3 * -(-len(ds.obs) // 64)
    assert len(seen) == steps and seen[0] == cfg.learning_rate == 1e-2
    assert all(a > b for a, b in zip(seen, seen[1:])) and seen[-1] < 1e-3 * cfg.learning_rate
    assert seen[steps // 2] == pytest.approx(cfg.learning_rate / 2, rel=0.05)
    seen.clear()
    BC.from_dataset(ds, BCConfig(epochs=2, batch_size=64)).fit(ds, eval_episodes=0, progress=False)
    assert seen and set(seen) == {1e-3}
    with pytest.raises(ValueError, match="lr_schedule"):
        BCConfig(lr_schedule="linear")


def test_bc_policy_is_the_moving_average_of_the_trained_weights(cartpole):
    """BC's policy is θ̄_T = d^T θ_0 + Σ_t (1 − d) d^(T−t) θ_t over the weights θ_t that Adam reaches after
    each gradient step t (Polyak averaging, issue 21); with ``ema_decay=0`` it is θ_T itself, and the
    averaging does not change what Adam trains."""
    ds, _ = cartpole
    demos = Demonstrations(obs=ds.obs[:600], actions=ds.actions[:600], observation_space=ds.observation_space,
                           action_space=ds.action_space)
    trajectory = []

    class Recorded(BC):
        def _after_step(self, step):
            trajectory.append([p.detach().clone() for p in self.net.parameters()])

    plain = Recorded.from_dataset(demos, BCConfig(epochs=2, batch_size=100, ema_decay=0.0), seed=3)
    start = [p.detach().clone() for p in plain.net.parameters()]
    plain.fit(demos, eval_episodes=0, progress=False)
    assert len(trajectory) == 12
    d = 0.8
    averaged = BC.from_dataset(demos, BCConfig(epochs=2, batch_size=100, ema_decay=d), seed=3)
    averaged.fit(demos, eval_episodes=0, progress=False)
    T = len(trajectory)
    for i, p in enumerate(averaged.net.parameters()):
        expected = d ** T * start[i] + sum((1 - d) * d ** (T - t) * trajectory[t - 1][i] for t in range(1, T + 1))
        torch.testing.assert_close(p.detach(), expected, rtol=1e-5, atol=1e-6)
        assert not torch.allclose(p.detach(), trajectory[-1][i])  # the average, not the last weights
    assert BCConfig().ema_decay == 0.0  # off by default
    with pytest.raises(ValueError, match="ema_decay"):
        BCConfig(ema_decay=1.0)


def test_clear_errors(cartpole, tmp_path):
    ds, expert = cartpole
    with pytest.raises(ValueError, match="needs demonstrations"):
        BC.from_dataset(ds).fit()
    with pytest.raises(ValueError, match="expert="):
        DAgger.from_dataset(ds).fit(env_id="CartPole-v1")
    with pytest.raises(ValueError, match="env_id"):
        BCO(ds.observation_space, ds.action_space).fit(Demonstrations(obs=ds.obs, next_obs=ds.next_obs))
    with pytest.raises(ValueError, match="next_obs"):
        BCO.from_dataset(ds).fit(Demonstrations(obs=ds.obs), env_id="CartPole-v1")
    with pytest.raises(ValueError, match="observation-only"):
        BC.from_dataset(ds).fit(ds.without_actions())
    with pytest.raises(TypeError, match="Demonstrations"):
        BC.from_dataset({"obs": ds.obs})
    with pytest.raises(TypeError, match="no action_space"):
        BC.from_dataset(Demonstrations(obs=ds.obs))
    with pytest.raises(TypeError, match="BCConfig"):
        BC(ds.observation_space, ds.action_space, config=DAggerConfig())
    with pytest.raises(ValueError, match="epochs"):
        BCConfig(epochs=0)
    with pytest.raises(ValueError, match="beta_schedule"):
        DAggerConfig(beta_schedule="cosine")
    with pytest.raises(ValueError, match="range over"):
        BC.from_dataset(ds).fit(Demonstrations(obs=ds.obs[:3], actions=np.array([0, 1, 7]),
                                               action_space=ds.action_space), progress=False)
    with pytest.raises(TypeError, match="Box"):
        BC(gym.spaces.Discrete(3), ds.action_space)
    with pytest.raises(FileNotFoundError):
        BC.load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not an illab method"):
        BC.load(tmp_path / "junk.pt")
    path = BC.from_dataset(ds).save(tmp_path / "bc.pt")
    with pytest.raises(ValueError, match="BC, not a DAgger"):
        DAgger.load(path)


def test_fit_on_a_collected_baseline_dataset(tmp_path):
    """The real pipeline: Controller → dataset file → BaselineDataset → BC and BCO (read-only memmaps)."""
    collect = pytest.importorskip("illab.controller").collect
    BaselineDataset = pytest.importorskip("illab.data").BaselineDataset
    path = collect("cartpole", 3, tmp_path, seed=0)
    train = BaselineDataset(path, n_episodes=2)
    bc = BC.from_dataset(train, BCConfig(epochs=3)).fit(train, eval_episodes=1, progress=False)
    assert bc.history["eval_step"] == [3] and len(bc.history["loss"]) == 3
    bco = BCO.from_dataset(train, BCOConfig(pre_demo_steps=300, post_iterations=0, epochs=2, idm_epochs=2))
    bco.fit(train, eval_episodes=0, progress=False)       # env_id from the dataset's card
    assert bco.interaction_steps == 300 and bco.history["inferred_accuracy"]


# ------------------------------------------------------------------------------- training loop
def test_adam_matches_torch_optim_adam_bit_for_bit():
    from illab.methods.networks import Adam, mlp

    def train(make_opt):
        torch.manual_seed(0)
        net = mlp(4, (16, 16), 2)
        opt = make_opt(net.parameters())
        gen = torch.Generator().manual_seed(1)
        for _ in range(30):
            x, y = torch.randn(8, 4, generator=gen), torch.randint(0, 2, (8,), generator=gen)
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
        return list(net.parameters())

    for wd in (0.0, 0.01):
        ours = train(lambda p: Adam(p, lr=3e-3, weight_decay=wd))
        ref = train(lambda p: torch.optim.Adam(p, lr=3e-3, weight_decay=wd))
        assert all(torch.equal(a, b) for a, b in zip(ours, ref))
    with pytest.raises(ValueError, match="lr"):
        Adam(mlp(2, (), 1).parameters(), lr=-1.0)


def test_first_fit_does_not_import_torch_dynamo():
    """torch.optim.Optimizer imports torch._dynamo on first use (1–1.7 s): fit_supervised avoids it."""
    code = ("import sys, numpy as np, gymnasium as gym\n"
            "from illab.demonstrations import Demonstrations\n"
            "from illab.methods import BC, BCConfig\n"
            "obs = np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32)\n"
            "d = Demonstrations(obs=obs, actions=(obs[:, 0] > 0).astype(np.int64),\n"
            "                   action_space=gym.spaces.Discrete(2),\n"
            "                   observation_space=gym.spaces.Box(-np.inf, np.inf, (4,), np.float32))\n"
            "BC.from_dataset(d, BCConfig(epochs=2)).fit(d, eval_episodes=0, progress=False)\n"
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


def test_fit_supervised_calls_back_after_every_step_and_epoch():
    from illab.methods.networks import ActionCodec, PolicyNet, fit_supervised
    space, acts = gym.spaces.Box(-1, 1, (2,), np.float32), gym.spaces.Discrete(2)
    obs = np.random.default_rng(0).uniform(-1, 1, (50, 2)).astype(np.float32)
    net, steps, epochs = PolicyNet(space, acts, (8,)), [], []
    losses = fit_supervised(net, ActionCodec(acts), obs, (obs[:, 0] > 0).astype(np.int64), epochs=3, batch_size=16,
                            learning_rate=1e-2, weight_decay=0.0, generator=torch.Generator().manual_seed(0),
                            on_step=lambda s: (steps.append(s), net.eval()),
                            on_epoch=lambda e, l: epochs.append((e, l)))
    assert steps == list(range(1, 13))                   # 4 minibatches (16, 16, 16, 2) × 3 epochs
    assert [e for e, _ in epochs] == [0, 1, 2] and [l for _, l in epochs] == losses
    assert not net.training                               # fit_supervised leaves the net in eval mode
