"""Our agents' skill policies, put in the form the reward-surface code evaluates.

The surface code (:mod:`workbench.landscapes.surfaces`) perturbs and evaluates SB3
policies. Our agents keep their networks in other layouts: the SAC of METRA, DIAYN and LSD
holds each network in one flat parameter (:class:`workbench.agents.sac.EnsembleMLP`), and
HILP's skill policy is a :class:`workbench.agents.hilp.GaussianSkillPolicy`. Rather than a
second surface code for each, a checkpoint's weights are copied into an SB3 model of the
same function:

- METRA, DIAYN, LSD -> an SB3 ``SAC``: the actor's hidden layers, its mean and log-std heads
  (the two halves of our last layer), the twin critics and their targets, the temperature.
  The deterministic action is the same, ``tanh(mean)`` scaled to the box, so a surface's
  centre is the agent's own deterministic policy; the gradient line follows SB3's SAC
  actor objective ``min Q - alpha log pi``, which is ours. SB3's critics read the squashed
  action in [-1, 1], ours the action in the box: the critics' first layers are rewritten
  to read the squashed one (the same Q function). (SB3 clamps the log std at -20,
  ours at log 1e-6 = -13.8: sampled actions differ only where a std falls below 1e-6.)
- HILP -> an SB3 ``PPO`` policy (``ActorCriticPolicy``): HILP's deterministic action is
  its Gaussian mean clipped to [-1, 1] and scaled by ``max_action``, the same as a mean
  of ``max_action`` times the output clipped to the box, so the last layer's weights are
  scaled by ``max_action``. Filter-normalised directions are scale-free, so the surface is
  the one of HILP's own weights. HILP has no critic of its own policy's return (its Q and V
  are IQL's, in-sample values of the dataset's behaviour), so the copy's value net is zero:
  its gradient line follows REINFORCE, the discounted return-to-go of whole episodes
  weighting the log-probabilities of the Gaussian policy's own actions.

What a skill policy's return is: the environment of these runs pays nothing (METRA's mazes
run with ``reward_mode="none"``), so the return is the skill's own objective for one fixed
skill z, the sum over an episode of the agent's skill reward (METRA, LSD and HILP:
``(phi(s') - phi(s)) . z``, how far the episode moved along z in the learned space; DIAYN:
``log q(z | s')``), computed with the checkpoint's frozen phi. :class:`SkillRewardVectorEnv`
and :class:`SkillRewardWrapper` append z to the observations and pay that reward.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from torch import nn

from workbench.agents.hilp import HILP, LOG_STD_MAX, LOG_STD_MIN
from workbench.agents.metra import SkillDiscovery

SkillReward = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``reward(obs, next_obs)`` of a batch of transitions, for the fixed skill."""

# HILP runs have no evaluation skills: their surfaces pick from this many unit-length draws
# of a stream seeded by the run's seed and this number.
HILP_SURFACE_SKILLS = 1024
HILP_SURFACE_SKILL_STREAM = 2


def skill_reward_of(agent: SkillDiscovery | HILP, skill: np.ndarray) -> SkillReward:
    """The agent's skill reward for the fixed ``skill``, as the agent computes it for
    training (before METRA's ``reward_scale``), on batches of numpy transitions.

    Puts the agent's phi in eval mode: LSD's spectral normalisation then stops its power
    iteration, which in training mode nudges the weights at every call, so the reward is
    one fixed function and a surface does not depend on the order of its evaluations."""
    z = torch.as_tensor(np.asarray(skill, dtype=np.float32))
    if isinstance(agent, SkillDiscovery):
        agent.phi.eval()
        if agent.phi_log_std is not None:
            agent.phi_log_std.eval()

    @torch.no_grad()
    def reward(obs: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        obs_t = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=agent.device)
        next_t = torch.as_tensor(np.asarray(next_obs, dtype=np.float32), device=agent.device)
        skills = z.to(agent.device).expand(len(obs_t), -1)
        if isinstance(agent, HILP):
            values = agent.skill_rewards(obs_t, next_t, skills)
        else:
            values = agent.rewards(obs_t, next_t, skills)
        return values.cpu().numpy().astype(np.float64)

    return reward


def _with_skill_space(space: spaces.Space, skill: np.ndarray) -> spaces.Box:
    """The observation space with the skill's coordinates appended (unbounded)."""
    if not isinstance(space, spaces.Box) or len(space.shape) != 1:
        raise ValueError(f"skill policies take flat Box observations, got {space}")
    unbounded = np.full(len(skill), np.inf, dtype=np.float32)
    low = np.concatenate([space.low.astype(np.float32), -unbounded])
    high = np.concatenate([space.high.astype(np.float32), unbounded])
    return spaces.Box(low, high, dtype=np.float32)


