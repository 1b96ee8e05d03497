"""Reward design, live: an SB3 run on a reward written as terms and a formula, edited mid-run."""

from __future__ import annotations

import time

import numpy as np
import pytest

from workbench.runs import KnobError, Run
from workbench.trainers.reward_design import RewardConfig, reward_spec

STEPS_PER_EPISODE = 200  # the U-maze's episodes (dense reward: no early end)


def test_a_hot_reward_edit_rewards_the_agent_from_the_recorded_step_on(store):
    # -1 per step, then +2 per step: an episode's return says how many of its steps came
    # after the change, to the step.
    run = Run.create(
        "reward", store=store, total_timesteps=10**7, eval_every=10**6, checkpoint_every=0,
        n_envs=2, net_width=16, w_goal_distance=0.0, w_time=1.0,
    )  # fmt: skip
    run.start()
    run.wait_for_step(3 * STEPS_PER_EPISODE * 2 + 100, timeout=300)
    run.update(w_time=0.0, reward_expression="2")
    deadline = time.monotonic() + 120
    while not store.events(run.id, "knob") and time.monotonic() < deadline:
        time.sleep(0.05)  # the change is recorded at the step that applies it
    change = store.events(run.id, "knob")[0][1]
    run.wait_for_step(change + 3 * STEPS_PER_EPISODE * 2, timeout=300)
    assert run.stop() == "stopped"
    ends, returns = run.scalars("charts/episodic_return")
    # Copies step together: global steps advance by n_envs; each copy ends an episode
    # every 200 of its own steps.
    after = np.clip((ends - change) // 2, 0, STEPS_PER_EPISODE)
    expected = -(STEPS_PER_EPISODE - after) + 2.0 * after
    np.testing.assert_allclose(returns, expected)
    assert (returns == -200).sum() >= 4 and (returns == 400).sum() >= 4
    # The new reward's map is recorded at the edit, not only at the next evaluation.
    landscapes = [step for _, step in store.snapshots(run.id, "landscape")]
    assert change in landscapes or change + 2 in landscapes


def test_the_landscape_snapshot_draws_the_reward_in_force_and_the_values(store):
    run = Run.create(
        "reward", store=store, total_timesteps=2_000, eval_every=1_000, checkpoint_every=0,
        n_envs=2, net_width=16, w_goal_distance=0.0, w_progress=1.0,
    )  # fmt: skip
    run.start()
    assert run.wait(timeout=300) == "finished", run.record.message
    snapshot = store.load_snapshot(run.id, "landscape")
    reward, value = snapshot["reward"], snapshot["value"]
    assert reward.shape == value.shape == (len(snapshot["ys"]), len(snapshot["xs"]))
    assert np.isnan(reward).any() and np.isfinite(reward).mean() > 0.2  # walls masked
    # Progress along x of a random action: about 0 on open floor, negative against an
    # east wall (moves east are stopped) — the map varies and stays within one step.
    free = reward[np.isfinite(reward)]
    assert np.abs(free).max() <= 0.2 + 1e-6 and free.std() > 0
    assert bytes(snapshot["formula"]).decode() == "1.0·progress(x)"
    assert np.isfinite(value[np.isfinite(reward)]).all()


def test_a_formula_that_is_not_allowed_is_refused_naming_it_and_changes_nothing(store):
    for text, named in [
        ("__import__('os').system('x')", "__import__"),
        ("x.__class__", "attribute"),
        ("open('f')", "open"),
        ("x +", "syntax"),
        ("velocity * 2", "velocity"),
    ]:
        with pytest.raises(KnobError) as caught:
            Run.create("reward", store=store, reward_expression=text)
        message = str(caught.value)
        assert "\n" not in message and "reward_expression" in message, message
        assert named.lower() in message.lower(), message
    with pytest.raises(KnobError, match="goal"):  # no goal without a goal task
        Run.create("reward", store=store, reward_mode="none")
    assert store.list_runs() == []
    run = Run.create("reward", store=store, total_timesteps=10**7, eval_every=0, n_envs=1)
    run.start()
    run.wait_for_step(100, timeout=120)
    with pytest.raises(KnobError, match="region_box"):
        run.update(region_box="1, 2, 3")
    with pytest.raises(KnobError, match="reward_expression"):
        run.update(reward_expression="lambda: 1")
    # Parsed, but not finite where x < 2 in the maze: refused before the run sees it.
    with pytest.raises(KnobError, match=r"log\(x - 2\).*not finite"):
        run.update(reward_expression="log(x - 2)")
    assert run.record.config["reward_expression"] == "" and store.events(run.id, "knob") == []
    assert run.stop() == "stopped"


def test_the_config_describes_its_reward():
    config = RewardConfig(w_goal_distance=0.5, w_time=0.1, reward_expression="dx - 0.1 * speed")
    spec = reward_spec(config)
    assert spec.describe() == "0.5·goal_distance + 0.1·time + 1.0·(dx - 0.1 * speed)"
    obs, actions = np.array([[1.0, 1.0]]), np.array([[0.2, 0.0]])
    reward = spec.evaluate(obs, actions, obs + actions, goal=(3.0, 1.0))
    assert reward[0] == pytest.approx(0.5 * -1.8 - 0.1 + 0.2 - 0.1 * 0.2)
