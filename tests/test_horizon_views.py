"""The Horizon page's components without a browser: what each draws is the analysis'
own numbers, at the right cells, and bad input ends in the status line."""

from __future__ import annotations

import time

import numpy as np
import pytest

from widgets.horizon import BoundChart, HorizonSweep, HorizonView, LookaheadMap, grid_layout
from workbench.horizon import HorizonMDP, load_mdp, lookahead_map, value_functions
from workbench.horizon.sweeps import default_horizons, horizon_sweep, with_horizon

CLIFF = "workbench/GridWorld-Cliff-v0"
SLIPPERY = "workbench/GridWorld-SlipperyCliff-v0"


def _gridworld(source: str):
    import gymnasium as gym

    import environments  # noqa: F401

    return gym.make(source).unwrapped.mdp


@pytest.mark.parametrize("t", [0, 10, 20])
def test_lookahead_map_puts_each_states_least_k_at_its_own_cell(t):
    mdp = load_mdp(SLIPPERY)
    view = LookaheadMap(t=t)
    view.show(mdp)
    least, gap = view.grids()
    expected = lookahead_map(mdp, t=t)
    values = value_functions(mdp)
    grid = _gridworld(SLIPPERY)
    assert least.shape == grid.free.shape
    for s, (x, y) in enumerate(grid.cells):
        assert least[x, y] == expected[s]
        assert gap[x, y] == pytest.approx(values.v_optimal[t, s] - values.v_random[t, s])
    assert np.isnan(least[~grid.free]).all()  # walls carry no value
    assert len(np.unique(least[grid.free])) > 1  # the slippery cliff needs lookahead somewhere


def test_lookahead_map_shows_the_largest_k_of_the_states_sharing_a_cell():
    # States 1 and 2 share cell (1, 0), as MiniGrid's directions do.
    successors = np.array([[0, 1], [0, 2], [1, -1]])
    rewards = np.zeros((3, 2))
    rewards[2, 1] = 1.0
    positions = np.array([[0, 0], [1, 0], [1, 0]])
    mdp = HorizonMDP(successors, np.ones((3, 2)), rewards, 6, positions=positions)
    view = LookaheadMap()
    view.show(mdp)
    least, _ = view.grids()
    expected = lookahead_map(mdp)
    assert least.shape == (2, 1)
    assert least[0, 0] == expected[0] and least[1, 0] == max(expected[1], expected[2])


def test_lookahead_map_explains_instead_of_drawing_an_mdp_without_positions():
    mdp = HorizonMDP(np.array([[-1, -1]]), np.ones((1, 2)), np.zeros((1, 2)), 3, name="bare")
    assert grid_layout(mdp) is None
    view = LookaheadMap()
    view.show(mdp)
    assert "no grid positions" in view.__panel__().objects[0].object


def test_bound_chart_has_one_entry_per_k_tried_with_failures_marked():
    mdp = load_mdp(CLIFF)
    view = HorizonView()
    analysis = view.show(CLIFF)
    assert analysis is not None
    entries = view.bound.entries
    bound = analysis.bound
    assert [e["k"] for e in entries] == list(range(1, len(bound.terms) + len(bound.failures) + 1))
    assert {e["k"] for e in entries if e["failed"]} == set(bound.failures)
    for term in bound.terms:
        entry = entries[term.k - 1]
        assert entry["H_k"] == term.horizon_k and (entry["t"], entry["s"]) == (term.t, term.s)
    assert bound.failures  # the cliff's greedy random-policy play fails for small k
    assert mdp.num_states == analysis.states
    chart = BoundChart()
    chart.show(analysis)
    assert chart.entries == entries


def test_sweep_returns_equal_the_value_functions_at_each_horizon():
    mdp = load_mdp(CLIFF)
    horizons = [1, 5, 12, 30]
    data = horizon_sweep(mdp, horizons)
    assert data["horizon"].tolist() == horizons
    for i, horizon in enumerate(horizons):
        swept = with_horizon(mdp, horizon)
        returns = value_functions(swept).start_values(swept)
        assert data["optimal"][i] == pytest.approx(returns["optimal"])
        assert data["random"][i] == pytest.approx(returns["random"])
    assert default_horizons(30)[-1] == 30 and default_horizons(1) == [1]