class SkillRewardWrapper(gym.Wrapper):
    """One environment as the skill policy sees it: observations with ``skill`` appended,
    and the skill reward instead of the environment's."""

    def __init__(self, env: gym.Env, skill: np.ndarray, reward: SkillReward) -> None:
        super().__init__(env)
        self.skill = np.asarray(skill, dtype=np.float32)
        self.reward_of = reward
        self.observation_space = _with_skill_space(env.observation_space, self.skill)
        self._obs: np.ndarray | None = None

    def _with_skill(self, obs: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(obs, dtype=np.float32), self.skill])

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._obs = np.asarray(obs, dtype=np.float32)
        return self._with_skill(obs), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._obs is None:
            raise RuntimeError("step before reset")
        obs, _, terminated, truncated, info = self.env.step(action)
        reward = float(self.reward_of(self._obs[None], np.asarray(obs, dtype=np.float32)[None])[0])
        self._obs = np.asarray(obs, dtype=np.float32)
        return self._with_skill(obs), reward, terminated, truncated, info


class SkillRewardVectorEnv(VectorWrapper):
    """A vector env as the skill policy sees it (see :class:`SkillRewardWrapper`): one
    batched call of the agent's phi per step for all copies. The wrapped env must
    autoreset on the next step (gymnasium's default): that step starts a new episode and
    pays 0, as the wrapped env does."""

    def __init__(self, env: VectorEnv, skill: np.ndarray, reward: SkillReward) -> None:
        super().__init__(env)
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if mode != AutoresetMode.NEXT_STEP:
            raise ValueError(f"the wrapped vector env must autoreset NEXT_STEP, not {mode}")
        self.skill = np.asarray(skill, dtype=np.float32)
        self.reward_of = reward
        self.single_observation_space = _with_skill_space(env.single_observation_space, self.skill)
        self.observation_space = gym.vector.utils.batch_space(
            self.single_observation_space, env.num_envs
        )
        self._obs: np.ndarray | None = None
        self._resetting = np.zeros(env.num_envs, dtype=bool)

    def _with_skill(self, obs: np.ndarray) -> np.ndarray:
        skills = np.broadcast_to(self.skill, (len(obs), len(self.skill)))
        return np.concatenate([np.asarray(obs, dtype=np.float32), skills], axis=1)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._obs = np.asarray(obs, dtype=np.float32)
        self._resetting[:] = False
        return self._with_skill(obs), info

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        if self._obs is None:
            raise RuntimeError("step before reset")
        obs, _, terminated, truncated, info = self.env.step(actions)
        obs = np.asarray(obs, dtype=np.float32)
        rewards = np.where(self._resetting, 0.0, self.reward_of(self._obs, obs))
        self._obs = obs
        self._resetting = np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)
        return self._with_skill(obs), rewards, terminated, truncated, info


def _fill(layer: nn.Linear, weight: torch.Tensor, bias: torch.Tensor) -> None:
    """Copy (weight (out, in), bias (out,)) into ``layer``."""
    with torch.no_grad():
        layer.weight.copy_(weight.detach().cpu())
        layer.bias.copy_(bias.detach().cpu())


def _fill_all(sequential: nn.Sequential, weights: list[tuple[torch.Tensor, ...]]) -> None:
    """Copy one (weight, bias) pair into each ``nn.Linear`` of ``sequential``, in order."""
    linears = [module for module in sequential if isinstance(module, nn.Linear)]
    if len(linears) != len(weights):
        raise ValueError(f"{len(linears)} linear layers to fill from {len(weights)} weights")
    for layer, (weight, bias) in zip(linears, weights, strict=True):
        _fill(layer, weight, bias)


def _member(flat_layers: list[tuple[torch.Tensor, ...]], member: int) -> list[tuple]:
    """An ``EnsembleMLP``'s layers of one member as (weight (out, in), bias (out,))."""
    return [(weight[member], bias[member, 0]) for weight, bias in flat_layers]


