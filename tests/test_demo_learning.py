"""The dashboard's demo run learns: its settings take PPO to the U-maze's goal quickly."""

from __future__ import annotations

import pytest

from widgets.default_runs import DEMO_KNOBS
from workbench.runs import Run, RunStore

# 12 PPO rollouts of 4 envs x 512 steps. With seed 0 the deterministic rollout first
# reaches the goal after 9 rollouts (measured: step 18,436), and stays there.
STEPS = 12 * 2_048
EVAL_EVERY = 2_048  # one deterministic evaluation rollout per PPO rollout


@pytest.mark.slow
# 47 s on two cores at load average 6 (2026-12-03); at load 10 it takes several times longer.
@pytest.mark.timeout(900)
def test_demo_settings_reach_the_umaze_goal_within_a_small_budget(tmp_path):
    store = RunStore(tmp_path)
    run = Run.create(
        "sb3",
        store=store,
        **{**DEMO_KNOBS, "total_timesteps": STEPS, "eval_every": EVAL_EVERY},
        checkpoint_every=0,
        seed=0,
    )
    run.start("subprocess")  # as the dashboard starts the demo (one torch thread)
    try:
        assert run.wait(timeout=850) == "finished", run.record.message
    finally:
        run.stop(wait=30)
    _, returns = run.scalars("eval/return")
    _, success = run.scalars("eval/success")
    # Untrained, the policy stays near the start: about -700 (200 steps at up to 4.4 from
    # the goal). Walking straight to the goal and staying there returns about -50.
    assert returns[0] < -500, returns
    assert returns[-3:].max() > returns[0] + 400, returns
    # It reaches the goal, after not reaching it at first.
    assert success[0] == 0 and success[-3:].any(), success
