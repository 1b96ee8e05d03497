"""METRA, DIAYN and LSD: losses equal the formulas on fixed tensors; the dual behaves."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from workbench.agents.metra import SkillDiscovery, coverage, sample_skills, skill_direction
from workbench.runs import RunStore
from workbench.runs.trainer import RunContext
from workbench.trainers.metra import METRAConfig, METRATrainer, run_evaluation_skills


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
        # Gradients up to ~10, summed in another order: float32 rounding, not a difference.
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
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
            "truncated": torch.zeros(16, 1),
        }
    )
    torch.testing.assert_close(seen["rewards"], seen["expected"])
    assert not torch.allclose(seen["rewards"], 2.0 * before)  # phi moved first


@pytest.mark.parametrize("objective", ["metra", "diayn", "lsd"])
def test_only_metra_logs_the_dual_variable_and_the_constraint(transitions, objective):
    obs, next_obs, skills = transitions
    batch = {"obs": obs, "next_obs": next_obs, "skills": skills}
    batch |= {"actions": torch.zeros(16, 2), "terminated": torch.zeros(16, 1)}
    batch |= {"truncated": torch.zeros(16, 1)}
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


def test_phi_starts_with_xavier_uniform_weights_and_zero_biases():
    """As the authors' trajectory encoder (and DIAYN's log-std network): every layer's
    weights uniform within +-sqrt(6 / (fan_in + fan_out)), filling that range, biases
    zero. torch's default (1 / sqrt(fan_in), biases too) fails all three."""
    for agent in (make(hidden=256), make(hidden=256, objective="diayn")):
        networks = [agent.phi] + ([] if agent.phi_log_std is None else [agent.phi_log_std])
        for network in networks:
            layers = [m for m in network if isinstance(m, torch.nn.Linear)]
            assert len(layers) == 3
            for layer in layers:
                bound = math.sqrt(6.0 / sum(layer.weight.shape))
                largest = layer.weight.abs().max().item()
                assert bound * 0.97 < largest <= bound
                assert abs(layer.weight.std().item() / (bound / math.sqrt(3)) - 1) < 0.1
                assert (layer.bias == 0).all()


def _constant_critics(agent: SkillDiscovery, online: float, target: float) -> None:
    """Q = ``online`` and target Q' = ``target`` everywhere: zero weights, output bias."""
    with torch.no_grad():
        for critic, value in ((agent.sac.critic, online), (agent.sac.critic_target, target)):
            critic.flat.zero_()
            critic.layer_weights()[-1][1].fill_(value)
        agent.sac.log_alpha.fill_(math.log(1e-12))  # alpha * log_pi' vanishes from V(s')


@pytest.mark.parametrize("bootstrap_last_step", [False, True])
def test_the_last_transition_of_a_trajectory_does_not_bootstrap(transitions, bootstrap_last_step):
    """As the authors' worker (the last step of every trajectory marked done): with zero
    reward, Q = 0 and Q' = 5, a mid-trajectory target is gamma * 5 and the last one 0; the
    critic loss 0.5 * sum over both critics of mean (Q - y)^2 is y^2. With
    ``bootstrap_last_step`` the last one bootstraps too."""
    obs, next_obs, skills = transitions
    losses = {}
    for truncated in (0.0, 1.0):
        option = {"bootstrap_last_step": True} if bootstrap_last_step else {}  # default: off
        agent = make(reward_scale=0.0, gamma=0.9, **option)
        _constant_critics(agent, online=0.0, target=5.0)
        batch = {"obs": obs[:1], "next_obs": next_obs[:1], "skills": skills[:1]}
        batch |= {"actions": torch.zeros(1, 2), "terminated": torch.zeros(1, 1)}
        batch |= {"truncated": torch.full((1, 1), truncated)}
        losses[truncated] = agent.update(batch)["losses/critic"].item()
    assert losses[0.0] == pytest.approx(4.5**2, rel=1e-4)
    assert losses[1.0] == pytest.approx(4.5**2 if bootstrap_last_step else 0.0, rel=1e-4)


