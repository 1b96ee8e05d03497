"""METRA, DIAYN and LSD: losses equal the formulas on fixed tensors; the dual behaves."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from workbench.agents.metra import SkillDiscovery, coverage, sample_skills, skill_direction


def make(**kwargs) -> SkillDiscovery:
    torch.manual_seed(0)
    defaults = {"hidden": 16, "epsilon": 1e-3, "device": "cpu"}
    return SkillDiscovery(2, -0.2 * torch.ones(2), 0.2 * torch.ones(2), **{**defaults, **kwargs})


@pytest.fixture
def transitions():
    g = torch.Generator().manual_seed(2)
    obs = torch.randn(16, 2, generator=g)
    next_obs = obs + 0.2 * torch.randn(16, 2, generator=g)
    skills = torch.as_tensor(sample_skills(16, 2, "continuous", np.random.default_rng(0)))
    return obs, next_obs, skills


@pytest.mark.parametrize("constraint", ["mean", "sum"])
def test_metra_phi_and_dual_losses_equal_the_formulas(transitions, constraint):
    agent = make(constraint=constraint)
    with torch.no_grad():
        for p in agent.phi.parameters():
            p.mul_(4.0)  # steps of phi around one unit: some penalties below epsilon
    obs, next_obs, skills = transitions
    losses = agent.phi_losses(obs, next_obs, skills)
    delta = agent.phi(next_obs) - agent.phi(obs)
    reward = (delta * skills).sum(-1)
    squared = delta**2
    distance = squared.mean(-1) if constraint == "mean" else squared.sum(-1)
    assert ((1 - distance) < 1e-3).sum() >= 4  # the two forms differ on these samples
    penalty = torch.clamp(1 - distance, max=1e-3)
    expected_phi = -(reward + 30.0 * penalty).mean()
    torch.testing.assert_close(losses.phi.detach(), expected_phi.detach())
    torch.testing.assert_close(losses.dual.detach(), math.log(30.0) * penalty.detach().mean())
    torch.testing.assert_close(losses.dual_lambda, torch.tensor(30.0))
    torch.testing.assert_close(losses.violation, (distance.detach() - 1).clamp(min=0).mean())
    assert losses.violation > 0
    # Gradients reach phi through phi(s) and phi(s') alike; lambda only through the dual loss.
    params = list(agent.phi.parameters())
    for got, want in zip(
        torch.autograd.grad(losses.phi, params),
        torch.autograd.grad(expected_phi, params),
        strict=True,
    ):
        torch.testing.assert_close(got, want)
    assert torch.autograd.grad(losses.phi, agent.log_lambda, allow_unused=True)[0] is None
    (dual_grad,) = torch.autograd.grad(losses.dual, agent.log_lambda)
    torch.testing.assert_close(dual_grad, penalty.detach().mean())


def _dual_steps(agent, obs, next_obs, skills, steps=20) -> float:
    for _ in range(steps):
        agent.dual_optimizer.zero_grad()
        agent.phi_losses(obs, next_obs, skills).dual.backward()
        agent.dual_optimizer.step()
    return agent.log_lambda.exp().item()


def test_lambda_rises_while_the_constraint_is_violated_and_falls_while_slack(transitions):
    obs, next_obs, skills = transitions
    violated = make(dual_lr=1e-2)
    with torch.no_grad():
        for p in violated.phi.parameters():
            p.mul_(10.0)  # big phi: ||dphi||^2 far above 1
    assert violated.phi_losses(obs, next_obs, skills).penalty < 0
    assert _dual_steps(violated, obs, next_obs, skills) > 30.0
    slack = make(dual_lr=1e-2)
    with torch.no_grad():
        for p in slack.phi.parameters():
            p.mul_(0.01)  # tiny phi: penalty = epsilon > 0
    assert slack.phi_losses(obs, next_obs, skills).penalty > 0
    assert _dual_steps(slack, obs, next_obs, skills) < 30.0


def test_discrete_skill_reward_uses_the_mask_form():
    agent = make(skill_dim=4, skill_type="discrete")
    z = torch.eye(4)[[2]]
    mask = skill_direction(z, "discrete")
    torch.testing.assert_close(mask, torch.tensor([[-1 / 3, -1 / 3, 1.0, -1 / 3]]))
    obs, next_obs = torch.zeros(1, 2), torch.ones(1, 2)
    with torch.no_grad():
        delta = agent.phi(next_obs) - agent.phi(obs)
        torch.testing.assert_close(agent.rewards(obs, next_obs, z), (delta * mask).sum(-1))


def test_diayn_rewards_log_q_of_the_skill():
    """As the authors' code: minus the cross-entropy of phi(s')'s logits for one-hot
    skills; for continuous ones the log-density of a Gaussian around phi(s') with a learned,
    state-dependent standard deviation (starting at 1), trained with phi."""
    agent = make(objective="diayn", skill_dim=3, skill_type="discrete")
    next_obs, z = torch.randn(5, 2), torch.eye(3)[[0, 1, 2, 0, 1]]
    with torch.no_grad():
        expected = -F.cross_entropy(agent.phi(next_obs), z.argmax(-1), reduction="none")
        torch.testing.assert_close(agent.rewards(torch.zeros(5, 2), next_obs, z), expected)
    continuous = make(objective="diayn")
    assert not continuous.unit_length
    skills = torch.randn(5, 2)
    torch.testing.assert_close(continuous.phi_log_std[-1].bias, torch.zeros(2))
    with torch.no_grad():
        for p in continuous.phi_log_std.parameters():
            p.add_(0.3)  # a standard deviation away from 1, varying with the state
        log_std = continuous.phi_log_std(next_obs)
        mean = continuous.phi(next_obs)
        expected = (
            -0.5 * ((skills - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)
        ).sum(-1)
        torch.testing.assert_close(
            continuous.rewards(torch.zeros(5, 2), next_obs, skills), expected
        )
    loss = continuous.phi_losses(torch.zeros(5, 2), next_obs, skills).phi
    loss.backward()
    trained = {id(p) for group in continuous.phi_optimizer.param_groups for p in group["params"]}
    for p in continuous.phi_log_std.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0 and id(p) in trained


def test_lsd_phi_is_one_lipschitz():
    agent = make(objective="lsd", hidden=32)
    with torch.no_grad():
        for p in agent.phi.parameters():
            p.mul_(20.0)  # weights this large, unnormalised, stretch distances far beyond 1
    x, y = torch.randn(200, 2), torch.randn(200, 2)
    for _ in range(3):  # spectral norm's power iteration settles in training mode
        agent.phi(x)
    with torch.no_grad():
        ratio = (agent.phi(x) - agent.phi(y)).norm(dim=-1) / (x - y).norm(dim=-1)
    assert ratio.max() <= 1.05


def test_update_recomputes_rewards_with_the_new_phi_before_the_sac_step(transitions, monkeypatch):
    agent = make(reward_scale=2.0)
    obs, next_obs, skills = transitions
    seen = {}
    original = agent.sac.update

    def spy(batch, rewards):
        seen["rewards"] = rewards.clone()
        with torch.no_grad():
            seen["expected"] = 2.0 * agent.rewards(obs, next_obs, skills)
        return original(batch, rewards)

    monkeypatch.setattr(agent.sac, "update", spy)
    before = agent.rewards(obs, next_obs, skills).detach()
    agent.update(
        {
            "obs": obs,
            "next_obs": next_obs,
            "skills": skills,
            "actions": torch.zeros(16, 2),
            "terminated": torch.zeros(16, 1),
        }
    )
    torch.testing.assert_close(seen["rewards"], seen["expected"])
    assert not torch.allclose(seen["rewards"], 2.0 * before)  # phi moved first


@pytest.mark.parametrize("objective", ["metra", "diayn", "lsd"])
def test_only_metra_logs_the_dual_variable_and_the_constraint(transitions, objective):
    obs, next_obs, skills = transitions
    batch = {"obs": obs, "next_obs": next_obs, "skills": skills}
    batch |= {"actions": torch.zeros(16, 2), "terminated": torch.zeros(16, 1)}
    logged = make(objective=objective).update(batch)
    constrained = {"metra/lambda", "metra/violation", "metra/penalty", "losses/dual"}
    assert (constrained <= logged.keys()) == (objective == "metra")
    assert not (constrained & logged.keys()) or objective == "metra"
    assert {"losses/phi", "losses/critic", "sac/alpha"} <= logged.keys()


def test_skills_and_coverage_follow_the_definitions():
    z = sample_skills(100, 3, "continuous", np.random.default_rng(0))
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, rtol=1e-6)
    gaussian = sample_skills(2000, 3, "continuous", np.random.default_rng(0), unit_length=False)
    assert abs(gaussian.std() - 1.0) < 0.05 and np.linalg.norm(gaussian, axis=1).std() > 0.3
    one_hot = sample_skills(100, 5, "discrete", np.random.default_rng(0))
    assert (one_hot.sum(1) == 1).all() and set(np.unique(one_hot)) == {0.0, 1.0}
    paths = np.array([[[0.1, 0.1], [0.9, 0.2], [1.2, 0.3]], [[-0.5, 0.0], [0.2, 0.2], [0.3, 2.5]]])
    assert coverage(paths) == 4  # (0,0), (1,0), (-1,0), (0,2)
