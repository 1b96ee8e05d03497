"""Reward surfaces: the expected return of policy parameters around a trained policy.

A reward surface (Sullivan et al., ICML 2022, "Cliff Diving"; after the loss landscapes of
Li et al., 2018) evaluates the return of the parameters ``theta + a * d1 + b * d2`` over a
grid of ``(a, b)``, where ``d1`` and ``d2`` are Gaussian directions *filter-normalised*:
each output row (filter) of each weight matrix is rescaled to the norm of the same row of
``theta``, so that a step of size 1 changes every layer by its own scale. Biases and other
1-D parameters get a zero direction. A gradient line evaluates the return along the
(filter-normalised) policy gradient instead; a *cliff* is a sudden large drop along it.

Why this module exists: the reference code evaluates one policy after another, an SB3
``evaluate_policy`` per grid point. Here every grid point of a chunk is evaluated at once:
the parameter sets of P points are stacked, ``torch.func.functional_call`` under
``torch.vmap`` computes the actions of all P policies in one call per step (for SB3's
``MlpPolicy``, batched matrix products over the stacked weights do the same for less), and
the P * episodes episodes run in ONE vector environment. Episode ``e`` of every point resets
with seed ``seed + e`` (common random numbers), so point-to-point differences come from
the parameters, not from the episodes drawn. :func:`evaluate_point_reference` is the
one-at-a-time loop, kept for the tests and the benchmark; both give the same returns.

What is evaluated is the policy's action function as SB3's ``predict`` computes it: the
arg-max of the logits (Discrete), the mean action clipped to the action box (PPO/A2C
Gaussian), the tanh-squashed mean rescaled to the box (SAC), the actor's output rescaled
to the box (TD3/DDPG). Rewards are rounded to float32 before they are summed, as SB3's
``DummyVecEnv`` stores them, so returns equal ``evaluate_policy``'s.
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv
from sklearn.decomposition import PCA
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.distributions import (
    CategoricalDistribution,
    DiagGaussianDistribution,
)
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.policies import ActorCriticPolicy, BaseModel, BasePolicy
from stable_baselines3.sac.policies import Actor as SACActor
from stable_baselines3.td3.policies import Actor as TD3Actor
from torch import nn
from torch.func import functional_call

import environments  # noqa: F401  (registers the workbench/ ids for gym.make)

Parameters = dict[str, torch.Tensor]
"""Named tensors, the names those of ``model.policy.named_parameters()``."""

VectorEnvFactory = Callable[[int], VectorEnv]
"""``factory(num_envs)`` -> a gymnasium vector env of ``num_envs`` copies."""

EnvSource = str | VectorEnvFactory
"""A registered gymnasium id, or a vector-env factory."""

PointCallback = Callable[[int, float, float], None]
"""``on_point(index, mean, stderr)``, called as each point's evaluation finishes."""

ActionKind = Literal["categorical", "gaussian", "squashed_gaussian", "tanh"]

# Sullivan et al.'s cliff rule (reward-surfaces, scripts/compute_cliff.py).
CLIFF_CHECK_INDEX = 9  # the 10th point of a line: "the first 10 points are one step"
CLIFF_RATIO = 0.5  # the return falls to at most half...
CLIFF_RANGE_FRACTION = 0.25  # ...and by more than a quarter of the surface's range


# ---- Parameters and directions ----------------------------------------------------------


def _policy_of(model: BaseAlgorithm | BasePolicy) -> BasePolicy:
    return model if isinstance(model, BasePolicy) else model.policy


def _action_kind(policy: BasePolicy) -> ActionKind:
    """Which deterministic action function ``policy`` has (SB3's ``predict``)."""
    if not isinstance(policy.observation_space, spaces.Box):
        raise NotImplementedError(
            f"reward surfaces support Box observations, got {policy.observation_space}"
        )
    if isinstance(policy, ActorCriticPolicy):
        if policy.use_sde:
            raise NotImplementedError("reward surfaces do not support gSDE policies (use_sde)")
        if isinstance(policy.action_dist, CategoricalDistribution):
            return "categorical"
        if isinstance(policy.action_dist, DiagGaussianDistribution):
            return "gaussian"
        raise NotImplementedError(
            f"reward surfaces support Discrete and Box actions, got {policy.action_space}"
        )
    actor = getattr(policy, "actor", None)
    if isinstance(actor, SACActor):
        if actor.use_sde:
            raise NotImplementedError("reward surfaces do not support gSDE policies (use_sde)")
        return "squashed_gaussian"
    if isinstance(actor, TD3Actor):
        return "tanh"
    raise NotImplementedError(
        f"reward surfaces support SB3 actor-critic (PPO, A2C), SAC and TD3/DDPG policies, "
        f"got {type(policy).__name__}"
    )


def policy_parameters(model: BaseAlgorithm | BasePolicy) -> Parameters:
    """The parameters the deterministic action depends on, to perturb.

    PPO/A2C (``ActorCriticPolicy``): the actor's features extractor (none for MlpPolicy),
    ``mlp_extractor.policy_net``, ``action_net`` and, for Box actions, ``log_std`` (1-D,
    so its directions are zero). SAC, TD3, DDPG: everything under ``actor.``.

    Args:
        model: an SB3 algorithm, or its policy.

    Returns:
        Detached copies, ordered as ``model.policy.named_parameters()``; the names are
        those of ``model.policy`` (e.g. ``"action_net.weight"``, ``"actor.mu.weight"``).
    """
    policy = _policy_of(model)
    kind = _action_kind(policy)
    if kind in ("categorical", "gaussian"):
        assert isinstance(policy, ActorCriticPolicy)
        # named_parameters names a shared extractor once, as "features_extractor".
        extractor = (
            "features_extractor." if policy.share_features_extractor else "pi_features_extractor."
        )
        prefixes: tuple[str, ...] = (
            extractor,
            "mlp_extractor.policy_net.",
            "action_net.",
            "log_std",
        )
    else:
        prefixes = ("actor.",)
    selected = OrderedDict(
        (name, value.detach().clone())
        for name, value in policy.named_parameters()
        if name.startswith(prefixes)
    )
    if not selected:
        raise ValueError(f"found no actor parameters in {type(policy).__name__}")
    return selected


