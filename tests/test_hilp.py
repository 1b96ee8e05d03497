"""HILP: losses on fixed tensors against the formulas, goal sampling, and zero-shot use."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.agents.hilp import (
    HILP,
    HILPMLP,
    GoalSampling,
    OfflineBatches,
    expectile_weight,
    gelu_tanh,
    hilbert_value,
    sample_unit_skills,
)
from workbench.datasets import OfflineData


def small_agent(**kwargs) -> HILP:
    return HILP(2, 2, 0.2, latent_dim=3, hidden=8, layers=2, device="cpu", **kwargs)


def fixed_batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    batch = {
        k: torch.randn(5, 2, generator=g) for k in ("observations", "next_observations", "goals")
    }
    batch["actions"] = torch.rand(5, 2, generator=g) * 0.4 - 0.2
    batch["success"] = torch.tensor([0.0, 1.0, 0.0, 0.0, 1.0])
    return batch


def test_hilbert_value_is_minus_the_distance_floored_at_a_millionth_squared():
    a = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[3.0, 4.0], [1.0, 1.0]])
    assert torch.allclose(hilbert_value(a, b), torch.tensor([-5.0, -1e-3]))
    weight = expectile_weight(torch.tensor([-1.0, 0.0, 2.0]), 0.95)
    assert torch.allclose(weight, torch.tensor([0.05, 0.95, 0.95]))


@pytest.mark.parametrize("layer_norm", [True, False])
def test_networks_are_the_authors_layer_for_layer(layer_norm):
    """LayerNormMLP: Linear, GELU (tanh form), LayerNorm; MLP: Linear, ReLU. Biases start at
    zero; the policy's output layer starts 100 times smaller."""
    torch.manual_seed(0)
    net = HILPMLP(2, 3, 16, 2, 4, layer_norm=layer_norm, output_scale=1e-2)
    with torch.no_grad():  # give the norms non-trivial gains so that they count
        for param in (getattr(net, "norm_gains", None), getattr(net, "norm_biases", None)):
            if param is not None:
                param.uniform_(0.5, 1.5)
    x = torch.randn(7, 3)
    for member in range(2):
        layers: list[torch.nn.Module] = []
        for i in range(3):
            linear = torch.nn.Linear(*net.weights[i].shape[1:])
            linear.weight.data = net.weights[i][member].T.clone()
            linear.bias.data = net.biases[i][member, 0].clone()
            layers.append(linear)
            if i < 2 and layer_norm:
                norm = torch.nn.LayerNorm(16, eps=1e-6)  # flax's epsilon
                norm.weight.data = net.norm_gains[i, member, 0].clone()
                norm.bias.data = net.norm_biases[i, member, 0].clone()
                layers += [torch.nn.GELU(approximate="tanh"), norm]
            elif i < 2:
                layers.append(torch.nn.ReLU())
        reference = torch.nn.Sequential(*layers)
        expected = reference(x)
        assert torch.allclose(net(x)[member], expected, atol=1e-6)
        # The norms' gains and biases are folded into the next layer's weights: the
        # gradients of every parameter are still the plain network's.
        net.zero_grad()
        (net(x)[member] ** 2).sum().backward()
        (expected**2).sum().backward()
        for i, linear in enumerate(m for m in reference if isinstance(m, torch.nn.Linear)):
            assert torch.allclose(net.weights[i].grad[member], linear.weight.grad.T, atol=1e-5)
            assert torch.allclose(net.biases[i].grad[member, 0], linear.bias.grad, atol=1e-5)
        for i, norm in enumerate(m for m in reference if isinstance(m, torch.nn.LayerNorm)):
            assert torch.allclose(net.norm_gains.grad[i, member, 0], norm.weight.grad, atol=1e-5)
            assert torch.allclose(net.norm_biases.grad[i, member, 0], norm.bias.grad, atol=1e-5)
    assert all(not b.any() for b in net.biases)
    hidden_bound = (6 / (16 + 16)) ** 0.5
    assert 0.9 * hidden_bound < net.weights[1].abs().max() <= hidden_bound
    assert net.weights[2].abs().max() <= (6e-2 / (16 + 4)) ** 0.5


