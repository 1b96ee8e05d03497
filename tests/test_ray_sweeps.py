"""The Ray executor, sweeps and PBT against a real Ray: a two-node cluster started on this
machine with Ray's own test utility (a head node and a second node, one CPU each), which
every test in this module shares (Ray takes seconds to start)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="the distributed extra (make venv installs it)")

from workbench.runs import Run, RunStore  # noqa: E402
from workbench.runs.statistics import (  # noqa: E402
    group_by_config,
    metrics,
    rly,
    score_table,
    seed_statistics,
)
from workbench.runs.sweeps import SweepError, SweepSpec, run_sweep, start_sweep  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    """A head node and a second node, each with its own CPU; this process is the driver."""
    from ray.cluster_utils import Cluster

    from workbench.runs.ray_executor import connect

    if ray.is_initialized():
        ray.shutdown()
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    nodes.add_node(num_cpus=1)
    nodes.wait_for_nodes()
    connect(address=nodes.address)
    yield nodes
    ray.shutdown()
    nodes.shutdown()


def _regression_sweep(store: RunStore, **changes) -> SweepSpec:
    spec = {
        "trainer": "regression",
        "base": {"total_steps": 300, "checkpoint_every": 100},
        "params": ["learning_rate=loguniform:1e-3:1e-1"],
        "samples": 2,
        "seeds": 2,
        "metric": "losses/mse",
        "mode": "min",
        **changes,
    }
    return SweepSpec(**spec)


def _workers(store: RunStore, run_id: str) -> list[dict]:
    return [payload for _, _, _, payload in store.events(run_id, "worker")]


def test_a_run_on_ray_reports_through_the_driver_and_is_steered_like_any_run(cluster, store):
    run = Run.create(
        "regression", store=store, total_steps=100_000, step_delay=0.002, checkpoint_every=200
    )
    run.start(executor="ray")
    assert run.wait_for_step(300, timeout=60) >= 300
    run.update(learning_rate=0.05)
    assert run.stop() == "stopped"
    stopped_at = run.step
    assert store.checkpoints(run.id)[-1][0] == stopped_at  # checkpointed on the way out
    knob_events = store.events(run.id, "knob")
    assert knob_events and knob_events[-1][3]["changes"] == {"learning_rate": 0.05}
    assert len(store.scalars(run.id, "losses/mse")) >= 300
    # The worker ran in another process, not this driver.
    assert _workers(store, run.id)[0]["pid"] != os.getpid()
    # Resumed at once on Ray, from its checkpoint.
    run.resume("ray")
    assert run.wait_for_step(stopped_at + 50, timeout=60) >= stopped_at + 50
    assert run.stop() == "stopped"


def test_a_sweep_trains_every_seed_of_each_configuration_on_both_nodes(cluster, store):
    sweep = start_sweep(store, _regression_sweep(store), name="lr")
    sweep = run_sweep(store, sweep)
    assert sweep.state == "finished", sweep.message
    runs = store.list_runs(sweep.id)
    assert len(runs) == 4 and all(r.state == "finished" and r.step == 300 for r in runs)
    groups = group_by_config(runs)
    assert len(groups) == 2  # two learning rates, each with seeds 0 and 1
    assert all(sorted(r.config["seed"] for r in group) == [0, 1] for group in groups.values())
    nodes = {_workers(store, r.id)[0]["node"] for r in runs}
    assert len(nodes) == 2, "trials ran on one node only"
    # Seed statistics of the sweep's runs are rliable's on the same scores.
    scores = score_table(store, runs, "losses/mse")
    ours = seed_statistics(scores, reps=500, seed=3)
    key = next(iter(scores))
    np.random.seed(3)
    point, interval = rly.get_interval_estimates(
        {key: scores[key]}, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=500
    )
    assert ours[key].iqm == pytest.approx(point[key][0], abs=1e-12)
    assert ours[key].ci_low == pytest.approx(interval[key][0, 0], abs=1e-12)


def test_bad_sweeps_are_refused_before_anything_is_recorded(store):
    with pytest.raises(SweepError, match="not a knob"):
        _regression_sweep(store, params=["lr=uniform:0.1:0.2"])
    with pytest.raises(SweepError, match="structural"):
        _regression_sweep(store, params=["width=choice:8,16"], scheduler="pbt", seeds=1)
    with pytest.raises(SweepError, match=r"learning_rate must be in \[1e-06"):
        _regression_sweep(store, params=["learning_rate=uniform:1e-9:0.1"])
    with pytest.raises(SweepError, match="--seeds 1"):
        _regression_sweep(store, search="optuna")
    assert store.list_sweeps() == []


def test_a_killed_trial_worker_resumes_its_run_from_the_checkpoint_with_its_scalars(cluster, store):
    spec = _regression_sweep(
        store,
        base={"total_steps": 1200, "checkpoint_every": 200, "step_delay": 0.005},
        params=["learning_rate=choice:0.01"],
        samples=1,
        seeds=1,
    )
    sweep = start_sweep(store, spec, name="kill")
    result: dict = {}
    driver = threading.Thread(target=lambda: result.update(s=run_sweep(store, sweep)))
    driver.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = store.list_runs(sweep.id)
        if runs and store.checkpoints(runs[0].id) and runs[0].step >= 500:
            break
        time.sleep(0.1)
    (run,) = store.list_runs(sweep.id)
    checkpoint_step = store.checkpoints(run.id)[-1][0]
    kept = store.scalars(run.id, "losses/mse")
    kept = [row for row in kept if row[1] <= checkpoint_step]
    os.kill(_workers(store, run.id)[-1]["pid"], signal.SIGKILL)
    driver.join(timeout=180)
    assert not driver.is_alive()
    run = store.get_run(run.id)
    assert run.state == "finished" and run.step == 1200, run.message
    assert len(_workers(store, run.id)) == 2  # Tune started it again, in a new worker
    logs = " ".join(payload["text"] for *_, payload in store.events(run.id, "log"))
    assert "its worker failed" in logs and "restarted the trial from its checkpoint" in logs
    # Every row logged up to the checkpoint it resumed from is still on the live branch.
    live = {row[0] for row in store.scalars(run.id, "losses/mse")}
    assert {row[0] for row in kept} <= live


def test_pbt_of_four_sb3_trials_exploits_and_the_lineage_records_the_fork(cluster, store):
    spec = SweepSpec(
        trainer="sb3",
        base={
            "env_id": "workbench/PointMaze-UMaze-v0",
            "n_envs": 2,
            "net_width": 16,
            "total_timesteps": 4096,
            "eval_every": 0,
        },
        params=["learning_rate=loguniform:1e-5:3e-3"],
        samples=4,
        metric="charts/episodic_return",
        scheduler="pbt",
        perturbation_interval=1024,
        cpus_per_trial=0.5,
    )
    sweep = run_sweep(store, start_sweep(store, spec, name="pbt"))
    runs = store.list_runs(sweep.id)
    forks = [r for r in runs if r.parent_id is not None]
    assert forks, "no exploit happened"
    child = forks[0]
    donor = store.get_run(child.parent_id)
    assert donor.sweep_id == sweep.id and child.fork_step in [
        s for s, _ in store.checkpoints(donor.id)
    ]
    fork_events = [p for _, _, _, p in store.events(donor.id, "fork") if p["child"] == child.id]
    assert fork_events and fork_events[0]["by"] == "pbt exploit"
    explore = store.events(child.id, "knob")[0]
    assert explore[1] == child.fork_step and explore[3]["by"] == "pbt explore"
    assert explore[3]["changes"]["learning_rate"] == child.config["learning_rate"]
    # The child's curve goes on from the fork step.
    steps = [row[1] for row in store.scalars(child.id, "charts/episodic_return")]
    assert steps and min(steps) > child.fork_step
    # The run the exploited trial left says why it stopped.
    replaced = [r for r in runs if r.trial == child.trial and r.id != child.id]
    assert replaced and "PBT exploit" in replaced[0].message


def test_an_interrupted_sweep_leaves_readable_runs_and_resumes(cluster, tmp_path):
    home = tmp_path / "home"
    command = [
        sys.executable, "-m", "workbench.cli", "--home", str(home), "sweep", "regression",
        "--set", "total_steps=1200", "--set", "step_delay=0.004", "--set", "checkpoint_every=200",
        "--param", "learning_rate=choice:0.01,0.02", "--metric", "losses/mse", "--mode", "min",
        "--ray-address", cluster.address, "--json",
    ]  # fmt: skip
    sweep_process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    store = RunStore(home)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = store.list_runs()
        if runs and any(r.step >= 300 for r in runs):
            break
        time.sleep(0.2)
    sweep_process.send_signal(signal.SIGINT)
    output, _ = sweep_process.communicate(timeout=120)
    assert sweep_process.returncode == 130, output
    (sweep,) = store.list_sweeps()
    assert store.get_sweep(sweep.id).state == "interrupted"
    runs = store.list_runs(sweep.id)
    assert runs and all(r.state in ("stopped", "finished") for r in runs)
    assert all(r.step < 1200 for r in runs if r.state == "stopped")
    resumed = subprocess.run(
        [*command[:5], "sweep", "--resume", sweep.id, "--ray-address", cluster.address, "--json"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    runs = store.list_runs(sweep.id)
    assert {r.step for r in runs if r.state == "finished"} == {1200}
    assert store.get_sweep(sweep.id).state == "finished"