def _on_squashed_actions(
    weight: torch.Tensor, bias: torch.Tensor, scale: torch.Tensor, center: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Our critics' first layer, which reads ``[inputs, a]`` with ``a`` in the action box,
    as a layer reading ``[inputs, u]`` with ``u = (a - center) / scale`` in [-1, 1]: SB3's
    SAC critics see the squashed action before it is rescaled to the box. The action's
    columns are multiplied by ``scale`` and the bias takes in ``center``."""
    n = len(scale)
    weight, bias = weight.detach().cpu().clone(), bias.detach().cpu().clone()
    action_columns = weight[:, -n:].clone()
    weight[:, -n:] = action_columns * scale.cpu()
    return weight, bias + action_columns @ center.cpu()


def sb3_model_of(agent: SkillDiscovery | HILP, env: gym.Env) -> BaseAlgorithm:
    """An SB3 model on ``env`` (a :class:`SkillRewardWrapper`) computing the agent's skill
    policy: a ``SAC`` for METRA, DIAYN and LSD, a ``PPO`` for HILP (module docstring)."""
    if isinstance(agent, HILP):
        layers = agent.actor.net.weights
        model: BaseAlgorithm = PPO(
            "MlpPolicy", env, n_steps=8, batch_size=8, device="cpu",
            policy_kwargs={
                "net_arch": {"pi": [w.shape[-1] for w in layers[:-1]], "vf": [8]},
                "activation_fn": nn.ReLU,
            },
        )  # fmt: skip
    else:
        layers = agent.sac.actor.net.layer_weights()
        model = SAC(
            "MlpPolicy", env, buffer_size=1, learning_starts=0, gamma=agent.sac.gamma,
            device="cpu",
            policy_kwargs={"net_arch": [w.shape[1] for w, _ in layers[:-1]], "activation_fn": nn.ReLU},
        )  # fmt: skip
    copy_policy(agent, model)
    return model


def copy_policy(agent: SkillDiscovery | HILP, model: BaseAlgorithm) -> None:
    """Copy the agent's weights into a model made by :func:`sb3_model_of` (for METRA,
    DIAYN and LSD: actor, critics, target critics and temperature; for HILP: the policy)."""
    if isinstance(agent, HILP):
        _copy_hilp_policy(agent, model)
        return
    sac, policy = agent.sac, model.policy
    actor_layers = _member(sac.actor.net.layer_weights(), 0)
    _fill_all(policy.actor.latent_pi, actor_layers[:-1])
    # Our last layer is both heads: the mean's rows first, then the log std's.
    last_weight, last_bias = actor_layers[-1]
    mean_weight, log_std_weight = last_weight.chunk(2)
    mean_bias, log_std_bias = last_bias.chunk(2)
    _fill(policy.actor.mu, mean_weight, mean_bias)
    _fill(policy.actor.log_std, log_std_weight, log_std_bias)
    for critic, ours in ((policy.critic, sac.critic), (policy.critic_target, sac.critic_target)):
        for member, q_net in enumerate(critic.q_networks):
            layers = _member(ours.layer_weights(), member)
            layers[0] = _on_squashed_actions(*layers[0], sac.actor.scale, sac.actor.center)
            _fill_all(q_net, layers)
    assert isinstance(model, SAC)
    with torch.no_grad():
        model.log_ent_coef.copy_(sac.log_alpha.detach().cpu().reshape(model.log_ent_coef.shape))


def _copy_hilp_policy(agent: HILP, model: BaseAlgorithm) -> None:
    actor, policy = agent.actor, model.policy
    box = policy.action_space
    assert isinstance(box, spaces.Box)
    if not (np.allclose(box.high, actor.max_action) and np.allclose(box.low, -actor.max_action)):
        raise ValueError(
            f"HILP's policy acts in [-{actor.max_action}, {actor.max_action}], the "
            f"environment in [{box.low}, {box.high}]"
        )
    # HILPMLP keeps (members, in, out) weights: nn.Linear's layout is the transpose.
    layers = [
        (weight[0].T, bias[0, 0])
        for weight, bias in zip(actor.net.weights, actor.net.biases, strict=True)
    ]
    _fill_all(policy.mlp_extractor.policy_net, layers[:-1])
    scale = float(actor.max_action)
    out_weight, out_bias = layers[-1]
    _fill(policy.action_net, out_weight * scale, out_bias * scale)
    with torch.no_grad():
        log_std = actor.log_std.detach().cpu().clamp(LOG_STD_MIN, LOG_STD_MAX)
        policy.log_std.copy_(log_std + math.log(scale))
        # V = 0: the policy gradient's advantage is the return-to-go (REINFORCE).
        policy.value_net.weight.zero_()
        policy.value_net.bias.zero_()
    model.gamma = agent.gamma