def test_page_shows_the_figures_of_the_chosen_grid_world():
    view = HorizonView()
    analysis = view.show(CLIFF)
    assert "min_k | 5" in view.figures.object and "32 / 4" in view.figures.object
    assert analysis.min_k.k == 5
    assert view.sweep.data["horizon"][-1] == 30
    assert "analysed in" in view.status.value


def test_picker_offers_every_minigrid_id_and_a_too_large_one_is_refused(tmp_path, monkeypatch):
    from workbench.horizon import minigrid

    view = HorizonView()
    assert set(minigrid.installed_ids()) <= set(view.select.options)
    assert view.select.value == "workbench/GridWorld-FourRooms-v0"
    monkeypatch.setenv("RL_WORKBENCH_HOME", str(tmp_path))  # no cached MDP to read
    monkeypatch.setattr(minigrid, "MAX_STATES", 50)
    assert view.show("MiniGrid-Empty-8x8-v0") is None
    assert view.status.value.startswith("cannot load MiniGrid-Empty-8x8-v0: ")
    assert "more than 50 states" in view.status.value


def test_corrupt_upload_names_the_file_and_the_problem_in_the_status_line():
    view = HorizonView()
    assert view.show_upload(b"not an npz at all", "broken.npz") is None
    assert view.status.value.startswith("cannot load broken.npz: not a readable npz file")
    assert "Traceback" not in view.status.value


def test_upload_missing_arrays_and_bad_inputs_give_messages():
    import io

    buffer = io.BytesIO()
    np.savez(buffer, rewards=np.zeros((2, 2)))
    view = HorizonView()
    assert view.show_upload(buffer.getvalue(), "partial.npz") is None
    assert "missing array(s) ['transitions']" in view.status.value
    assert view.show("workbench/GridWorld-Nowhere-v0") is None
    assert "unknown grid world" in view.status.value
    assert view.show(CLIFF, horizon=0) is None
    assert "horizon T must be a positive integer, got 0" in view.status.value
    assert view.show("print('hi')") is None
    assert "is not a BRIDGE .npz file" in view.status.value


def test_a_valid_upload_is_analysed_under_the_files_name():
    import io

    successors = np.array([[0, 1], [0, 2], [1, -1]])
    rewards = np.zeros((3, 2))
    rewards[2, 1] = 1.0
    buffer = io.BytesIO()
    np.savez(buffer, transitions=successors, rewards=rewards)
    view = HorizonView()
    analysis = view.show_upload(buffer.getvalue(), "chain.npz", horizon=6)
    assert analysis is not None and analysis.name == "chain.npz" and analysis.horizon == 6
    assert "chain.npz" in view.figures.object


def test_a_stochastic_mdp_shows_no_bound_anywhere_on_the_page():
    from widgets.horizon import SampleComplexity

    view = HorizonView()
    analysis = view.show(SLIPPERY)
    assert analysis is not None and analysis.bound is None
    assert "none: defined for deterministic MDPs only" in view.figures.object
    assert "greedy returns J_1..J_5" in view.figures.object
    assert view.bound.entries == [] and view.bound.message.visible
    assert "deterministic MDPs only" in view.bound.message.object
    assert np.isnan(view.sweep.data["effective_horizon"]).all()
    assert view.complexity.data == {"predicted T^2 A^H": None}
    assert "deterministic MDPs only" in view.complexity.table.object
    # A deterministic MDP afterwards brings the chart back.
    view.show(CLIFF)
    assert view.bound.entries and not view.bound.message.visible
    chart = SampleComplexity()
    chart.show({"predicted T^2 A^H": None, "GORP": 1234.0})
    assert "| GORP | 1,234 |" in chart.table.object