def test_gelu_is_torchs_tanh_form_in_value_and_gradient():
    """Our GELU (a sigmoid in place of torch's slower tanh) is ``F.gelu(approximate="tanh")``
    to float rounding, with or without gradients, and its hand-written backward is exact."""
    x = torch.linspace(-12, 12, 20_001, requires_grad=True)
    reference = torch.nn.functional.gelu(x, approximate="tanh")
    ours = gelu_tanh(x)
    assert torch.allclose(ours, reference, atol=2e-6, rtol=1e-6)
    with torch.no_grad():
        assert torch.equal(gelu_tanh(x), ours.detach())
    (expected,) = torch.autograd.grad(reference.sum(), x)
    (found,) = torch.autograd.grad(ours.sum(), x)
    assert torch.allclose(found, expected, atol=1e-5)
    doubles = torch.randn(50, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert torch.autograd.gradcheck(gelu_tanh, (3 * doubles.requires_grad_(),))


def test_value_loss_equals_the_expectile_formula_by_hand():
    agent = small_agent()
    with torch.no_grad():  # targets differ from the online networks, as during training
        for p in agent.phi_target.parameters():
            p.add_(0.1 * torch.randn_like(p))
    batch = fixed_batch()
    loss, _ = agent.value_loss(batch)

    def v(net, s, g, i):
        return -torch.sqrt(torch.clamp(((net(s)[i] - net(g)[i]) ** 2).sum(-1), min=1e-6))

    s, s2, g = batch["observations"], batch["next_observations"], batch["goals"]
    r, mask, gamma, tau = batch["success"] - 1, 1 - batch["success"], 0.99, 0.95
    with torch.no_grad():
        next_t = [v(agent.phi_target, s2, g, i) for i in range(2)]
        v_t = (v(agent.phi_target, s, g, 0) + v(agent.phi_target, s, g, 1)) / 2
        adv = r + gamma * mask * torch.minimum(*next_t) - v_t
        w = torch.where(adv >= 0, tau, 1 - tau)
    expected = sum(
        (w * (r + gamma * mask * next_t[i] - v(agent.phi, s, g, i)) ** 2).mean() for i in range(2)
    )
    assert torch.allclose(loss, expected, atol=1e-6)


def test_skill_losses_equal_iql_with_the_hilbert_reward_by_hand():
    agent = small_agent(gamma=0.9, skill_expectile=0.8, temperature=3.0)
    batch = fixed_batch()
    z = torch.nn.functional.normalize(torch.randn(5, 3, generator=torch.Generator().manual_seed(1)))
    q_loss, v_loss, actor_loss, reward = agent.skill_losses(batch, z)

    s, s2, a = batch["observations"], batch["next_observations"], batch["actions"]
    with torch.no_grad():
        r = ((agent.phi(s2)[0] - agent.phi(s)[0]) * z).sum(-1)
        target = r + 0.9 * agent.v(torch.cat([s2, z], -1))[0, :, 0]
        q_min = agent.q_target(torch.cat([s, z, a / 0.2], -1))[..., 0].min(0).values
        v = agent.v(torch.cat([s, z], -1))[0, :, 0]
        # The authors' policy: an unsquashed Gaussian over actions in [-1, 1].
        mean = agent.actor.net(torch.cat([s, z], -1))[0]
        std = agent.actor.log_std.exp()
        log_prob = torch.distributions.Normal(mean, std).log_prob(a / 0.2).sum(-1)
        weight = torch.exp(3.0 * (q_min - v)).clamp(max=100.0)
    q = agent.q(torch.cat([s, z, a / 0.2], -1))[..., 0]
    assert torch.allclose(reward, r.mean())
    assert torch.allclose(q_loss, ((q[0] - target) ** 2).mean() + ((q[1] - target) ** 2).mean())
    w = torch.where(q_min - v >= 0, 0.8, 0.2)
    assert torch.allclose(v_loss, (w * (q_min - v) ** 2).mean())
    assert torch.allclose(actor_loss, -(weight * log_prob).mean(), atol=1e-6)


def test_an_update_changes_every_network_and_moves_the_targets_by_tau():
    agent = small_agent()
    with torch.no_grad():  # targets apart from their online networks, so that tau shows
        for target in (agent.phi_target, agent.q_target):
            for param in target.parameters():
                param.add_(torch.randn_like(param))
    networks = ("phi", "q", "v", "actor")
    before = {n: [p.detach().clone() for p in agent.modules()[n].parameters()] for n in networks}
    pairs = {"phi_target": "phi", "q_target": "q"}
    targets_before = {t: [p.clone() for p in agent.modules()[t].parameters()] for t in pairs}
    losses = agent.update(fixed_batch())
    assert all(torch.isfinite(v) for _, v in losses.items())
    for name in networks:
        after = agent.modules()[name].parameters()
        assert any(not torch.equal(a, b) for a, b in zip(before[name], after, strict=True)), name
    # target <- target + tau * (online - target), with the online network before its step
    # (the authors compute the new targets from the parameters the losses saw)
    for target, online in pairs.items():
        for old, new, online_old in zip(
            targets_before[target], agent.modules()[target].parameters(), before[online],
            strict=True,
        ):  # fmt: skip
            assert torch.allclose(new, old + 0.005 * (online_old - old), atol=1e-6), target


def reference_update(agent: HILP, batch: dict[str, torch.Tensor]) -> None:
    """The update written plainly, each network called once per input and both phi networks
    for the skill reward: what the faster :meth:`HILP.update` must compute."""
    skills = sample_unit_skills(
        len(batch["observations"]), agent.latent_dim, agent.generator, "cpu"
    )
    s, s2, g = batch["observations"], batch["next_observations"], batch["goals"]
    r, mask = batch["success"] - 1, 1 - batch["success"]
    with torch.no_grad():
        next_v = hilbert_value(agent.phi_target(s2), agent.phi_target(g))
        v_t = hilbert_value(agent.phi_target(s), agent.phi_target(g)).mean(0)
        adv = r + agent.gamma * mask * next_v.min(0).values - v_t
        targets = r + agent.gamma * mask * next_v
        phi_s, phi_next = agent.phi(s)[0], agent.phi(s2)[0]
        reward = ((phi_next - phi_s) * skills).sum(-1)
        inputs, next_inputs = torch.cat([s, skills], -1), torch.cat([s2, skills], -1)
        state_actions = torch.cat([inputs, batch["actions"] / agent.max_action], -1)
        q_target = reward + agent.gamma * agent.v(next_inputs)[0, :, 0]
        min_q = agent.q_target(state_actions)[..., 0].min(0).values
    v = hilbert_value(agent.phi(s), agent.phi(g))
    value_loss = (expectile_weight(adv, agent.expectile) * (targets - v) ** 2).mean(-1).sum()
    q_loss = ((agent.q(state_actions)[..., 0] - q_target) ** 2).mean(-1).sum()
    skill_v = agent.v(inputs)[0, :, 0]
    v_loss = (
        expectile_weight(min_q - skill_v, agent.skill_expectile) * (min_q - skill_v) ** 2
    ).mean()
    weight = torch.exp((min_q - skill_v.detach()) * agent.temperature).clamp(max=agent.max_weight)
    log_prob = agent.actor.distribution(inputs).log_prob(batch["actions"] / 0.2).sum(-1)
    optimizers = [m for m in agent.modules().values() if isinstance(m, torch.optim.Optimizer)]
    for optimizer in optimizers:
        optimizer.zero_grad()
    (value_loss + q_loss + v_loss - (weight * log_prob).mean()).backward()
    with torch.no_grad():
        for target, online in ((agent.phi_target, agent.phi), (agent.q_target, agent.q)):
            for t, o in zip(target.parameters(), online.parameters(), strict=True):
                t.lerp_(o, agent.tau)
    for optimizer in optimizers:
        optimizer.step()


def assert_same_weights(agent: HILP, other: HILP) -> None:
    """Every network's weights (targets included) equal, to float rounding."""
    for name, module in agent.modules().items():
        if isinstance(module, torch.nn.Module):
            theirs = other.modules()[name].state_dict().values()
            for (key, a), b in zip(module.state_dict().items(), theirs, strict=True):
                assert torch.allclose(a, b, atol=1e-6), f"{name}.{key}"


def test_the_update_computes_what_the_plain_update_does():
    """The first phi network alone for the skill reward, phi(s) shared with the value loss
    and the norms folded into the next layers change the speed only: every weight and target after three updates
    is the plain update's (to float rounding)."""
    fast, plain = small_agent(), small_agent()
    g = torch.Generator().manual_seed(3)
    for _ in range(3):
        batch = fixed_batch()
        batch["goals"] = torch.randn(5, 2, generator=g)  # new goals, so that each step differs
        fast.update(batch)
        reference_update(plain, batch)
    assert_same_weights(fast, plain)
    # phi's output bias cancels in every phi(s) - phi(g): its gradient is exactly zero.
    assert not fast.phi.biases[-1].any()
    first = next(iter(fast.modules()["phi"].parameters()))
    assert not torch.allclose(first, next(iter(small_agent().phi.parameters())))  # it moved


@pytest.mark.slow
def test_a_compiled_agent_updates_as_the_eager_one_does():
    """``compile=True`` fuses the elementwise work (the speed part of bench_hilp.py): the
    same losses and, after three updates, the same weights, to float rounding."""
    compiled, eager = small_agent(compile=True), small_agent()
    g = torch.Generator().manual_seed(3)
    for _ in range(3):
        batch = fixed_batch()
        batch["goals"] = torch.randn(5, 2, generator=g)
        ours, theirs = compiled.update(batch), eager.update(batch)
        for (field, a), (_, b) in zip(ours.items(), theirs.items(), strict=True):
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-6), field
    assert_same_weights(compiled, eager)
    assert compiled.losses is not compiled.eager_losses  # it did go through the compiler


