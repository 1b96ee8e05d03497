"""Exact tabular MDPs and a gymnasium environment over any of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

_ATOL = 1e-8


@dataclass
class TabularMDP:
    """A finite MDP given explicitly.

    Attributes:
        transitions: P[s, a, s'], each row a probability distribution.
        rewards: R[s, a], the expected reward of taking a in s.
        start: the start-state distribution, shape (S,).
        horizon: episode length T (``None`` for an infinite-horizon MDP).
        terminal: states where an episode ends (absorbing, zero reward by convention).
        transition_rewards: optional r[s, a, s'] when the reward depends on the next state;
            ``rewards`` must then equal its expectation under ``transitions``. Sampled
            episodes use it; exact planning only needs ``rewards``.
        state_names: optional readable name of each state.
    """

    transitions: np.ndarray
    rewards: np.ndarray
    start: np.ndarray
    horizon: int | None = None
    terminal: np.ndarray | None = None
    transition_rewards: np.ndarray | None = None
    state_names: list[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.transitions = np.asarray(self.transitions, dtype=np.float64)
        self.rewards = np.asarray(self.rewards, dtype=np.float64)
        self.start = np.asarray(self.start, dtype=np.float64)
        if self.transitions.ndim != 3 or self.transitions.shape[0] != self.transitions.shape[2]:
            raise ValueError(f"transitions must have shape (S, A, S), got {self.transitions.shape}")
        num_states, num_actions, _ = self.transitions.shape
        if self.rewards.shape != (num_states, num_actions):
            raise ValueError(
                f"rewards must have shape (S, A) = {(num_states, num_actions)}, got {self.rewards.shape}"
            )
        if self.start.shape != (num_states,):
            raise ValueError(
                f"start must have shape (S,) = ({num_states},), got {self.start.shape}"
            )
        if (self.transitions < -_ATOL).any():
            raise ValueError("transitions has negative probabilities")
        row_sums = self.transitions.sum(axis=2)
        if not np.allclose(row_sums, 1.0, atol=1e-6):
            s, a = np.argwhere(~np.isclose(row_sums, 1.0, atol=1e-6))[0]
            raise ValueError(f"transitions[{s}, {a}, :] sums to {row_sums[s, a]:.6g}, not 1")
        if (self.start < -_ATOL).any() or not np.isclose(self.start.sum(), 1.0, atol=1e-6):
            raise ValueError(
                f"start must be a probability distribution, sums to {self.start.sum():.6g}"
            )
        if not np.isfinite(self.rewards).all():
            raise ValueError("rewards must be finite")
        if self.horizon is not None and (int(self.horizon) != self.horizon or self.horizon < 1):
            raise ValueError(f"horizon must be a positive integer or None, got {self.horizon!r}")
        if self.terminal is None:
            self.terminal = np.zeros(num_states, dtype=bool)
        self.terminal = np.asarray(self.terminal, dtype=bool)
        if self.terminal.shape != (num_states,):
            raise ValueError(f"terminal must have shape ({num_states},), got {self.terminal.shape}")
        if self.transition_rewards is not None:
            self.transition_rewards = np.asarray(self.transition_rewards, dtype=np.float64)
            if self.transition_rewards.shape != self.transitions.shape:
                raise ValueError(
                    f"transition_rewards must have shape {self.transitions.shape}, "
                    f"got {self.transition_rewards.shape}"
                )
            expected = (self.transitions * self.transition_rewards).sum(axis=2)
            if not np.allclose(expected, self.rewards, atol=1e-6):
                raise ValueError("rewards must equal the expectation of transition_rewards")
        if self.state_names is not None and len(self.state_names) != num_states:
            raise ValueError(
                f"state_names has {len(self.state_names)} names for {num_states} states"
            )

    @property
    def num_states(self) -> int:
        return self.transitions.shape[0]

    @property
    def num_actions(self) -> int:
        return self.transitions.shape[1]


class TabularEnv(gym.Env[int, int]):
    """Samples episodes of a :class:`TabularMDP`: discrete states and actions, episodes
    end in a terminal state (terminated) or after ``mdp.horizon`` steps (truncated)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(self, mdp: TabularMDP, render_mode: str | None = None) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.mdp = mdp
        self.render_mode = render_mode
        self.observation_space = spaces.Discrete(mdp.num_states)
        self.action_space = spaces.Discrete(mdp.num_actions)
        self.state = 0
        self.elapsed_steps = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        self.state = int(self.np_random.choice(self.mdp.num_states, p=self.mdp.start))
        self.elapsed_steps = 0
        return self.state, {}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(
                f"action {action!r} is not one of the {self.mdp.num_actions} actions 0..{self.mdp.num_actions - 1}"
            )
        state, action = self.state, int(action)
        next_state = int(
            self.np_random.choice(self.mdp.num_states, p=self.mdp.transitions[state, action])
        )
        if self.mdp.transition_rewards is not None:
            reward = float(self.mdp.transition_rewards[state, action, next_state])
        else:
            reward = float(self.mdp.rewards[state, action])
        self.state = next_state
        self.elapsed_steps += 1
        terminated = bool(self.mdp.terminal[next_state])
        # As gymnasium's TimeLimit: truncated at the horizon even if also terminated.
        truncated = self.mdp.horizon is not None and self.elapsed_steps >= self.mdp.horizon
        return next_state, reward, terminated, truncated, {}

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        render_state = getattr(self.mdp, "render_state", None)
        if render_state is None:
            raise NotImplementedError("this MDP has no picture; GridWorldMDP has one")
        return render_state(self.state)