def test_an_uploaded_npz_without_a_horizon_asks_for_the_field():
    import io

    buffer = io.BytesIO()
    np.savez(buffer, transitions=np.array([[0, -1]]), rewards=np.array([[0.0, 1.0]]))
    view = HorizonView()
    assert view.show_upload(buffer.getvalue(), "freeway_10_fs30.npz") is None
    assert "stores no horizon" in view.status.value and "horizon field" in view.status.value
    analysis = view.show_upload(buffer.getvalue(), "freeway_10_fs30.npz", horizon=10)
    assert analysis is not None and analysis.horizon == 10


def test_discount_sweep_discounts_returns_and_the_view_switches_axis():
    import dataclasses

    from workbench.horizon.sweeps import discount_sweep

    mdp = load_mdp("workbench/GridWorld-FourRooms-v0")
    data = discount_sweep(mdp, [0.5, 0.9, 1.0])
    for gamma, optimal in zip(data["discount"], data["optimal"], strict=True):
        swept = dataclasses.replace(mdp, discount=gamma)
        assert optimal == pytest.approx(value_functions(swept).start_values(swept)["optimal"])
    assert data["optimal"][0] < data["optimal"][1] < data["optimal"][2] == pytest.approx(1.0)
    sweep = HorizonSweep()
    sweep.show(mdp)
    assert "horizon" in sweep.data
    sweep.axis = "discount"  # redraws the same MDP against gamma, in a thread
    deadline = time.monotonic() + 60
    while "discount" not in sweep.data and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "discount" in sweep.data and len(sweep.data["discount"]) == 7


def test_sample_complexity_shows_the_prediction_then_the_measured_learners():
    from widgets.horizon import SampleComplexity
    from workbench.horizon import analyze

    mdp = load_mdp("workbench/GridWorld-Empty-v0")
    analysis = analyze(mdp)
    view = SampleComplexity(ppo_steps=20_000, max_samples=30_000)
    view.target(mdp, analysis)
    assert view.data == {"predicted T^2 A^H": analysis.predicted_sample_complexity}
    view.progress.interval = 0.0  # every report drawn, to see them all
    shown: list[str] = []
    view.status.param.watch(lambda event: shown.append(event.new), "value")
    data = view.measure(mdp, analysis)
    assert set(data) == {"predicted T^2 A^H", "GORP", "SQIRL", "PPO"}
    assert 0 < data["GORP"] < float("inf") and 0 < data["SQIRL"] < float("inf")
    assert "| GORP |" in view.table.object and view.status.value.startswith("measured")
    # While measuring: the learner, its runs of the search's most (25 per median) or
    # PPO's steps, with a percent; then the final status.
    prefix = f"measuring with k = {analysis.min_k.k}: "
    assert shown[0] == prefix + "GORP (1 of 3): 0 of at most " + shown[0].split("most ")[1]
    assert "(0%)" in shown[0] and " runs " in shown[0]
    assert any(line.startswith(prefix + "SQIRL (2 of 3): 25 of at most") for line in shown)
    assert any(line.startswith(prefix + "PPO (3 of 3): 0 of 20,000 steps (0%)") for line in shown)
    assert shown[-1].startswith("measured with k = ") and view.progress.bar.value == 1000


def test_state_picture_draws_grid_worlds_and_minigrid_states_and_refuses_others():
    from widgets.horizon import StatePicture, state_picture

    grid = load_mdp("workbench/GridWorld-Cliff-v0")
    assert state_picture("workbench/GridWorld-Cliff-v0", grid, 3).ndim == 3
    minigrid = load_mdp("MiniGrid-DoorKey-5x5-v0")
    first, last = (state_picture("MiniGrid-DoorKey-5x5-v0", minigrid, s) for s in (0, 259))
    assert first.shape == last.shape and not np.array_equal(first, last)
    view = StatePicture()
    view.target("MiniGrid-DoorKey-5x5-v0", minigrid, 5)
    assert view.image.visible and view.image.object.startswith(b"\x89PNG")
    assert "state 5 at cell" in view.message.object
    view.target("", minigrid, 0)  # an uploaded file: no environment to draw it
    assert not view.image.visible and "no picture" in view.message.object


