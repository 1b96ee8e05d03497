"""The Ray executor, sweeps and PBT against a real Ray: a two-node cluster started on this
machine with Ray's own test utility (a head node and a second node, one CPU each), which
every test in this module shares (Ray takes seconds to start)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from playwright.sync_api import expect, sync_playwright

ray = pytest.importorskip("ray", reason="the distributed extra (make venv installs it)")

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, heading_look  # noqa: E402
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
    """A head node and a second node, each with its own CPU and training slot (as
    docs/scaling.md starts them); this process is the driver."""
    from ray.cluster_utils import Cluster

    from workbench.runs.ray_executor import TRAINING_SLOT, connect

    if ray.is_initialized():
        ray.shutdown()
    one_cpu = {"num_cpus": 1, "resources": {TRAINING_SLOT: 1}}
    nodes = Cluster(initialize_head=True, head_node_args=one_cpu)
    nodes.add_node(**one_cpu)
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


def test_the_store_actor_outlives_the_handles_given_out(cluster, store):
    """A sweep's trials drop their handles to the store actor when the sweep ends; a run
    started next by the same driver must find it alive (it found it dying: ActorDiedError)."""
    import gc

    from workbench.runs.ray_executor import store_server

    server = store_server(store.home)
    first = server._actor_id
    assert ray.get(server.call.remote("list_runs")) == []
    del server
    gc.collect()
    time.sleep(2)  # Ray destroys an actor without references within about a second
    again = store_server(store.home)
    assert again._actor_id == first
    assert ray.get(again.call.remote("list_runs")) == []


def test_a_workers_frequent_writes_land_in_order_and_a_failed_one_is_raised_next(cluster, store):
    """Scalars and snapshots go to the store actor without waiting for its answer: they
    must still land in the order they were made, and a write that failed must not pass in
    silence (the worker's next store call raises it)."""
    from workbench.runs.ray_executor import StoreProxy, store_server

    run_id = store.create_run("writes", "regression", {}).id
    proxy = StoreProxy(store_server(store.home), store.home)
    for step in range(1, 21):
        proxy.add_scalars(run_id, [(step, "loss", 1.0 / step)], step=step)
        proxy.add_snapshot(run_id, step, "fit", {"y": np.full(3, step)})
    assert proxy.get_run(run_id).step == 20  # a read settles the write in flight
    assert [step for _, step in store.snapshots(run_id, "fit")] == list(range(1, 21))
    assert [step for _, step, _, _ in store.scalars(run_id, "loss")] == list(range(1, 21))
    assert store.load_snapshot(run_id, "fit")["y"][0] == 20
    proxy.add_scalars(run_id, [(21, "loss", "not a number")])
    with pytest.raises(ray.exceptions.RayTaskError, match="not a number"):
        proxy.get_run(run_id)
    assert len(store.scalars(run_id, "loss")) == 20  # what was written before is kept
    proxy.add_scalars(run_id, [(21, "loss", 0.01)])
    proxy.settle()
    assert len(store.scalars(run_id, "loss")) == 21


def test_runs_on_ray_train_no_more_at_once_than_there_are_cpus(cluster, store):
    """Three runs on two CPUs: the third starts when one ends. (A Ray task gives its CPU
    back while it waits on a store call, and Ray then started the third beside the two.)"""
    runs = [
        Run.create("regression", store=store, total_steps=1000, step_delay=0.005, seed=seed)
        for seed in range(3)
    ]
    for run in runs:
        run.start(executor="ray")
    assert all(run.wait(timeout=120) == "finished" for run in runs)
    spans = []
    for run in runs:
        rows = store.timed_scalars(run.id, "losses/mse")
        spans.append((rows[0][3], rows[-1][3]))  # first and last write
    busiest = max(sum(start <= t < end for start, end in spans) for t, _ in spans)
    assert busiest <= 2, spans


def test_workbench_train_on_a_local_ray_with_two_cpus(tmp_path):
    """No address: `--executor ray` starts a local Ray of its own (no Ray dashboard)."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    home = tmp_path / "home"
    result = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "--home", str(home), "train", "regression",
         "--executor", "ray", "--set", "total_steps=300", "--progress-every", "1"],
        capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = RunStore(home).list_runs()
    assert run.state == "finished" and run.executor == "ray" and run.step == 300
    assert "finished at step 300" in result.stdout


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


def test_asha_stops_trials_that_trail_at_a_rung_and_their_runs_say_so(cluster, store):
    """Six learning rates over three decades: ASHA (rungs at an eighth of the run, then
    four times further) lets the leaders train to the end and stops the others early."""
    spec = _regression_sweep(
        store, base={"total_steps": 800, "step_delay": 0.002}, samples=6, seeds=1,
        params=["learning_rate=loguniform:1e-4:1e-1"], scheduler="asha", cpus_per_trial=0.5,
    )  # fmt: skip
    sweep = run_sweep(store, start_sweep(store, spec, name="asha"))
    assert sweep.state == "finished", sweep.message
    runs = store.list_runs(sweep.id)
    early = [r for r in runs if r.state == "stopped"]
    assert early and all(r.message == "stopped early by the asha scheduler" for r in early)
    assert all(r.step < 800 for r in early)
    assert any(r.state == "finished" and r.step == 800 for r in runs)


def test_pb2_clones_the_leaders_and_explores_inside_the_knobs_bounds(cluster, store):
    """PB2 (PBT whose explore is a GP bandit over the bounds), two trials, one per node: the
    trailing one goes on in a fork of the leader's run at a checkpoint, with a learning rate
    the bandit chose inside the sweep's bounds, recorded as the explore. Each trial trains
    for 8 s at least: PBT compares only trials still training, and on a busy machine one
    trial's worker started seconds after the other's."""
    spec = _regression_sweep(
        store, base={"total_steps": 400, "step_delay": 0.02, "checkpoint_every": 100},
        params=["learning_rate=uniform:0.001:0.1"], samples=2, seeds=1, scheduler="pb2",
        perturbation_interval=100, quantile_fraction=0.5,
    )  # fmt: skip
    sweep = run_sweep(store, start_sweep(store, spec, name="pb2"))
    assert sweep.state == "finished", sweep.message
    runs = store.list_runs(sweep.id)
    forks = [r for r in runs if r.parent_id is not None]
    assert forks, "no exploit happened"
    for child in forks:
        donor = store.get_run(child.parent_id)
        assert child.fork_step in [step for step, _ in store.checkpoints(donor.id)]
        explore = store.events(child.id, "knob")[0][3]
        assert explore["by"] == "pb2 explore"
        assert 0.001 <= child.config["learning_rate"] <= 0.1
    assert {r.trial for r in runs if r.state == "finished"} == {r.trial for r in runs}


def test_a_trial_reports_to_tune_every_few_seconds_at_each_checkpoint_and_at_its_end(
    monkeypatch,
):
    """Each report waits for Tune's controller: not at every flush, but when one is due,
    when it carries a new checkpoint (PBT's clock), and at the run's last step."""
    from types import SimpleNamespace

    from ray import tune

    from workbench.runs.sweeps import TuneReporter

    reported = []
    settled = []  # the store proxy's settle: the report's scalars are written first
    monkeypatch.setattr(tune, "report", lambda result, checkpoint=None: reported.append(
        (result["step"], checkpoint is not None, len(settled))
    ))  # fmt: skip
    reporter = TuneReporter(
        "run", "losses/mse", last_step=500, every_s=3600, settle=lambda: settled.append(1)
    )
    ctx = SimpleNamespace(step=0, latest={"losses/mse": 1.0}, last_checkpoint_step=None)
    for step, checkpoint in ((100, None), (200, None), (300, 300), (400, 300), (500, 300)):
        ctx.step, ctx.last_checkpoint_step = step, checkpoint
        reporter(ctx)
    assert reported == [(100, False, 1), (300, True, 2), (500, False, 3)]


def test_a_knob_value_just_past_its_bound_is_brought_inside(store):
    """PB2 chose the upper bound 0.1 and handed it back as float32 0.10000000149."""
    from workbench.runs.sweeps import trial_knobs

    spec = _regression_sweep(store, params=["learning_rate=uniform:0.001:0.1"], seeds=1)
    knobs = trial_knobs(spec, {"learning_rate": np.float32(0.1)})
    assert knobs["learning_rate"] == 0.1


def test_bad_sweeps_are_refused_before_anything_is_recorded(store):
    with pytest.raises(SweepError, match="not a knob"):
        _regression_sweep(store, params=["lr=uniform:0.1:0.2"])
    with pytest.raises(SweepError, match="structural"):
        _regression_sweep(store, params=["width=choice:8,16"], scheduler="pbt", seeds=1)
    with pytest.raises(SweepError, match=r"learning_rate must be in \[1e-06"):
        _regression_sweep(store, params=["learning_rate=uniform:1e-9:0.1"])
    with pytest.raises(SweepError, match="--seeds 1"):
        _regression_sweep(store, search="optuna")
    with pytest.raises(SweepError, match=r"--quantile-fraction must lie in \(0, 0.5\]"):
        _regression_sweep(store, scheduler="pbt", seeds=1, quantile_fraction=0.75)
    assert store.list_sweeps() == []


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_killed_worker_resumes_from_its_checkpoint_and_an_interrupted_sweep_resumes(
    cluster, tmp_path
):
    """`workbench sweep` as a user runs it: a trial's worker killed with SIGKILL is restarted
    by Tune from its checkpoint, in the same run, its logged scalars intact; Ctrl-C then
    leaves every run readable and stopped, and --resume trains them to the end."""
    home = tmp_path / "home"
    command = [
        sys.executable, "-m", "workbench.cli", "--home", str(home), "sweep", "regression",
        "--set", "total_steps=1000", "--set", "step_delay=0.005", "--set", "checkpoint_every=100",
        "--param", "learning_rate=choice:0.01,0.02", "--metric", "losses/mse", "--mode", "min",
        "--ray-address", cluster.address, "--json",
    ]  # fmt: skip
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    store = RunStore(home)
    try:
        run = _wait_for(
            lambda: next(
                (r for r in store.list_runs() if r.step >= 300 and store.checkpoints(r.id)), None
            ),
            120, "a trial past step 300 with a checkpoint",
        )  # fmt: skip
        checkpoint_step = store.checkpoints(run.id)[-1][0]
        kept = {row[0] for row in store.scalars(run.id, "losses/mse") if row[1] <= checkpoint_step}
        os.kill(_workers(store, run.id)[-1]["pid"], signal.SIGKILL)
        _wait_for(lambda: len(_workers(store, run.id)) == 2, 60, "the trial's restart")
        _wait_for(lambda: store.get_run(run.id).step > checkpoint_step + 100, 60, "progress")
    finally:
        driver.send_signal(signal.SIGINT)
        output, _ = driver.communicate(timeout=120)
    logs = " ".join(payload["text"] for *_, payload in store.events(run.id, "log"))
    assert "its worker failed" in logs and "restarted the trial from its checkpoint" in logs
    # Every row logged up to the checkpoint it resumed from is still on the live branch.
    assert kept <= {row[0] for row in store.scalars(run.id, "losses/mse")}
    assert driver.returncode == 130, output
    (sweep,) = store.list_sweeps()
    assert store.get_sweep(sweep.id).state == "interrupted"
    runs = store.list_runs(sweep.id)
    assert runs and all(r.state in ("stopped", "finished") for r in runs)
    assert any(r.state == "stopped" and r.step < 1000 for r in runs)
    resumed = subprocess.run(
        [*command[:5], "sweep", "--resume", sweep.id, "--ray-address", cluster.address, "--json"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    runs = store.list_runs(sweep.id)
    assert {(r.state, r.step) for r in runs} == {("finished", 1000)}
    assert store.get_sweep(sweep.id).state == "finished"


@pytest.fixture(scope="module")
def sweep_server(tmp_path_factory):
    """``workbench serve`` (no demo run) over a fresh home, for the Sweeps page."""
    from tests.conftest import free_port, wait_for_http

    home = tmp_path_factory.mktemp("sweeps-home")
    port = free_port()
    log = home.parent / f"{home.name}-server.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "workbench.cli", "--home", str(home), "serve",
             "--port", str(port), "--no-demo"],
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/", process, log)
        yield url, home
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


# The browser's own copy of the Sweeps page's data: points of the trials' curves (the
# scalar chart's sources: step and value) and exploits drawn in the lineage.
CURVE_POINTS = """() => [...Bokeh.documents[0].all_models]
    .filter(m => m.data && m.data.step !== undefined && m.data.value !== undefined)
    .reduce((total, m) => total + m.data.step.length, 0)"""
EXPLOITS_DRAWN = """() => Math.max(0, ...[...Bokeh.documents[0].all_models]
    .filter(m => m.data && m.data.child !== undefined && m.data.changes !== undefined)
    .map(m => m.data.child.length))"""


@pytest.mark.browser
def test_pbt_of_four_sb3_trials_live_on_the_sweeps_page_with_its_lineage(cluster, sweep_server):
    """A PBT population of 4 SB3 trials: the Sweeps page shows the trials appearing and
    their curves growing, then the exploit in the lineage; in the store the exploit is a
    fork of the donor's run at the cloned checkpoint, the explore a knob event there."""
    url, home = sweep_server
    store = RunStore(home)
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
        # Three perturbation points per trial. Tune clones a donor only from the checkpoint
        # of its own last perturbation point, if it was in the top share then: with a quarter
        # of four trials, most exploits were skipped ("no checkpoint"); with half and seven
        # points, 20 exploits made 24 runs.
        perturbation_interval=1024,
        quantile_fraction=0.5,
        cpus_per_trial=0.5,
    )
    sweep = start_sweep(store, spec, name="population under test")
    driver = threading.Thread(target=run_sweep, args=(store, sweep), daemon=True)
    # A browser of this test's own, not pytest-playwright's `page`: that fixture hangs on a
    # session-wide browser parameter, and pytest then moves every browser test of the suite
    # next to this one, while this module's Ray cluster is still up.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            _watch_the_population(browser.new_page(), url, store, sweep, driver)
        finally:
            browser.close()
    runs = store.list_runs(sweep.id)
    _check_lineage_in_the_store(store, runs, [r for r in runs if r.parent_id], sweep)


def _watch_the_population(page, url: str, store: RunStore, sweep, driver) -> None:
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{url}/?page=sweeps&sweep={sweep.id}")
    header = page.locator(".sweep-header:visible")
    expect(header).to_contain_text("population under test", timeout=60_000)
    driver.start()
    expect(page.locator(".trials-table .tabulator-row")).to_have_count(4, timeout=120_000)
    first = page.evaluate(CURVE_POINTS)
    deadline = time.monotonic() + 60
    while page.evaluate(CURVE_POINTS) <= first and time.monotonic() < deadline:
        page.wait_for_timeout(1_000)
    assert page.evaluate(CURVE_POINTS) > first, "the trials' curves did not grow"
    driver.join(timeout=240)
    assert not driver.is_alive()
    runs = store.list_runs(sweep.id)
    forks = [r for r in runs if r.parent_id is not None]
    assert forks, "no exploit happened"
    deadline = time.monotonic() + 120
    while page.evaluate(EXPLOITS_DRAWN) < len(forks) and time.monotonic() < deadline:
        page.wait_for_timeout(1_000)
    drawn = page.evaluate(EXPLOITS_DRAWN)
    assert drawn == len(forks), f"the lineage draws {drawn} of {len(forks)} exploits; {problems}"
    # The table follows the states: every trial's last run finished.
    finished = page.locator(".trials-table .tabulator-cell", has_text=re.compile("^finished$"))
    expect(finished).to_have_count(4, timeout=30_000)
    # The header looks the same after the tab is revisited (its heading was 28 px with pink
    # code on a first load and 14 px with blue code after a revisit: whichever of Panel's
    # and Bootstrap's stylesheets reached the pane last won).
    first_look = heading_look(page, header, "h3")
    page.locator(".bk-tab", has_text="Runs").click()
    page.locator(".bk-tab", has_text="Sweeps").click()
    expect(header).to_contain_text("population under test", timeout=30_000)
    assert heading_look(page, header, "h3") == first_look
    # For a look at the page: SWEEPS_SCREENSHOT=path.png pytest -k sweeps_page
    if os.environ.get("SWEEPS_SCREENSHOT"):
        page.set_viewport_size({"width": 1400, "height": 2200})
        page.wait_for_timeout(3_000)
        page.screenshot(path=os.environ["SWEEPS_SCREENSHOT"], full_page=True)
    assert problems == []


def _check_lineage_in_the_store(store: RunStore, runs: list, forks: list, sweep) -> None:
    child = forks[0]
    donor = store.get_run(child.parent_id)
    assert donor.sweep_id == sweep.id
    assert child.fork_step in [step for step, _ in store.checkpoints(donor.id)]
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
