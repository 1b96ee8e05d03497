"""The stable-baselines3 bridge: SB3 algorithms as live runs."""

from __future__ import annotations

import time

import numpy as np
import pytest
from stable_baselines3 import SAC

from workbench.runs import KnobError, Run


def test_ppo_on_the_plane_learns_to_move_right_and_streams_sb3_metrics(store):
    run = Run.create(
        "sb3",
        store=store,
        env_id="workbench/Plane-v0",
        total_timesteps=20_000,
        eval_every=4_000,
        seed=1,
    )
    run.start()
    assert run.wait(timeout=240) == "finished", run.record.message
    _, returns = run.scalars("eval/return")
    # A random or untrained policy nets about 0; the best possible is 200 * 0.2 = 40.
    assert abs(returns[0]) < 5 and returns[-1] > 30
    names = store.scalar_names(run.id)
    for name in (
        "train/loss",
        "train/learning_rate",
        "rollout/ep_rew_mean",
        "charts/episodic_return",
    ):
        assert name in names
    rollout = store.load_snapshot(run.id, "rollout")
    assert rollout["positions"].shape == (201, 2)
    assert rollout["positions"][-1, 0] > 30  # the last evaluation ran right
    assert store.checkpoints(run.id)[-1][0] == 20_000


def test_hot_knobs_reach_the_sb3_model_at_the_next_step(store):
    run = Run.create("sb3", store=store, total_timesteps=10**7, eval_every=0)
    run.start()
    # Wait for PPO's first logged learning rate (train/* rows are written one rollout
    # after the update that made them), however slowly a busy machine gets there.
    deadline = time.monotonic() + 600
    while not len(run.scalars("train/learning_rate")[0]) and time.monotonic() < deadline:
        time.sleep(0.2)
    run.update(learning_rate=1e-4, ent_coef=0.05, gamma=0.9, clip_range=0.1)
    deadline_step = run.step + 8_000  # train/* rows of the changed update come a rollout late
    assert run.wait_for_step(deadline_step, timeout=600) >= deadline_step
    model = run.agent
    assert model.ent_coef == 0.05 and model.gamma == 0.9 and model.rollout_buffer.gamma == 0.9
    assert model.clip_range(1.0) == 0.1
    steps, rates = run.scalars("train/learning_rate")
    change_step = store.events(run.id, "knob")[0][1]
    assert rates[steps < change_step].max() == pytest.approx(3e-4)
    assert rates[-1] == pytest.approx(1e-4)
    with pytest.raises(KnobError, match="net_width is structural"):
        run.update(net_width=128)
    assert run.stop() == "stopped"


def test_sac_entropy_coefficient_is_hot(store):
    run = Run.create(
        "sb3",
        store=store,
        algorithm="SAC",
        total_timesteps=10**7,
        eval_every=0,
        n_envs=1,
        net_width=32,
    )
    run.start()
    run.wait_for_step(300, timeout=120)
    run.update(ent_coef=0.3)
    run.wait_for_step(run.step + 200, timeout=120)
    assert isinstance(run.agent, SAC)
    assert float(run.agent.ent_coef_tensor) == pytest.approx(0.3)
    run.stop()


def test_stopped_sb3_run_resumes_at_its_checkpoint_timestep(store):
    run = Run.create("sb3", store=store, total_timesteps=10**7, eval_every=0)
    run.start()
    run.wait_for_step(2_500, timeout=120)
    run.pause()
    assert run.wait(states=("paused",), timeout=30) == "paused"
    assert run.stop() == "stopped"
    stopped_at = store.checkpoints(run.id)[-1][0]
    run.resume()
    run.wait_for_step(stopped_at + 2_048, timeout=120)
    assert run.agent.num_timesteps > stopped_at
    run.stop()
    steps, _ = run.scalars("time/total_timesteps")
    assert np.all(np.diff(steps) > 0)  # one timeline, no restart from zero