def test_compile_without_a_cpp_compiler_is_refused_with_what_to_do(monkeypatch):
    import shutil

    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ValueError, match=r"C\+\+ compiler .* train without compile"):
        small_agent(compile=True)
    small_agent()  # without compile nothing is needed


def test_actions_are_the_mean_clipped_to_the_box():
    agent = small_agent()
    observations, skills = np.zeros((3, 2), np.float32), np.zeros((3, 3), np.float32)
    with torch.no_grad():
        agent.actor.net.weights[-1].zero_()
        agent.actor.net.biases[-1].copy_(torch.tensor([5.0, -5.0]))
    np.testing.assert_allclose(agent.act(observations, skills), [[0.2, -0.2]] * 3, rtol=1e-6)
    with torch.no_grad():
        agent.actor.net.biases[-1].copy_(torch.tensor([0.5, -0.25]))
    np.testing.assert_allclose(agent.act(observations, skills), [[0.1, -0.05]] * 3, rtol=1e-6)


def test_weights_of_the_older_network_layout_are_refused():
    state = small_agent().state_dict()
    small_agent().load_state_dict(state)
    del state["network_format"]  # as saved before the authors' layer order
    with pytest.raises(ValueError, match=r"network format 1.*start a new run"):
        small_agent().load_state_dict(state)
    # Nor does a fork load them, though it skips what does not fit.
    from types import SimpleNamespace

    from workbench.trainers.hilp import HILPTrainer

    trainer = SimpleNamespace(agent_=small_agent())
    with pytest.raises(ValueError, match=r"network format 1"):
        HILPTrainer.load_state_dict(trainer, {"agent": state}, strict=False)