def _trainer(tmp_path, **knobs) -> METRATrainer:
    store = RunStore(tmp_path)
    config = METRAConfig(hidden=16, device="cpu", checkpoint_every=0, **knobs)
    record = store.create_run("test", "metra", config.to_dict())
    ctx = RunContext(store, record.id, config)
    trainer = METRATrainer(config, ctx)
    ctx.trainer = trainer
    return trainer


def test_the_trainer_marks_each_trajectorys_last_transition_as_truncated(tmp_path):
    trainer = _trainer(tmp_path, trajectories_per_epoch=3)
    skills = sample_skills(3, 2, "continuous", np.random.default_rng(0))
    paths = trainer.collect(skills, deterministic=False, store=True)
    assert paths.shape == (3, 201, 2) and trainer.buffer.size == 600
    truncated = trainer.buffer.data["truncated"][:600, 0].view(200, 3)  # (step, copy)
    assert (truncated[-1] == 1).all() and (truncated[:-1] == 0).all()
    assert (trainer.buffer.data["terminated"][:600] == 0).all()  # the plane never ends early


def test_evaluation_skills_are_48_random_unit_vectors_fixed_per_run_and_seed():
    """As the authors' evaluation: standard normal skills scaled to unit length (not evenly
    spaced angles), drawn from a stream of their own: the same at every evaluation of a run,
    different for another seed. Evenly spaced skills remain an option."""
    skills = run_evaluation_skills(METRAConfig(seed=3))
    assert skills.shape == (48, 2) and skills.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(skills, axis=1), 1.0, rtol=1e-6)
    gaps = np.diff(np.sort(np.arctan2(skills[:, 1], skills[:, 0])))
    assert gaps.max() > 3 * gaps.mean()  # random angles, not every 7.5 degrees
    np.testing.assert_array_equal(run_evaluation_skills(METRAConfig(seed=3)), skills)
    assert not np.allclose(run_evaluation_skills(METRAConfig(seed=4)), skills)
    wide = run_evaluation_skills(METRAConfig(seed=3, skill_dim=5))
    assert wide.shape == (48, 5)
    np.testing.assert_allclose(np.linalg.norm(wide, axis=1), 1.0, rtol=1e-6)
    # DIAYN's skills are standard normal, as its training draws (the authors' unit_length 0).
    diayn = run_evaluation_skills(METRAConfig(seed=3, objective="diayn"))
    assert np.linalg.norm(diayn, axis=1).std() > 0.2
    # One-hot skills each in turn, as many times each as the authors' (48 // D or one more).
    one_hot = run_evaluation_skills(METRAConfig(skill_dim=5, skill_type="discrete"))
    assert one_hot.sum(0).tolist() == [10, 10, 10, 9, 9]
    spaced = run_evaluation_skills(METRAConfig(seed=3, eval_skills="evenly_spaced"))
    angles = np.arctan2(spaced[:, 1], spaced[:, 0])
    np.testing.assert_allclose(np.diff(np.unwrap(angles)), 2 * np.pi / 48, rtol=1e-5)


def test_every_evaluation_of_a_run_rolls_out_the_same_random_skills(tmp_path, monkeypatch):
    trainer = _trainer(tmp_path, seed=7)
    rolled_out = []
    collect = trainer.collect

    def recording(skills, deterministic, store):
        rolled_out.append(skills.copy())
        return collect(skills, deterministic, store)

    monkeypatch.setattr(trainer, "collect", recording)
    trainer.evaluate()
    trainer.rng.standard_normal(100)  # training draws in between do not move them
    trainer.evaluate()
    np.testing.assert_array_equal(rolled_out[0], rolled_out[1])
    np.testing.assert_array_equal(rolled_out[0], run_evaluation_skills(trainer.config))
    np.testing.assert_allclose(np.linalg.norm(rolled_out[0], axis=1), 1.0, rtol=1e-6)
