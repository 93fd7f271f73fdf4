"""State-dict hashes of two tiny GAIL runs (CartPole-v1, and the Box PointReach task with reward="airl"),
with intermediate evaluations and model selection.

Used to check that moving GAIL's PPO loop into illab/methods/adversarial.py (shared with AIRL, GCL and
AppL) kept GAIL bit-identical: before the move (main at afd9e76) and after it this printed
    cartpole 0342235bb07492bc [166.0, 92.5] 0.4912816435098648
    point 12f3747d8217ad3d [-8.38084323401528, -8.203982333429682] 0.6011087857186794
Run: PYTHONPATH=. python benchmarks/gail_identity.py
"""
import hashlib, sys
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "tests"))
from test_methods import make_dataset, point_expert, POINT_ID
from illab import experts
from illab.methods import GAIL, GAILConfig

def h(m):
    out = hashlib.sha256()
    for net in (m.policy, m.disc):
        for k, v in sorted(net.state_dict().items()):
            out.update(k.encode()); out.update(v.detach().cpu().numpy().tobytes())
    return out.hexdigest()[:16]

ds = make_dataset(experts.load("cartpole"), "CartPole-v1", 4)
m = GAIL.from_dataset(ds, GAILConfig(total_timesteps=4096, n_steps=128, eval_every=2), seed=3).fit(ds, eval_episodes=2, progress=False)
print("cartpole", h(m), m.history["eval_return"], m.history["disc_loss"][-1])
pt = make_dataset(point_expert(), POINT_ID, 10)
m = GAIL.from_dataset(pt, GAILConfig(total_timesteps=2048, n_steps=128, eval_every=1, reward="airl"), seed=1).fit(pt, eval_episodes=2, progress=False)
print("point", h(m), m.history["eval_return"], m.history["disc_loss"][-1])
