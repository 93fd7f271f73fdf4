"""GAIL's additions for issue 18: the behavioural-cloning warm start of the PPO generator, fixed
observation standardisation of the policy, and DAC absorbing states (Kostrikov et al. 2019, arXiv
1809.02925). Tiny budgets (one or two PPO rollouts): these check the mechanics and determinism;
quality is benchmarks/gail_quality.py's job. GAIL's learning and save/load tests stay in
tests/test_methods.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from illab import experts
from illab.methods import GAIL, GAILConfig
from illab.methods.adversarial import ObsStandardizer
from illab.policy import RandomPolicy
from test_methods import POINT_ID, make_dataset, point_expert

ONE_ROLLOUT = dict(total_timesteps=1024, n_envs=8, n_steps=128, eval_every=0)


@pytest.fixture(scope="module")
def cartpole():
    return make_dataset(experts.load("cartpole"), "CartPole-v1", 4)


@pytest.fixture(scope="module")
def cartpole_random():
    """Random play on CartPole: every episode *terminates* (the pole falls) within ~10-40 steps."""
    import gymnasium as gym
    return make_dataset(RandomPolicy(gym.spaces.Discrete(2), seed=0), "CartPole-v1", 6)


@pytest.fixture(scope="module")
def point():
    return make_dataset(point_expert(), POINT_ID, 30)


def _states_equal(a, b) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------------------- config
@pytest.mark.parametrize("bad, match", [
    (dict(bc_epochs=-1), "bc_epochs"),
    (dict(bc_learning_rate=0.0), "bc_learning_rate"),
    (dict(absorbing=True, gamma=1.0), "gamma < 1"),
    (dict(absorbing="yes"), "absorbing"),
    (dict(normalize_obs=1), "normalize_obs"),
])
def test_config_rejects_bad_values(bad, match):
    with pytest.raises(ValueError, match=match):
        GAILConfig(**bad)


def test_absorbing_reward_needs_absorbing_config(cartpole):
    with pytest.raises(ValueError, match="absorbing=True"):
        GAIL.from_dataset(cartpole).absorbing_reward()


# ------------------------------------------------------------------------------------- warm start
def test_warm_start_clones_the_expert_and_leaves_the_critic(cartpole):
    m = GAIL.from_dataset(cartpole, GAILConfig(bc_epochs=40, normalize_obs=True, **ONE_ROLLOUT), seed=0)
    value_before = {k: v.clone() for k, v in m.policy.value_net.state_dict().items()}
    untrained = (m.predict(cartpole.obs)[0] == cartpole.actions).mean()
    m.policy.features_extractor.fit(cartpole.obs)  # as fit() does first
    m._warm_start(cartpole, progress=False)
    agree = (m.predict(cartpole.obs)[0] == cartpole.actions).mean()
    assert agree > 0.92 and agree > untrained + 0.2, f"warm start agrees with the expert on {agree:.2f} of states"
    assert len(m.history["bc_loss"]) == 40 and m.history["bc_loss"][-1] < m.history["bc_loss"][0]
    assert _states_equal(value_before, m.policy.value_net.state_dict())  # BC trains the actor only


def test_warm_start_box_keeps_log_std(point):
    m = GAIL.from_dataset(point, GAILConfig(bc_epochs=30, log_std_init=-2.0, **ONE_ROLLOUT), seed=0)
    assert torch.allclose(m.policy.log_std, torch.full((1,), -2.0))
    m._warm_start(point, progress=False)
    assert torch.allclose(m.policy.log_std, torch.full((1,), -2.0))
    err = np.abs(m.predict(point.obs)[0] - point.actions).mean()
    assert err < 0.1, f"warm-started mean action is {err:.3f} from the expert's on average"


def test_warm_start_is_evaluated_at_step_0_and_can_be_selected(cartpole):
    cfg = GAILConfig(bc_epochs=40, normalize_obs=True, **ONE_ROLLOUT)
    m = GAIL.from_dataset(cartpole, cfg, seed=0).fit(cartpole, eval_episodes=2, progress=False)
    assert m.history["eval_step"] == [0, 1024]
    assert m.history["selected_step"][-1] in (0, 1024)
    assert m.history["selected_return"][-1] == max(m.history["eval_return"])


def test_warm_start_needs_actions(cartpole):
    m = GAIL.from_dataset(cartpole, GAILConfig(bc_epochs=1, **ONE_ROLLOUT))
    with pytest.raises(ValueError, match="actions"):
        m._warm_start(cartpole.without_actions(), progress=False)


# ------------------------------------------------------------------------------ observation scaling
def test_normalize_obs_uses_demo_statistics_and_survives_save_load(cartpole, tmp_path):
    m = GAIL.from_dataset(cartpole, GAILConfig(normalize_obs=True, **ONE_ROLLOUT), seed=1)
    ext = m.policy.features_extractor
    assert isinstance(ext, ObsStandardizer)
    m.fit(cartpole, eval_episodes=0, progress=False)
    ext = m.policy.features_extractor  # the trained PPO policy's
    np.testing.assert_allclose(ext.mean.numpy(), cartpole.obs.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ext.std.numpy(), cartpole.obs.std(0), rtol=1e-4)
    z = ext(torch.as_tensor(cartpole.obs, dtype=torch.float32))
    np.testing.assert_allclose(z.mean(0).numpy(), 0.0, atol=1e-4)
    back = GAIL.load(m.save(tmp_path / "g.pt"))
    np.testing.assert_array_equal(back.predict(cartpole.obs)[0], m.predict(cartpole.obs)[0])


# ------------------------------------------------------------------------------- absorbing states
def test_absorbing_pairs_in_the_discriminator_data(cartpole_random):
    ds = cartpole_random
    n_term = int(np.asarray(ds.terminated).sum())
    assert n_term == 6  # every random episode ends by termination, none by the time limit
    m = GAIL.from_dataset(ds, GAILConfig(absorbing=True, **ONE_ROLLOUT), seed=0)
    o, a, f = m._with_absorbing(ds.obs, ds.actions, 3)
    n = len(ds.obs)
    assert o.shape == (n + 3, 4) and a.shape == (n + 3, 2) and f.shape == (n + 3,)
    assert f[:n].sum() == 0 and torch.all(f[n:] == 1) and torch.all(o[n:] == 0) and torch.all(a[n:] == 0)
    m.fit(ds, eval_episodes=0, progress=False)
    assert len(m._demo["obs"]) == n + n_term and m.history["expert_absorbing"] == [n_term]
    # the absorbing pair's logit ignores whatever observation/action values come with the flag
    x = torch.randn(5, 4)
    logits = m.disc(x, torch.eye(2)[[0, 1, 0, 1, 1]], torch.ones(5))
    assert torch.allclose(logits, logits[0].expand(5))
    # and differs from a non-absorbing pair's
    assert not torch.allclose(m.disc(x, torch.eye(2)[[0, 1, 0, 1, 1]]), logits)


def test_absorbing_terminal_reward(cartpole_random):
    ds = cartpole_random
    m = GAIL.from_dataset(ds, GAILConfig(absorbing=True, gamma=0.9, **ONE_ROLLOUT), seed=0)
    obs, act = ds.obs[:4], ds.actions[:4]
    term = np.array([False, True, False, True])
    r = m._rollout_reward(obs, act, ds.next_obs[:4], term)
    plain = m.reward(obs, act)
    r_abs = m.absorbing_reward()
    assert r.dtype == np.float32 and r_abs > 0  # softplus: the GAIL reward is positive
    np.testing.assert_allclose(r[~term], plain[~term])
    np.testing.assert_allclose(r[term], plain[term] + 9.0 * r_abs, rtol=1e-5)  # γ/(1−γ) = 9


def test_same_seed_same_weights_with_every_addition(cartpole_random):
    ds = cartpole_random
    cfg = GAILConfig(bc_epochs=3, normalize_obs=True, absorbing=True, total_timesteps=2048, n_envs=8,
                     n_steps=128, eval_every=0)
    a = GAIL.from_dataset(ds, cfg, seed=2).fit(ds, eval_episodes=0, progress=False)
    b = GAIL.from_dataset(ds, cfg, seed=2).fit(ds, eval_episodes=0, progress=False)
    c = GAIL.from_dataset(ds, cfg, seed=3).fit(ds, eval_episodes=0, progress=False)
    assert _states_equal(a.policy.state_dict(), b.policy.state_dict())
    assert _states_equal(a.disc.state_dict(), b.disc.state_dict())
    assert not _states_equal(a.policy.state_dict(), c.policy.state_dict())
    assert a.history["disc_loss"] == b.history["disc_loss"]


def test_benchmark_configs_are_valid_and_name_registered_environments():
    import gymnasium as gym
    from illab.methods import gail
    for env_id, overrides in {**gail.BENCHMARK_CONFIGS, "quick": gail.QUICK_CONFIG}.items():
        GAILConfig(**overrides)  # raises on an unknown field or a bad value
        assert env_id == "quick" or env_id in gym.registry, env_id