def filter_normalize(direction: Mapping[str, torch.Tensor], params: Parameters) -> Parameters:
    """Rescale ``direction`` filter by filter to the norms of ``params`` (Li et al. 2018).

    For every parameter of two or more dimensions and every output row ``f`` (dim 0, the
    output unit of a ``torch.nn.Linear`` weight, the output channel of a convolution),
    ``||d_f|| = ||theta_f||``. Parameters of fewer dimensions (biases, ``log_std``) get a
    zero direction, Li et al.'s "ignore biases" choice; so does a row of ``direction`` that
    is all zeros.

    Args:
        direction: a tensor per name of ``params``, of the same shape.
        params: the parameters the surface is centred on.

    Returns:
        The normalised direction, one tensor per name, dtype and device of ``params``.
    """
    normalized: Parameters = OrderedDict()
    for name, value in params.items():
        if value.dim() < 2:
            normalized[name] = torch.zeros_like(value)
            continue
        rows = direction[name].to(device=value.device, dtype=torch.float64)
        rows = rows.reshape(value.shape[0], -1)
        target = value.detach().to(torch.float64).reshape(value.shape[0], -1).norm(dim=1)
        # Exact norms, not Li et al.'s "+ 1e-10": a row of a gradient can be tiny. A row
        # that is all zeros (a unit with no gradient) stays zero.
        norms = rows.norm(dim=1)
        scale = torch.where(norms > 0, target / norms.clamp(min=torch.finfo(norms.dtype).tiny), 0.0)
        normalized[name] = (rows * scale[:, None]).reshape(value.shape).to(value.dtype)
    return normalized


def filter_normalized_direction(params: Parameters, generator: torch.Generator) -> Parameters:
    """A Gaussian direction, filter-normalised to ``params`` (see :func:`filter_normalize`).

    Args:
        params: the parameters the surface is centred on.
        generator: a CPU ``torch.Generator``; it draws every parameter's Gaussian in the
            order of ``params`` (1-D ones included, so that their zeroing does not shift
            the draws of the next parameters).
    """
    gaussian = {
        name: torch.randn(value.shape, generator=generator, dtype=torch.float64)
        for name, value in params.items()
    }
    return filter_normalize(gaussian, params)


def random_directions(params: Parameters, seed: int, n: int = 2) -> list[Parameters]:
    """``n`` filter-normalised Gaussian directions; the same seed gives the same directions.

    Args:
        params: the parameters the surface is centred on (:func:`policy_parameters`).
        seed: seeds one ``torch.Generator`` that draws the ``n`` directions in turn.
        n: how many directions (2 for a surface).
    """
    generator = torch.Generator().manual_seed(seed)
    return [filter_normalized_direction(params, generator) for _ in range(n)]


def _perturbed_stack(
    params: Parameters, directions: Sequence[Mapping[str, torch.Tensor]], coefficients: np.ndarray
) -> Parameters:
    """``theta + sum_i c[p, i] d_i`` for every row p of ``coefficients`` (P, k): (P, ...) each.

    Element-wise only, in a fixed order, so row p equals what :func:`perturb` gives for
    point p alone, bit for bit: the batched and the one-at-a-time evaluations see the same
    parameters.
    """
    stacked: Parameters = OrderedDict()
    for name, value in params.items():
        c = torch.as_tensor(coefficients, dtype=value.dtype, device=value.device)
        offset = torch.zeros((len(c), *value.shape), dtype=value.dtype, device=value.device)
        for i, direction in enumerate(directions):
            d = direction[name].to(device=value.device, dtype=value.dtype)
            offset = offset + c[:, i].reshape(-1, *([1] * value.dim())) * d
        stacked[name] = value + offset
    return stacked


def perturb(
    params: Parameters,
    directions: Sequence[Mapping[str, torch.Tensor]],
    coefficients: Sequence[float],
) -> Parameters:
    """The parameters ``theta + sum_i coefficients[i] * directions[i]`` of one point.

    Args:
        params: the centre ``theta``.
        directions: one direction (a tensor per name of ``params``) per coefficient.
        coefficients: the point's coordinates along the directions.
    """
    coefficients = np.asarray(coefficients, dtype=np.float64).reshape(1, -1)
    _check_directions(params, directions, coefficients.shape[1])
    return OrderedDict(
        (name, value[0])
        for name, value in _perturbed_stack(params, directions, coefficients).items()
    )


def _check_directions(
    params: Parameters, directions: Sequence[Mapping[str, torch.Tensor]], k: int
) -> None:
    if len(directions) != k:
        raise ValueError(f"got {len(directions)} directions for {k} coordinates per point")
    for index, direction in enumerate(directions):
        for name, value in params.items():
            if name not in direction:
                raise ValueError(f"direction {index} has no tensor for parameter {name!r}")
            if tuple(direction[name].shape) != tuple(value.shape):
                raise ValueError(
                    f"direction {index}[{name!r}] has shape {tuple(direction[name].shape)}, "
                    f"the parameter {tuple(value.shape)}"
                )


# ---- Environments -----------------------------------------------------------------------