def test_discounts_parse_as_numbers_only_and_bad_entries_are_named():
    from widgets.horizon import parse_discounts

    assert parse_discounts("0.99, 0.5 0.9,0.5") == [0.5, 0.9, 0.99]
    for text, message in [
        ("0.9, __import__('os')", "is not a number"),
        ("0.9 1.5", "discount 1.5 is outside [0, 1]"),
        (" , ", "at least one discount"),
    ]:
        with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(")):
            parse_discounts(text)


def test_discount_sweep_view_starts_one_run_per_gamma_and_draws_their_returns(tmp_path):
    from widgets import LiveSession
    from widgets.horizon import DiscountSweepView
    from workbench.runs import RunStore

    store = RunStore(tmp_path)
    view = DiscountSweepView(LiveSession(store), executor="thread", knobs={"n_envs": 1})
    view.discounts.value = "0.5, 2"
    assert view.start() == [] and "discount 2 is outside [0, 1]" in view.status.value
    assert store.list_runs() == []

    view.discounts.value = "0.99, 0.5"
    view.steps.value = 1_024
    runs = view.start()
    try:
        for run in runs:
            run.wait()
    finally:
        for run in runs:
            run.stop()
    view.refresh()
    assert sorted(run.config["gamma"] for run in store.list_runs()) == [0.5, 0.99]
    assert view.data["gamma"] == [0.5, 0.99]
    assert all(np.isfinite(view.data["return"]))
    assert "gamma 0.5: step" in view.status.value and view.status.value.endswith("(ended)")
    assert view.progress.value == "2 of 2 runs ended · done" and view.bar.value == 1000


def test_uploads_and_horizons_that_do_not_fit_are_refused_and_the_page_keeps_working(
    monkeypatch,
):
    """Issue 16.7: a 125 KB npz of 2,000,000 x 4 zeros, analysed at T = 10, would take
    gigabytes: refused from its headers, in the status line, without allocating them; so
    are a file over the upload bound and a typed horizon of a billion steps."""
    import io
    import tracemalloc

    from widgets.horizon import SampleComplexity, page
    from workbench.horizon import analyze, memory

    monkeypatch.setenv(memory.MEMORY_LIMIT_VARIABLE, "4")  # the same verdict on any machine
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, transitions=np.zeros((2_000_000, 4), dtype=np.int64),
        rewards=np.zeros((2_000_000, 4)),
    )  # fmt: skip
    data = buffer.getvalue()
    del buffer
    assert len(data) < 200_000
    view = HorizonView()
    tracemalloc.start()
    try:
        assert view.show_upload(data, "zeros.npz", horizon=10) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20, f"refusing allocated {peak / 2**20:.0f} MiB"
    status = view.status.value
    assert status.startswith(
        "cannot analyse zeros.npz: analysing 2,000,000 states x 4 actions over T = 10 would "
        "need about "
    )
    assert "GiB" in status and "4.0 GiB" in status and "upload" not in status
    monkeypatch.setattr(page, "MAX_UPLOAD_BYTES", 64 * 2**10)
    assert view.show_upload(data, "zeros.npz", horizon=10) is None
    assert view.status.value == (
        "cannot load zeros.npz: the file is 0.1 MiB, more than the 0.0625 MiB the page "
        "accepts; analyse it with `workbench horizon zeros.npz`"
    )
    assert view.show(CLIFF, horizon=10**9) is None
    assert view.status.value.startswith(f"cannot analyse {CLIFF}: analysing 32 states")
    assert "use a horizon T of at most" in view.status.value
    analysis = view.show(CLIFF)  # the page still works
    assert analysis is not None and analysis.min_k.k == 5
    # Measuring the learners on a wide MDP: PPO would see 20,000 states one-hot.
    wide = HorizonMDP(np.zeros((20_000, 2), dtype=int), np.ones((20_000, 2)),
                      np.zeros((20_000, 2)), 5, name="wide")  # fmt: skip
    complexity = SampleComplexity()
    assert complexity.measure(wide, analyze(wide)) is None
    assert complexity.status.value.startswith("cannot measure: wide: analysing 20,000 states")
    assert "measuring GORP's, SQIRL's and PPO's sample complexity" in complexity.status.value