def test_target_rate_and_discount_are_hot_knobs_that_reach_the_agent():
    from types import SimpleNamespace

    from workbench.trainers.hilp import HILPConfig, HILPTrainer

    config = HILPConfig(tau=0.02, gamma=0.95)
    trainer = SimpleNamespace(agent_=small_agent(), config=config)
    HILPTrainer.apply(trainer, {"tau": 0.02, "gamma": 0.95})
    assert (trainer.agent_.tau, trainer.agent_.gamma) == (0.02, 0.95)
    assert HILPConfig.param["tau"].metadata["hot"]
    with pytest.raises(ValueError):
        HILPConfig(tau=0.0)


def chain_data(episodes: int = 4, length: int = 50) -> OfflineData:
    """Episodes along a line: state t of episode e is (e, t)."""
    states = np.concatenate(
        [np.stack([np.full(length + 1, e), np.arange(length + 1)], 1) for e in range(episodes)]
    ).astype(np.float32)
    offsets = np.arange(episodes) * (length + 1)
    return OfflineData(
        name="chain", env_id=None, states=states,
        actions=np.zeros((episodes * length, 2), np.float32),
        state_index=np.concatenate([o + np.arange(length) for o in offsets]),
        final_index=np.repeat(offsets + length, length),
    )  # fmt: skip