def make_vector_env(
    env: EnvSource,
    num_envs: int,
    max_steps: int | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> VectorEnv:
    """A vector env of ``num_envs`` copies of ``env``.

    The workbench's point environments have array-vectorized vector envs that equal N
    single envs step for step (``environments.point.PointVectorEnv``); they are used
    through their ``vector_entry_point``. Any other id gets a ``SyncVectorEnv`` of
    ``gym.make`` copies: some ids (CartPole) also have a vector entry point, but it seeds
    its copies from one generator and so does not replay the single env's episodes.

    Args:
        env: a registered id, or a factory ``factory(num_envs)`` (then ``max_steps`` and
            ``env_kwargs`` are not used here).
        num_envs: number of copies.
        max_steps: the episodes' time limit; ``None`` keeps the id's own.
        env_kwargs: keyword arguments of the environment's constructor.
    """
    if callable(env):
        return env(num_envs)
    kwargs = dict(env_kwargs or {})
    if max_steps is not None:
        kwargs["max_episode_steps"] = max_steps
    spec = gym.spec(env)
    if spec.namespace == "workbench" and spec.vector_entry_point is not None:
        return gym.make_vec(
            env, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs
        )
    return SyncVectorEnv([lambda: gym.make(env, **kwargs) for _ in range(num_envs)])


class _SeededResets(gym.Wrapper):
    """Resets with seeds ``first_seed``, ``first_seed + 1``, ... one per episode, whatever
    seed the caller passes: SB3's ``DummyVecEnv`` resets finished episodes unseeded."""

    def __init__(self, env: gym.Env, first_seed: int) -> None:
        super().__init__(env)
        self.next_seed = first_seed

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        seed, self.next_seed = self.next_seed, self.next_seed + 1
        return self.env.reset(seed=seed, options=options)


def _make_single_env(
    env: str | Callable[[], gym.Env], max_steps: int | None, env_kwargs: Mapping[str, Any] | None
) -> gym.Env:
    if callable(env):
        single = env()
        return single if max_steps is None else gym.wrappers.TimeLimit(single, max_steps)
    kwargs = dict(env_kwargs or {})
    if max_steps is not None:
        kwargs["max_episode_steps"] = max_steps
    return gym.make(env, **kwargs)


# ---- The batched action function --------------------------------------------------------


class _ActionHead(nn.Module):
    """One forward pass from observations to the policy's action-distribution parameters.

    A module of its own so that ``functional_call`` can swap the policy's parameters for a
    point's (its names are ``"policy." + name``) and ``vmap`` can batch over points.
    """

    def __init__(self, policy: BasePolicy, kind: ActionKind) -> None:
        super().__init__()
        self.policy = policy
        self.kind = kind

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        policy = self.policy
        if self.kind in ("categorical", "gaussian"):
            # What ActorCriticPolicy.get_distribution computes.
            features = BaseModel.extract_features(policy, obs, policy.pi_features_extractor)
            out = policy.action_net(policy.mlp_extractor.forward_actor(features))
            if self.kind == "gaussian":
                return out, policy.log_std.expand_as(out)
            return (out,)
        if self.kind == "squashed_gaussian":
            mean, log_std, _ = policy.actor.get_action_dist_params(obs)
            return mean, log_std
        return (policy.actor(obs),)


# Parameter-free modules acting on the last dimension alone: the same on (P, E, H) as on
# each point's (E, H).
_ELEMENTWISE = (nn.Tanh, nn.ReLU, nn.ELU, nn.LeakyReLU, nn.SiLU, nn.GELU, nn.Identity)

BatchedHead = Callable[[Parameters, torch.Tensor], tuple[torch.Tensor, ...]]
"""``head(stacked, obs)``: the action-distribution parameters of P points, ``obs`` (P, E, ...)."""


def _batched_mlp_head(policy: BasePolicy, kind: ActionKind) -> BatchedHead | None:
    """The action head of an SB3 ``MlpPolicy`` (PPO, A2C: a features extractor without
    parameters, a ``Sequential`` of ``Linear`` layers and element-wise activations, a
    ``Linear`` action net) as batched matrix products over the points' stacked parameters.

    The same values as the vmapped ``functional_call``, computed as each point's own
    ``Linear`` computes them (``baddbmm`` is the batched ``addmm``), without re-binding
    every parameter of the policy at each step: the vmapped call took 41% of a CartPole
    surface's time in a profile, these products 20%. None for any other policy, which then
    takes the vmapped call.
    """
    if kind not in ("categorical", "gaussian"):
        return None
    assert isinstance(policy, ActorCriticPolicy)
    extractor = policy.pi_features_extractor
    net = policy.mlp_extractor.policy_net
    if next(extractor.parameters(), None) is not None or not isinstance(net, nn.Sequential):
        return None
    if not isinstance(policy.action_net, nn.Linear):
        return None
    layers: list[str | nn.Module] = []  # a Linear's parameter prefix, or an activation
    for index, module in enumerate(net):
        if isinstance(module, nn.Linear):
            layers.append(f"policy.mlp_extractor.policy_net.{index}")
        elif isinstance(module, _ELEMENTWISE):
            layers.append(module)
        else:
            return None
    layers.append("policy.action_net")

    def head(stacked: Parameters, obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        points, episodes = obs.shape[:2]
        flat = obs.reshape(points * episodes, *obs.shape[2:])
        x = BaseModel.extract_features(policy, flat, extractor).reshape(points, episodes, -1)
        for layer in layers:
            if isinstance(layer, str):
                weight = stacked[f"{layer}.weight"].transpose(1, 2)
                bias = stacked.get(f"{layer}.bias")
                x = (
                    torch.bmm(x, weight)
                    if bias is None
                    else torch.baddbmm(bias[:, None], x, weight)
                )
            else:
                x = layer(x)
        if kind == "gaussian":
            return x, stacked["policy.log_std"][:, None, :].expand_as(x)
        return (x,)

    return head


def _env_actions(
    kind: ActionKind,
    outputs: tuple[torch.Tensor, ...],
    action_space: spaces.Space,
    noise: torch.Tensor | None,
) -> np.ndarray:
    """Actions for the env from the head's outputs (P, E, ...), as SB3's ``predict`` makes
    them; ``noise`` (E, ...) samples instead of taking the mode, shared by all P points."""
    if kind == "categorical":
        # Categorical(logits).mode: argmax of softmax of the normalised logits, as SB3.
        logits = outputs[0]
        probs = torch.softmax(logits - logits.logsumexp(-1, keepdim=True), dim=-1)
        if noise is None:
            actions = probs.argmax(-1)
        else:  # inverse CDF of one uniform per episode
            below = (probs.cumsum(-1) < noise[..., None]).sum(-1)
            actions = below.clamp(max=probs.shape[-1] - 1)
        return actions.cpu().numpy().reshape(-1)
    gaussian = outputs[0]
    if noise is not None and kind in ("gaussian", "squashed_gaussian"):
        gaussian = gaussian + outputs[1].exp() * noise
    if kind == "squashed_gaussian":
        gaussian = torch.tanh(gaussian)
    assert isinstance(action_space, spaces.Box)
    actions = gaussian.cpu().numpy().reshape((-1, *action_space.shape))
    low, high = action_space.low, action_space.high
    if kind == "gaussian":
        return np.clip(actions, low, high)
    return low + (0.5 * (actions + 1.0) * (high - low))  # SB3's unscale_action


def _draw_noise(
    kind: ActionKind,
    episodes: int,
    action_space: spaces.Space,
    generator: torch.Generator,
    device: torch.device,
) -> torch.Tensor:
    if kind == "categorical":
        return torch.rand(episodes, generator=generator).to(device)
    return torch.randn((episodes, *action_space.shape), generator=generator).to(device)


def _returns_of_chunk(
    batched_head: BatchedHead,
    stacked: Parameters,
    env: VectorEnv,
    kind: ActionKind,
    policy: BasePolicy,
    episodes: int,
    seed: int,
    deterministic: bool,
    max_steps: int | None,
    used_points: int | None = None,
) -> np.ndarray:
    """Run one episode per copy of ``env`` (points x episodes copies); returns (P, E).
    Only the first ``used_points`` points (all when None) need their returns: the copies of
    the others (the last chunk's spares) are not stepped where stepping costs per copy."""
    points = env.num_envs // episodes
    n = points * episodes
    obs_space = env.single_observation_space
    obs, _ = env.reset(seed=[seed + e for _ in range(points) for e in range(episodes)])
    obs = np.asarray(obs, dtype=obs_space.dtype)
    # A SyncVectorEnv steps its sub-envs one by one in Python: step only the copies whose
    # episode is still running (finished ones would only autoreset and be masked out).
    sub_envs = env.envs if isinstance(env, SyncVectorEnv) else None
    if sub_envs is None and env.metadata.get("autoreset_mode") == AutoresetMode.DISABLED:
        raise ValueError("the vector env must autoreset (NEXT_STEP or SAME_STEP), not DISABLED")
    generator = None if deterministic else torch.Generator().manual_seed(seed)

    returns = np.zeros(n)
    active = np.ones(n, dtype=bool)
    if sub_envs is not None and used_points is not None:
        active[used_points * episodes :] = False
    # Discrete actions go to the sub-envs as Python ints: gymnasium's Discrete.contains,
    # which every step of such an env asserts, checks a NumPy integer through
    # np.issubdtype, a sixth of CartPole's step (the env's arithmetic is the same).
    discrete = isinstance(env.single_action_space, spaces.Discrete)
    steps = 0
    while active.any():
        obs_tensor = torch.as_tensor(obs, device=policy.device)
        outputs = batched_head(stacked, obs_tensor.reshape(points, episodes, *obs.shape[1:]))
        noise = None
        if generator is not None:
            noise = _draw_noise(kind, episodes, policy.action_space, generator, policy.device)
        actions = _env_actions(kind, outputs, policy.action_space, noise)
        if sub_envs is None:
            obs, rewards, terminated, truncated, _ = env.step(actions)
            obs = np.asarray(obs, dtype=obs_space.dtype)
        else:
            rewards = np.zeros(n)
            terminated, truncated = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
            chosen = actions.tolist() if discrete else actions
            for i in np.flatnonzero(active):
                obs[i], rewards[i], terminated[i], truncated[i], _ = sub_envs[i].step(chosen[i])
        # Under NEXT_STEP autoreset a finished copy's next step is a reset (reward 0, a new
        # episode); under SAME_STEP its obs is already the next episode's: masked out.
        returns += np.where(active, np.asarray(rewards, dtype=np.float32), 0.0)
        steps += 1
        finished = np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)
        if max_steps is not None and steps >= max_steps:
            finished[:] = True
        active &= ~finished
    return returns.reshape(points, episodes)


def _mean_and_stderr(returns: np.ndarray) -> tuple[float, float]:
    """Mean return and its standard error (sample std, ddof 1, / sqrt(n); 0 for n = 1)."""
    returns = np.asarray(returns, dtype=np.float64)
    if len(returns) < 2:
        return float(returns.mean()), 0.0
    return float(returns.mean()), float(returns.std(ddof=1) / math.sqrt(len(returns)))


# ---- Results ----------------------------------------------------------------------------


@dataclasses.dataclass
class SurfaceResult:
    """Returns at points of parameter space, with what it takes to reproduce them.

    Attributes:
        coords: (P, k) coordinates of the points along the k directions.
        returns_mean: (P,) mean undiscounted return of each point.
        returns_stderr: (P,) standard error of that mean (sample std / sqrt(episodes)).
        episodes: episodes per point; episode ``e`` of every point is seeded ``seed + e``.
        seed: the first episode seed.
        direction_seed: the seed of :func:`random_directions`, when they made the
            directions; ``None`` otherwise (a gradient, PCA directions).
        grid_shape: the grid the points fill in order (``(grid, grid)`` for a surface,
            ``(points,)`` for a line); ``()`` for loose points.
        kind: ``"surface"``, ``"gradient_line"`` or ``"points"``.
    """

    coords: np.ndarray
    returns_mean: np.ndarray
    returns_stderr: np.ndarray
    episodes: int
    seed: int
    direction_seed: int | None = None
    grid_shape: tuple[int, ...] = ()
    kind: str = "points"

    @property
    def returns_range(self) -> float:
        """max - min of the mean returns (the surface range of the cliff rule)."""
        return float(self.returns_mean.max() - self.returns_mean.min())

    def grid(self) -> np.ndarray:
        """The mean returns in ``grid_shape``: ``[i, j]`` is at ``(axis[i], axis[j])``."""
        return self.returns_mean.reshape(self.grid_shape or (-1,))

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers and arrays (no objects), for ``np.savez`` or JSON after ``tolist``."""
        values: dict[str, Any] = {
            "coords": np.asarray(self.coords, dtype=np.float64),
            "returns_mean": np.asarray(self.returns_mean, dtype=np.float64),
            "returns_stderr": np.asarray(self.returns_stderr, dtype=np.float64),
            "episodes": int(self.episodes),
            "seed": int(self.seed),
            "grid_shape": np.asarray(self.grid_shape, dtype=np.int64),
            "kind": str(self.kind),
        }
        if self.direction_seed is not None:
            values["direction_seed"] = int(self.direction_seed)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> SurfaceResult:
        """Inverse of :meth:`to_dict` (also accepts the 0-d arrays ``np.load`` gives back)."""
        direction_seed = values.get("direction_seed")
        return cls(
            coords=np.asarray(values["coords"], dtype=np.float64),
            returns_mean=np.asarray(values["returns_mean"], dtype=np.float64),
            returns_stderr=np.asarray(values["returns_stderr"], dtype=np.float64),
            episodes=int(values["episodes"]),
            seed=int(values["seed"]),
            direction_seed=None if direction_seed is None else int(direction_seed),
            grid_shape=tuple(int(s) for s in np.asarray(values["grid_shape"]).reshape(-1)),
            kind=str(values["kind"]),
        )

    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` (no pickled objects) and return its path."""
        path = Path(path)
        with path.open("wb") as file:
            np.savez(file, **self.to_dict())
        return path

    @classmethod
    def load(cls, path: str | Path) -> SurfaceResult:
        """Read what :meth:`save` wrote."""
        with np.load(path, allow_pickle=False) as data:
            return cls.from_dict({key: data[key] for key in data.files})


# ---- Evaluation -------------------------------------------------------------------------


def evaluate_grid(
    model: BaseAlgorithm | BasePolicy,
    env_fn: EnvSource,
    directions: Sequence[Mapping[str, torch.Tensor]],
    coords: np.ndarray | Sequence[Sequence[float]],
    episodes: int,
    seed: int,
    deterministic: bool = True,
    max_steps: int | None = None,
    on_point: PointCallback | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    chunk_points: int = 64,
) -> SurfaceResult:
    """The return at every point ``theta + sum_i coords[p, i] * directions[i]``, batched.

    Points are evaluated ``chunk_points`` at a time: their parameter sets are stacked, one
    vector env of ``chunk_points * episodes`` copies runs all their episodes at once, and
    one ``vmap``-ed ``functional_call`` per step computes every copy's action from its
    point's parameters. The vector env is made once and reset for every chunk. With small
    networks, ``torch.set_num_threads(1)`` is usually fastest: more intra-op threads only
    contend, badly so on a busy machine.

    Args:
        model: an SB3 algorithm (PPO, A2C, SAC, TD3, DDPG) or its policy; not modified.
        env_fn: a registered gymnasium id, or ``factory(num_envs)`` returning a vector env
            (NEXT_STEP or SAME_STEP autoreset) whose copies reset with the seeds given.
        directions: k directions, each a tensor per name of :func:`policy_parameters`.
        coords: (P, k) coordinates of the points (a 1-D array is read as k = 1).
        episodes: episodes per point.
        seed: episode ``e`` of every point resets with seed ``seed + e``; with
            ``deterministic=False`` it also seeds the action noise, shared by all points.
        deterministic: the policy's mode (as ``predict(deterministic=True)``) or a sample.
        max_steps: cut episodes after this many steps (with an id, also the env's time
            limit); ``None``: the env's own limit, which it must have.
        on_point: ``on_point(index, mean, stderr)`` for each point as its chunk finishes.
        env_kwargs: constructor keywords of the environment, with an id.
        chunk_points: points per chunk (memory and streaming granularity).

    Returns:
        A :class:`SurfaceResult` with ``kind="points"``.
    """
    policy = _policy_of(model)
    kind = _action_kind(policy)
    params = policy_parameters(policy)
    coords = np.asarray(coords, dtype=np.float64)
    coords = coords[:, None] if coords.ndim == 1 else coords
    if coords.ndim != 2 or len(coords) == 0:
        raise ValueError(f"coords must be (points, directions), got shape {coords.shape}")
    _check_directions(params, directions, coords.shape[1])
    if episodes < 1 or chunk_points < 1:
        raise ValueError(
            f"episodes and chunk_points must be positive, got {episodes}, {chunk_points}"
        )

    head = _ActionHead(policy, kind)
    batched_head = _batched_mlp_head(policy, kind) or torch.vmap(
        lambda p, obs: functional_call(head, p, (obs,))
    )
    chunk = min(chunk_points, len(coords))
    means, stderrs = np.zeros(len(coords)), np.zeros(len(coords))
    was_training = policy.training
    policy.set_training_mode(False)  # as predict does (dropout, batch norm)
    env = make_vector_env(env_fn, chunk * episodes, max_steps, env_kwargs)
    try:
        with torch.no_grad():
            for start in range(0, len(coords), chunk):
                indices = np.arange(start, min(start + chunk, len(coords)))
                # The last chunk reuses the env: its spare copies replay its last point
                # (array-stepped envs; a SyncVectorEnv leaves them idle).
                rows = coords[np.minimum(np.arange(start, start + chunk), len(coords) - 1)]
                stacked = _perturbed_stack(params, directions, rows)
                stacked = {f"policy.{name}": value for name, value in stacked.items()}
                returns = _returns_of_chunk(
                    batched_head,
                    stacked,
                    env,
                    kind,
                    policy,
                    episodes,
                    seed,
                    deterministic,
                    max_steps,
                    used_points=len(indices),
                )
                for row, index in enumerate(indices):
                    means[index], stderrs[index] = _mean_and_stderr(returns[row])
                    if on_point is not None:
                        on_point(int(index), float(means[index]), float(stderrs[index]))
    finally:
        env.close()
        policy.set_training_mode(was_training)  # the model is left as it was given
    return SurfaceResult(coords, means, stderrs, episodes, seed)


def _policy_copy(policy: BasePolicy) -> BasePolicy:
    """A fresh policy with ``policy``'s weights, rebuilt as SB3's ``BasePolicy.load`` does.

    Not ``copy.deepcopy``: after training (or :func:`gradient_direction`) the policy's
    action distribution holds tensors of an autograd graph, which torch refuses to copy.
    """
    fresh = type(policy)(**policy._get_constructor_parameters()).to(policy.device)
    fresh.load_state_dict(policy.state_dict())
    return fresh


def evaluate_point_reference(
    model: BaseAlgorithm | BasePolicy,
    env: str | Callable[[], gym.Env],
    params: Mapping[str, torch.Tensor],
    episodes: int,
    seed: int,
    deterministic: bool = True,
    max_steps: int | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> tuple[float, float]:
    """One point the way the reference code evaluates it: one policy, one env, one episode
    after another, through SB3's ``evaluate_policy``.

    The parameters are loaded into a copy of the policy; episode ``e`` resets with seed
    ``seed + e``, as in :func:`evaluate_grid`.

    Args:
        model: an SB3 algorithm or its policy; not modified.
        env: a registered id or a constructor of one (single) env.
        params: the point's parameters, a tensor per name (e.g. from :func:`perturb`);
            parameters not named keep the model's values.
        episodes: episodes to run.
        seed: the first episode's seed.
        deterministic: ``predict(deterministic=...)``; sampled actions use torch's global
            generator, so they do not replay :func:`evaluate_grid`'s.
        max_steps: the episodes' time limit; ``None`` keeps the id's own.
        env_kwargs: constructor keywords, with an id.

    Returns:
        (mean return, standard error of the mean).
    """
    policy = _policy_copy(_policy_of(model))
    named = dict(policy.named_parameters())
    with torch.no_grad():
        for name, value in params.items():
            named[name].copy_(value)
    single = _SeededResets(_make_single_env(env, max_steps, env_kwargs), seed)
    try:
        returns, _ = evaluate_policy(
            policy,
            single,
            n_eval_episodes=episodes,
            deterministic=deterministic,
            return_episode_rewards=True,
            warn=False,  # Monitor would round returns to 6 decimals; we sum the rewards
        )
    finally:
        single.close()
    return _mean_and_stderr(np.asarray(returns, dtype=np.float64))


def grid_axis(grid: int, magnitude: float) -> np.ndarray:
    """``grid`` evenly spaced values from ``-magnitude`` to ``magnitude``; with an odd
    ``grid`` the middle one is exactly 0, so the centre point is the unperturbed policy."""
    if grid < 1:
        raise ValueError(f"grid must be positive, got {grid}")
    if grid == 1:
        return np.zeros(1)
    half = (grid - 1) / 2
    return magnitude * (np.arange(grid) - half) / half


def surface_2d(
    model: BaseAlgorithm | BasePolicy,
    env_fn: EnvSource,
    grid: int = 21,
    magnitude: float = 1.0,
    episodes: int = 8,
    seed: int = 0,
    direction_seed: int | None = None,
    deterministic: bool = True,
    max_steps: int | None = None,
    on_point: PointCallback | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    chunk_points: int = 64,
) -> SurfaceResult:
    """The reward surface over two random filter-normalised directions.

    Point ``i * grid + j`` is ``theta + axis[i] * d1 + axis[j] * d2`` with
    ``axis = grid_axis(grid, magnitude)``; ``result.grid()[i, j]`` is its mean return.
    Sullivan et al. use a 31 x 31 grid, magnitude 1.

    Args:
        model: an SB3 algorithm or its policy.
        env_fn: a registered id or a vector-env factory (see :func:`evaluate_grid`).
        grid: points per axis.
        magnitude: the grid spans ``[-magnitude, magnitude]`` along each direction.
        episodes: episodes per point.
        seed: the first episode seed.
        direction_seed: seeds :func:`random_directions`; ``None`` uses ``seed``.
        deterministic, max_steps, on_point, env_kwargs, chunk_points: as in
            :func:`evaluate_grid`.
    """
    direction_seed = seed if direction_seed is None else direction_seed
    directions = random_directions(policy_parameters(model), direction_seed, n=2)
    axis = grid_axis(grid, magnitude)
    a, b = np.meshgrid(axis, axis, indexing="ij")
    coords = np.stack([a.ravel(), b.ravel()], axis=1)
    result = evaluate_grid(
        model,
        env_fn,
        directions,
        coords,
        episodes,
        seed,
        deterministic=deterministic,
        max_steps=max_steps,
        on_point=on_point,
        env_kwargs=env_kwargs,
        chunk_points=chunk_points,
    )
    return dataclasses.replace(
        result, direction_seed=direction_seed, grid_shape=(grid, grid), kind="surface"
    )


# ---- The policy gradient ----------------------------------------------------------------


def _rollout(
    model: BaseAlgorithm,
    env: EnvSource,
    steps: int,
    seed: int,
    num_envs: int,
    max_steps: int | None,
    env_kwargs: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """``steps`` transitions (rounded up to whole vector steps) of the stochastic policy."""
    policy = model.policy
    venv = make_vector_env(env, num_envs, max_steps, env_kwargs)
    next_step_reset = venv.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    if next_step_reset == AutoresetMode.DISABLED:
        raise ValueError("the vector env must autoreset (NEXT_STEP or SAME_STEP), not DISABLED")
    next_step_reset = next_step_reset == AutoresetMode.NEXT_STEP
    records: dict[str, list[Any]] = {
        "obs": [],
        "actions": [],
        "rewards": [],
        "done": [],
        "valid": [],
    }
    try:
        obs, _ = venv.reset(seed=seed)
        previous_done = np.zeros(num_envs, dtype=bool)
        for _ in range(math.ceil(steps / num_envs)):
            obs_tensor, _ = policy.obs_to_tensor(obs)
            with torch.no_grad():
                if isinstance(policy, ActorCriticPolicy):
                    actions, _, _ = policy(obs_tensor)  # sampled, before clipping
                    env_actions = actions.cpu().numpy()
                    if isinstance(policy.action_space, spaces.Box):
                        low, high = policy.action_space.low, policy.action_space.high
                        env_actions = np.clip(env_actions, low, high)
                else:
                    env_actions, _ = policy.predict(obs, deterministic=False)
                    actions = torch.as_tensor(env_actions)
            next_obs, rewards, terminated, truncated, _ = venv.step(env_actions)
            done = np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)
            records["obs"].append(obs_tensor)
            records["actions"].append(actions)
            records["rewards"].append(np.asarray(rewards, dtype=np.float64))
            records["done"].append(done)
            # NEXT_STEP: the step after an episode's end only resets that copy.
            records["valid"].append(~previous_done if next_step_reset else np.ones_like(done))
            previous_done = done
            obs = next_obs
        records["last_obs"] = policy.obs_to_tensor(obs)[0]
    finally:
        venv.close()
    return records


def gradient_direction(
    model: BaseAlgorithm,
    env: EnvSource,
    steps: int = 2048,
    seed: int = 0,
    num_envs: int = 8,
    max_steps: int | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    normalization: Literal["filter", "global", "none"] = "filter",
) -> Parameters:
    """The ascent direction of the policy's objective, estimated on a fresh rollout.

    A rollout of ``steps`` transitions of the stochastic policy (torch seeded with
    ``seed`` inside, the caller's generator state kept; episode copies seeded ``seed + i``)
    gives the estimate:

    * PPO/A2C: the policy gradient ``mean_t grad log pi(a_t|s_t) * A_t`` with
      ``A_t = G_t - V(s_t)``: ``G_t`` the return-to-go discounted by ``model.gamma``, cut
      at episode ends (a time limit counts as an end) and bootstrapped by the critic at the
      end of the rollout. It is PPO's own clipped loss's gradient at ratio 1, without
      advantage normalisation or entropy term.
    * SAC: minus the gradient of SAC's actor loss ``alpha log pi(a~|s) - min Q(s, a~)``.
    * TD3/DDPG: the gradient of ``Q1(s, mu(s))``.

    Args:
        model: an SB3 PPO, A2C, SAC, TD3 or DDPG model.
        env: a registered id or a vector-env factory.
        steps: transitions to collect.
        seed: seeds the rollout.
        num_envs: copies stepped together during the rollout.
        max_steps: the episodes' time limit (with an id); ``None`` keeps the id's own.
        env_kwargs: constructor keywords, with an id.
        normalization: ``"filter"`` (default): filter-normalised like the random
            directions (rows rescaled to the parameters' row norms, 1-D parameters zero;
            still an ascent direction, the scale comparable to a surface's); ``"global"``:
            unit norm over all parameters; ``"none"``: the raw gradient.

    Returns:
        A tensor per name of :func:`policy_parameters`.
    """
    policy = model.policy
    params = policy_parameters(model)
    named = dict(policy.named_parameters())
    # manual_seed seeds every device; fork the generator of the one the policy samples on.
    devices = [policy.device] if policy.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        rollout = _rollout(model, env, steps, seed, num_envs, max_steps, env_kwargs)
        obs = torch.cat(rollout["obs"])
        if isinstance(policy, ActorCriticPolicy):
            with torch.no_grad():
                values = torch.stack([policy.predict_values(o).flatten() for o in rollout["obs"]])
                bootstrap = policy.predict_values(rollout["last_obs"]).flatten()
            rewards = np.stack(rollout["rewards"])
            done = np.stack(rollout["done"])
            returns_to_go = np.zeros_like(rewards)
            following = bootstrap.cpu().numpy().astype(np.float64)
            for t in reversed(range(len(rewards))):
                following = rewards[t] + model.gamma * following * (~done[t])
                returns_to_go[t] = following
            advantages = torch.as_tensor(returns_to_go, dtype=values.dtype) - values.cpu()
            valid = torch.as_tensor(np.stack(rollout["valid"]).reshape(-1))
            _, log_prob, _ = policy.evaluate_actions(obs, torch.cat(rollout["actions"]))
            weights = advantages.reshape(-1).to(log_prob.device) * valid.to(log_prob.device)
            objective = (log_prob.reshape(-1) * weights).sum() / valid.sum().clamp(min=1)
        elif isinstance(getattr(policy, "actor", None), SACActor):
            actions_pi, log_prob = policy.actor.action_log_prob(obs)
            q_values = torch.cat(policy.critic(obs, actions_pi), dim=1)
            log_ent_coef = getattr(model, "log_ent_coef", None)
            ent_coef = (
                torch.exp(log_ent_coef.detach())
                if log_ent_coef is not None
                else model.ent_coef_tensor
            )
            objective = (q_values.min(dim=1).values - ent_coef * log_prob.reshape(-1)).mean()
        elif isinstance(getattr(policy, "actor", None), TD3Actor):
            objective = policy.critic.q1_forward(obs, policy.actor(obs)).mean()
        else:
            raise NotImplementedError(f"no gradient for {type(policy).__name__}")
        grads = torch.autograd.grad(objective, [named[name] for name in params], allow_unused=True)
    gradient: Parameters = OrderedDict(
        (name, torch.zeros_like(value) if grad is None else grad.detach())
        for (name, value), grad in zip(params.items(), grads, strict=True)
    )
    if normalization == "filter":
        return filter_normalize(gradient, params)
    if normalization == "global":
        norm = torch.sqrt(sum((g.double() ** 2).sum() for g in gradient.values()))
        return OrderedDict(
            (name, (g.double() / norm if norm > 0 else g.double()).to(g.dtype))
            for name, g in gradient.items()
        )
    if normalization == "none":
        return gradient
    raise ValueError(f"normalization must be 'filter', 'global' or 'none', got {normalization!r}")


def gradient_line(
    model: BaseAlgorithm,
    env_fn: EnvSource,
    points: int = 20,
    magnitude: float = 0.4,
    episodes: int = 100,
    seed: int = 0,
    direction: Mapping[str, torch.Tensor] | None = None,
    gradient_steps: int = 2048,
    deterministic: bool = True,
    max_steps: int | None = None,
    on_point: PointCallback | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    chunk_points: int = 64,
) -> SurfaceResult:
    """Returns along the filter-normalised policy gradient: ``theta + t * g`` for ``points``
    values of ``t`` evenly from 0 (the policy itself) to ``magnitude`` inclusive.

    Sullivan et al.'s defaults: 20 points up to 0.4, 100 episodes per point. Feed
    ``result.returns_mean`` and a surface's ``returns_range`` to :func:`find_cliffs`.

    Args:
        model: an SB3 model.
        env_fn: a registered id or a vector-env factory.
        points: points on the line.
        magnitude: the last point's step size.
        episodes: episodes per point.
        seed: the first episode seed; also seeds the gradient's rollout.
        direction: the direction to walk; ``None`` estimates it with
            :func:`gradient_direction` (filter-normalised, ``gradient_steps`` transitions).
        gradient_steps: rollout length of that estimate.
        deterministic, max_steps, on_point, env_kwargs, chunk_points: as in
            :func:`evaluate_grid`.
    """
    if direction is None:
        direction = gradient_direction(
            model, env_fn, gradient_steps, seed, max_steps=max_steps, env_kwargs=env_kwargs
        )
    coords = np.linspace(0.0, magnitude, points)[:, None]
    result = evaluate_grid(
        model,
        env_fn,
        [direction],
        coords,
        episodes,
        seed,
        deterministic=deterministic,
        max_steps=max_steps,
        on_point=on_point,
        env_kwargs=env_kwargs,
        chunk_points=chunk_points,
    )
    return dataclasses.replace(result, grid_shape=(points,), kind="gradient_line")


class CliffCheck(NamedTuple):
    """Outcome of :func:`find_cliffs`.

    Attributes:
        is_cliff: whether the rule fired somewhere on the line.
        index: the first point where it fired; -1 when it did not.
        drop: the fall in return there (from the point it is compared with); without a
            cliff, the fall from the start to the check point (negative for a rise).
    """

    is_cliff: bool
    index: int
    drop: float


def find_cliffs(
    line_returns: Sequence[float] | np.ndarray,
    surface_range: float,
    ratio: float = CLIFF_RATIO,
    range_fraction: float = CLIFF_RANGE_FRACTION,
    check_index: int = CLIFF_CHECK_INDEX,
) -> CliffCheck:
    """Sullivan et al.'s cliff rule along a gradient line.

    A cliff: the return at point ``check_index`` (the 10th) is at most ``ratio`` (half)
    of the return at the start, and the drop exceeds ``range_fraction`` (25%) of the
    surface's range (max - min; theirs is over every line of a training run). Their code
    then walks the later points, comparing each with the previous point and the one before
    it (for the 11th: the 10th and the start) under the same two conditions; so does this. The ratio test assumes non-negative returns, as in their environments.

    Args:
        line_returns: mean returns along the line, the start (the policy itself) first.
        surface_range: max - min of the surface the line is judged against.
        ratio: the largest fraction of the earlier return that counts as a fall.
        range_fraction: the smallest drop, as a fraction of ``surface_range``.
        check_index: the first point compared with the start.
    """
    z = np.asarray(line_returns, dtype=np.float64).reshape(-1)
    if len(z) <= check_index:
        raise ValueError(f"a line needs more than {check_index} points, got {len(z)}")
    if surface_range < 0:
        raise ValueError(f"surface_range must be max - min >= 0, got {surface_range}")

    def falls(earlier: float, later: float) -> bool:
        return later <= ratio * earlier and earlier - later > range_fraction * surface_range

    if falls(z[0], z[check_index]):
        return CliffCheck(True, check_index, float(z[0] - z[check_index]))
    for k in range(check_index + 1, len(z)):
        # The first ``check_index + 1`` points count as one step: the point after them is
        # compared with the check point and the start, as in their compute_cliff.py.
        before_last = z[0] if k == check_index + 1 else z[k - 2]
        for earlier in (z[k - 1], before_last):
            if falls(earlier, z[k]):
                return CliffCheck(True, k, float(earlier - z[k]))
    return CliffCheck(False, -1, float(z[0] - z[check_index]))


# ---- Trajectories -----------------------------------------------------------------------


def _flatten(params: Mapping[str, Any], names: Sequence[str]) -> np.ndarray:
    parts = []
    for name in names:
        value = params[name]
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        parts.append(np.asarray(value, dtype=np.float64).ravel())
    return np.concatenate(parts)


def _trajectory_pca(
    checkpoints: Sequence[Mapping[str, Any]], centre: Mapping[str, Any], n: int
) -> tuple[PCA, np.ndarray]:
    if len(checkpoints) < n:
        raise ValueError(f"need at least {n} checkpoints, got {len(checkpoints)}")
    names = list(centre)
    middle = _flatten(centre, names)
    differences = np.stack([_flatten(c, names) - middle for c in checkpoints])
    # A full SVD: the randomized solver would make the directions depend on its seed.
    pca = PCA(n_components=n, svd_solver="full").fit(differences)
    return pca, differences


def pca_directions(
    checkpoints: Sequence[Mapping[str, Any]], centre: Parameters, n: int = 2
) -> tuple[list[Parameters], np.ndarray]:
    """The first ``n`` PCA directions of ``checkpoint - centre`` (Li et al. 2018), as
    parameter dicts, to evaluate a surface that the trajectory of
    :func:`project_trajectory` lies in. Unit vectors, not filter-normalised.

    Returns:
        (directions, explained variance ratio of each).
    """
    pca, _ = _trajectory_pca(checkpoints, centre, n)
    directions = []
    for component in pca.components_:
        direction: Parameters = OrderedDict()
        offset = 0
        for name, value in centre.items():
            size = value.numel()
            piece = component[offset : offset + size].reshape(tuple(value.shape))
            direction[name] = torch.as_tensor(piece, dtype=value.dtype, device=value.device)
            offset += size
        directions.append(direction)
    return directions, pca.explained_variance_ratio_.copy()


def project_trajectory(
    checkpoints: Sequence[Mapping[str, Any]], centre: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """A run's checkpoints as (a, b) points in the plane of their first two PCA directions.

    Li et al. 2018: the differences ``checkpoint - centre`` (the centre usually the final
    parameters) are fitted by a PCA; each difference is projected on the two unit
    components, so the centre itself sits at (0, 0).

    Args:
        checkpoints: parameter dicts (tensors or arrays), at least two; only the names of
            ``centre`` are used.
        centre: the parameters at the origin of the plane.

    Returns:
        (coords (n, 2), explained variance ratio (2,) of the two directions).
    """
    pca, differences = _trajectory_pca(checkpoints, centre, 2)
    return differences @ pca.components_.T, pca.explained_variance_ratio_.copy()


__all__ = [
    "CLIFF_CHECK_INDEX",
    "CLIFF_RANGE_FRACTION",
    "CLIFF_RATIO",
    "CliffCheck",
    "EnvSource",
    "Parameters",
    "SurfaceResult",
    "VectorEnvFactory",
    "evaluate_grid",
    "evaluate_point_reference",
    "filter_normalize",
    "filter_normalized_direction",
    "find_cliffs",
    "gradient_direction",
    "gradient_line",
    "grid_axis",
    "make_vector_env",
    "pca_directions",
    "perturb",
    "policy_parameters",
    "project_trajectory",
    "random_directions",
    "surface_2d",
]
