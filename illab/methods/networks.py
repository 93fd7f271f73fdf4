"""Networks and the supervised training loop shared by the IL methods.

Networks (small on purpose, configurable through ``hidden_sizes``):

* vector observations → MLP (ReLU) on standardised observations (mean/std of the training data,
  stored with the weights so a saved method needs nothing else);
* image observations (rank-3 ``Box``, channel-last ``(H, W, C)`` or channel-first ``(C, H, W)``)
  → a small CNN encoder (Nature-DQN layout, Mnih et al. 2015) on pixels scaled to [0, 1], then the MLP.

Heads: ``Discrete`` → logits (cross-entropy loss); ``Box`` → actions scaled to [-1, 1] by the
space bounds (MSE loss), mapped back and clipped to the bounds.
"""

from __future__ import annotations

from typing import Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.optim.adam import adam as _adam

from illab.fileio import torch_threads
from illab.seeds import torch_seed

def mlp(in_dim: int, hidden_sizes: Sequence[int], out_dim: int) -> nn.Sequential:
    """``Linear → ReLU`` blocks of ``hidden_sizes`` then a linear output layer of ``out_dim``."""
    layers: list[nn.Module] = []
    for h in hidden_sizes:
        layers += [nn.Linear(in_dim, int(h)), nn.ReLU()]
        in_dim = int(h)
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """Observations ``(n, *obs_shape)`` float32 → features ``(n, out_dim)``.

    Vector observations are flattened and standardised with the buffers ``mean``/``std`` (set
    by :meth:`fit_normalization`); images go through a small CNN (8x8/4, 4x4/2, 3x3/1 convs with
    32, 64, 64 channels) on pixels divided by 255 when the space is ``uint8``.
    """

    def __init__(self, obs_shape: Sequence[int], pixel_scale: float = 1.0):
        super().__init__()
        self.obs_shape = tuple(int(s) for s in obs_shape)
        self.image = len(self.obs_shape) == 3
        if self.image:
            h, w, c = self.obs_shape
            self.channel_last = c <= 4 < h  # (H, W, C) as gymnasium renders; else (C, H, W)
            if not self.channel_last:
                c, h, w = self.obs_shape
            self.pixel_scale = float(pixel_scale)
            self.cnn = nn.Sequential(
                nn.Conv2d(c, 32, 8, stride=4), nn.ReLU(), nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
                nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(), nn.Flatten())
            with torch.no_grad():
                self.out_dim = int(self.cnn(torch.zeros(1, c, h, w)).shape[1])
        else:
            self.out_dim = int(np.prod(self.obs_shape)) if self.obs_shape else 1
        self.register_buffer("mean", torch.zeros(self.out_dim if not self.image else 1))
        self.register_buffer("std", torch.ones(self.out_dim if not self.image else 1))

    def fit_normalization(self, obs: np.ndarray) -> None:
        """Set the standardisation buffers from ``obs`` ``(T, *obs_shape)`` (vectors only)."""
        if self.image:
            return
        flat = np.asarray(obs, dtype=np.float64).reshape(len(obs), -1)
        self.mean.copy_(torch.as_tensor(flat.mean(0), dtype=torch.float32))
        self.std.copy_(torch.as_tensor(np.maximum(flat.std(0), 1e-6), dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.image:
            x = obs.float() / self.pixel_scale
            if self.channel_last:
                x = x.permute(0, 3, 1, 2)
            return self.cnn(x)
        return (obs.reshape(len(obs), -1) - self.mean) / self.std


class ActionCodec:
    """Maps actions to network targets and network outputs back to actions.

    ``Discrete(n, start)``: targets are class indices ``action - start`` (int64), outputs are
    ``n`` logits. ``Box``: targets are actions scaled to [-1, 1] by finite bounds (unchanged where
    a bound is infinite), outputs are the same scaled actions; :meth:`decode` clips to the bounds.
    """

    def __init__(self, space: gym.Space):
        self.space = space
        self.discrete = isinstance(space, gym.spaces.Discrete)
        if self.discrete:
            self.dim, self.start = int(space.n), int(space.start)
        else:
            self.shape = tuple(space.shape)
            self.dim = int(np.prod(self.shape))
            low = np.asarray(space.low, dtype=np.float64).reshape(-1)
            high = np.asarray(space.high, dtype=np.float64).reshape(-1)
            finite = np.isfinite(low) & np.isfinite(high)
            self.mid = np.where(finite, (low + high) / 2, 0.0).astype(np.float32)
            self.half = np.where(finite, (high - low) / 2, 1.0).astype(np.float32)
            self.low, self.high = low.astype(np.float32), high.astype(np.float32)

    def encode(self, actions: np.ndarray) -> torch.Tensor:
        """Actions ``(T,)`` / ``(T, *act_shape)`` → targets (int64 classes or float32 scaled)."""
        a = np.asarray(actions)
        if self.discrete:
            a = a.reshape(-1).astype(np.int64) - self.start
            if len(a) and (a.min() < 0 or a.max() >= self.dim):
                raise ValueError(f"actions outside the Discrete({self.dim}, start={self.start}) action space: "
                                 f"range [{a.min() + self.start}, {a.max() + self.start}]")
            return torch.as_tensor(a)
        a = a.reshape(len(a), -1).astype(np.float32)
        if a.shape[1] != self.dim:
            raise ValueError(f"actions have {a.shape[1]} components per step but the action space has {self.dim}")
        a = np.clip(a, self.low, self.high)
        return torch.as_tensor((a - self.mid) / self.half)

    def decode(self, out: torch.Tensor, deterministic: bool = True,
               generator: torch.Generator | None = None) -> np.ndarray:
        """Network outputs ``(n, dim)`` → actions ``(n,)`` int64 or ``(n, *act_shape)`` float32."""
        if self.discrete:
            if deterministic:
                idx = out.argmax(-1)
            else:
                idx = torch.multinomial(torch.softmax(out, -1), 1, generator=generator).squeeze(-1)
            return idx.cpu().numpy().astype(np.int64) + self.start
        a = out.cpu().numpy() * self.half + self.mid
        return np.clip(a, self.low, self.high).reshape((-1, *self.shape)).astype(np.float32)

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy (Discrete) or mean squared error on scaled actions (Box)."""
        if self.discrete:
            return nn.functional.cross_entropy(out, target)
        return nn.functional.mse_loss(out, target)

    def accuracy(self, out: torch.Tensor, target: torch.Tensor) -> float:
        """Fraction of exact class matches (Discrete) or of predictions within 0.1 of the scaled
        target in every component (Box)."""
        if self.discrete:
            return float((out.argmax(-1) == target).float().mean())
        return float(((out - target).abs() <= 0.1).all(-1).float().mean())


class PolicyNet(nn.Module):
    """Encoder + MLP head: observations ``(n, *obs_shape)`` → ``(n, dim)`` logits or scaled actions."""

    def __init__(self, observation_space: gym.spaces.Box, action_space: gym.Space, hidden_sizes: Sequence[int]):
        super().__init__()
        scale = 255.0 if observation_space.dtype == np.uint8 else 1.0
        self.encoder = Encoder(observation_space.shape, pixel_scale=scale)
        self.head = mlp(self.encoder.out_dim, hidden_sizes, ActionCodec(action_space).dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(obs))


def seeded_init(seed: int, purpose: str, build):
    """Call ``build()`` with torch's global RNG seeded from ``torch_seed(seed, purpose)`` inside
    ``torch.random.fork_rng`` (so the caller's RNG state is restored afterwards)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(torch_seed(seed, purpose))
        return build()


def as_tensor_obs(obs: np.ndarray) -> torch.Tensor:
    """Observations as a float32 tensor (images stay uint8 until the encoder)."""
    obs = np.asarray(obs)
    if obs.dtype != np.uint8:
        obs = np.asarray(obs, dtype=np.float32)
    if not obs.flags.writeable:  # memory-mapped datasets are read-only: copy once
        obs = obs.copy()
    return torch.as_tensor(obs)


class Adam:
    """Adam (Kingma & Ba 2015, arXiv 1412.6980) computed by torch's own functional kernel
    ``torch.optim.adam.adam``, exactly as ``torch.optim.Adam`` (default options) calls it, so the
    weights match ``torch.optim.Adam`` bit for bit — without ``torch.optim.Optimizer``, whose
    first construction and first ``step`` import ``torch._dynamo`` (1–1.7 s in a fresh process;
    ``docs/performance.md``, "Training").

    Args:
        params: the tensors to optimise (``nn.Module.parameters()``); those with ``grad`` ``None``
            at a step are skipped, as ``torch.optim.Adam`` does.
        lr: step size (mutable attribute: a schedule may change it between steps).
        weight_decay: L2 penalty added to the gradient (``torch.optim.Adam``'s ``weight_decay``).
        betas, eps: Adam's moment decay rates and denominator constant.

    Raises:
        ValueError: a negative ``lr``/``weight_decay``/``eps``, betas outside [0, 1), or no parameters.
    """

    def __init__(self, params, lr: float = 1e-3, weight_decay: float = 0.0,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("Adam got no parameters that require gradients")
        if not (lr >= 0 and weight_decay >= 0 and eps >= 0 and all(0 <= b < 1 for b in betas)):
            raise ValueError(f"Adam needs lr, weight_decay, eps >= 0 and betas in [0, 1): got lr={lr!r}, "
                             f"weight_decay={weight_decay!r}, eps={eps!r}, betas={betas!r}")
        self.lr, self.weight_decay, self.betas, self.eps = float(lr), float(weight_decay), betas, float(eps)
        self.state: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}  # step, m, v

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (``set_to_none=False``: zero it in place)."""
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        """One Adam update of every parameter that has a gradient."""
        params, grads, steps, m, v = [], [], [], [], []
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            if i not in self.state:  # lazily, as torch.optim.Adam._init_group
                step = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
                self.state[i] = (torch.tensor(0.0, dtype=step),
                                 torch.zeros_like(p, memory_format=torch.preserve_format),
                                 torch.zeros_like(p, memory_format=torch.preserve_format))
            s = self.state[i]
            params.append(p)
            grads.append(p.grad)
            steps.append(s[0])
            m.append(s[1])
            v.append(s[2])
        if params:
            _adam(params, grads, m, v, [], steps, amsgrad=False, beta1=self.betas[0], beta2=self.betas[1],
                  lr=self.lr, weight_decay=self.weight_decay, eps=self.eps, maximize=False)


def fit_supervised(net: nn.Module, codec: ActionCodec, obs: np.ndarray, actions: np.ndarray, *, epochs: int,
                   batch_size: int, learning_rate: float, weight_decay: float, generator: torch.Generator,
                   optimizer: "torch.optim.Optimizer | Adam | None" = None, on_epoch=None, on_step=None,
                   progress: bool = False, desc: str = "fit") -> list[float]:
    """Minibatch supervised training of ``net`` on ``(obs, actions)`` with ``codec.loss``.

    Plain tensor indexing with a seeded permutation per epoch (a ``DataLoader`` over single
    items is an order of magnitude slower); Adam (:class:`Adam`) unless ``optimizer`` is given.
    Returns the mean loss of every epoch. ``on_epoch`` (if given) is called as
    ``on_epoch(epoch, loss)`` after each epoch, ``on_step(step)`` after each gradient step (from 1;
    e.g. to evaluate checkpoints inside an epoch, as ``benchmarks/methods.py`` does). ``net`` is
    back in training mode after each callback.

    Raises:
        ValueError: no samples, or ``obs``/``actions`` disagree in length.
    """
    if len(obs) == 0:
        raise ValueError("no transitions to train on: the dataset is empty")
    if len(obs) != len(actions):
        raise ValueError(f"obs has {len(obs)} rows but actions has {len(actions)}")
    x = as_tensor_obs(obs)
    y = codec.encode(actions)
    opt = optimizer or Adam(net.parameters(), lr=learning_rate, weight_decay=weight_decay)
    n = len(x)
    bs = max(1, min(int(batch_size), n))
    losses: list[float] = []
    net.train()
    with torch_threads(1):
        _epochs(net, codec, x, y, opt, n, bs, epochs, generator, losses, on_epoch, on_step, progress, desc)
    net.eval()
    return losses


def _epochs(net, codec, x, y, opt, n, bs, epochs, generator, losses, on_epoch, on_step, progress, desc):
    from tqdm.auto import trange
    step = 0
    for epoch in trange(int(epochs), desc=desc, disable=not progress, leave=False):
        perm = torch.randperm(n, generator=generator)
        total, count = 0.0, 0
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss = codec.loss(net(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            total += float(loss.detach()) * len(idx)
            count += len(idx)
            if on_step is not None:
                on_step(step)
                net.train()
        losses.append(total / count)
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