def test_goal_sampling_follows_the_configured_proportions_and_offsets():
    batches = OfflineBatches(chain_data(), torch.device("cpu"), seed=0)
    batch = batches.sample(20_000, GoalSampling(trajectory=0.625, gamma=0.9))
    trajectory = batch["goal_kind"].bool()
    assert abs(trajectory.float().mean().item() - 0.625) < 0.015
    obs, goals = batch["observations"], batch["goals"]
    same = goals[trajectory, 0] == obs[trajectory, 0]
    assert same.all()  # trajectory goals lie in the same episode...
    offset = goals[trajectory, 1] - obs[trajectory, 1]
    assert (offset >= 1).all()  # ...strictly later, never past its end
    assert (goals[trajectory, 1] <= 50).all()
    # Geometric(1 - gamma) offsets, truncated at the episode's end: mean below 1 / (1 - gamma).
    untruncated = offset[obs[trajectory, 1] < 10]
    assert 8.0 < untruncated.float().mean().item() < 11.0
    assert batch["success"].sum() < 0.02 * len(batch["success"])
    assert torch.equal(batch["next_observations"][:, 1], obs[:, 1] + 1)


def test_zero_shot_prompts_point_where_they_should():
    agent = small_agent()
    rng = np.random.default_rng(0)
    s = rng.normal(size=(500, 2)).astype(np.float32)
    s2 = s + rng.normal(scale=0.1, size=(500, 2)).astype(np.float32)
    true_z = np.array([0.6, -0.8, 0.0], dtype=np.float32)
    # A reward of the state reached (the default) and one of the movement (``"diff"``).
    state_reward = agent.embed(s2) @ true_z
    assert np.allclose(agent.reward_skill(s, s2, state_reward), true_z, atol=1e-4)
    movement_reward = (agent.embed(s2) - agent.embed(s)) @ true_z
    assert np.allclose(agent.reward_skill(s, s2, movement_reward, "diff"), true_z, atol=1e-4)
    assert not np.allclose(agent.reward_skill(s, s2, movement_reward), true_z, atol=0.1)
    # Towards each goal: the unit vector from phi(s) to phi(g).
    goal_z = agent.goal_skill(s[:3], s2[:3])
    direction = agent.embed(s2[:3]) - agent.embed(s[:3])
    expected = direction / np.linalg.norm(direction, axis=1, keepdims=True)
    np.testing.assert_allclose(goal_z, expected, atol=1e-5)


def test_reward_prompts_centre_phi_so_a_constant_in_the_reward_changes_nothing():
    """The authors fit z on phi minus its mean. A reward of non-zero mean (here the reward
    of a direction plus a constant, as a reward positive everywhere has) then gives the
    direction's z; the uncentred fit spends z on the constant and points elsewhere."""
    agent = small_agent()
    rng = np.random.default_rng(1)
    s = rng.uniform(-3, 3, size=(2_000, 2)).astype(np.float32)
    s2 = s + rng.uniform(-0.2, 0.2, size=(2_000, 2)).astype(np.float32)
    true_z = np.array([0.6, -0.8, 0.0], dtype=np.float32)
    phi2 = agent.embed(s2)
    assert np.linalg.norm(phi2.mean(0)) > 0.1  # phi has a mean for the constant to leak into
    rewards = phi2 @ true_z + 2.0
    centred = agent.reward_skill(s, s2, rewards)
    uncentred = agent.reward_skill(s, s2, rewards, centre=False)
    np.testing.assert_allclose(centred, true_z, atol=1e-4)
    assert uncentred @ true_z < 0.5, uncentred  # measured -0.63: a wrong skill
    # Centred, the reward without its constant gives the same z.
    np.testing.assert_allclose(agent.reward_skill(s, s2, rewards - 2.0), centred, atol=1e-4)
    # In the movement form both terms lose the same mean (the authors' code): no change.
    movement = (phi2 - agent.embed(s)) @ true_z
    np.testing.assert_array_equal(
        agent.reward_skill(s, s2, movement, "diff"),
        agent.reward_skill(s, s2, movement, "diff", centre=False),
    )


@pytest.mark.parametrize("bad", [{"trajectory": 1.5}, {"gamma": 1.0}])
def test_goal_sampling_refuses_out_of_range_settings(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        GoalSampling(**bad)
