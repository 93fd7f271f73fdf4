"""Episode GIFs and return plots."""

import imageio.v2 as imageio
import matplotlib

matplotlib.use("Agg")

from illab import experts  # noqa: E402
from illab.viz import plot_returns, record_gif  # noqa: E402


def test_record_gif_plays_the_seeded_episode(tmp_path):
    path = record_gif(experts.load("cartpole"), "CartPole-v1", tmp_path / "sub" / "e.gif", seed=3, max_steps=40)
    frames = imageio.mimread(path)
    assert 1 < len(frames) <= 21 and frames[0].shape[2] in (3, 4)  # every 2nd of 41 frames (GIF merges repeats)
    assert record_gif.last_return == 40.0  # the expert keeps the pole up for all 40 steps


def test_plot_returns_labels_axes():
    ax = plot_returns({"expert": [500, 498], "random": [20, 25]}, title="CartPole")
    assert ax.get_ylabel().startswith("episode return") and [t.get_text() for t in ax.get_xticklabels()] == ["expert", "random"]
