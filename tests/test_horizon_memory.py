"""Memory estimates of the horizon analyses (issue 16.7): an upper bound on what the
analyses allocate, checked before they allocate, so that a small npz that decompresses to
gigabytes, or a horizon of a billion steps, is refused with one clear line."""

from __future__ import annotations

import dataclasses
import io
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from workbench.cli import main
from workbench.horizon import (
    ANALYZE_PARTS,
    PAGE_PARTS,
    HorizonMDP,
    MDPFormatError,
    NotEnoughMemory,
    analyze,
    load_mdp,
    lookahead_map,
    memory,
    memory_limit,
    value_functions,
)
from workbench.horizon.learners import MAX_SAMPLES, measured_sample_complexities
from workbench.horizon.mdp import npz_headers
from workbench.horizon.sweeps import horizon_sweep

GIB = 2**30
BIG_STATES, BIG_ACTIONS = 2_000_000, 4


def traced_peak(work: Callable[[], object]) -> int:
    """Peak bytes Python and numpy allocated while ``work`` ran, above what was allocated
    before (numpy reports its arrays to tracemalloc)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        work()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def refused(work: Callable[[], object]) -> Callable[[], None]:
    """``work``, which must raise :class:`NotEnoughMemory`."""

    def run() -> None:
        with pytest.raises(NotEnoughMemory):
            work()

    return run


def random_mdp(states: int, actions: int, slots: int, horizon: int, seed: int = 0) -> HorizonMDP:
    rng = np.random.default_rng(seed)
    successors = rng.integers(-1, states, size=(states, actions, slots))
    probabilities = rng.random((states, actions, slots))
    probabilities /= probabilities.sum(-1, keepdims=True)
    return HorizonMDP(successors, probabilities, rng.random((states, actions)), horizon)


def zero_npz(horizon: int | None = None) -> bytes:
    """The probe's file: 2,000,000 x 4 zero transitions and rewards, compressed to about
    125 KB, optionally with a stored horizon."""
    arrays = {
        "transitions": np.zeros((BIG_STATES, BIG_ACTIONS), dtype=np.int64),
        "rewards": np.zeros((BIG_STATES, BIG_ACTIONS)),
    }
    if horizon is not None:
        arrays["horizon"] = np.asarray(horizon, dtype=np.int64)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def zero_npz_bytes() -> bytes:
    return zero_npz()


@pytest.fixture
def limit_gib(monkeypatch) -> Callable[[float], None]:
    """Set the memory limit (GiB), so that what is refused does not depend on the machine."""
    return lambda gib: monkeypatch.setenv(memory.MEMORY_LIMIT_VARIABLE, str(gib))


@pytest.mark.parametrize(
    ("states", "actions", "slots", "horizon"),
    [(2000, 4, 1, 30), (400, 6, 3, 60), (100, 4, 1, 150), (20000, 3, 1, 2)],
)
def test_the_estimate_bounds_what_the_analyses_allocate(states, actions, slots, horizon):
    mdp = random_mdp(states, actions, slots, horizon)
    parts = [part for part in ANALYZE_PARTS if part != "bound" or mdp.deterministic]
    estimate = max(memory.analysis_bytes(states, actions, horizon, slots, parts).values())
    measured = traced_peak(lambda: analyze(mdp))
    assert measured <= estimate <= 2 * measured
    # The page's parts: its value functions held while the map and the sweep run.
    page = [part for part in PAGE_PARTS if part != "bound" or mdp.deterministic]
    estimate = max(memory.analysis_bytes(states, actions, horizon, slots, page).values())

    def page_work() -> None:
        values = value_functions(mdp)
        analyze(mdp, values)
        lookahead_map(mdp, 0, values)
        horizon_sweep(mdp)

    measured = traced_peak(page_work)
    assert measured <= estimate <= 2 * measured
    estimate = memory.sticky_bytes(states, actions, slots)
    measured = traced_peak(lambda: mdp.with_sticky_actions(0.25))
    assert measured <= estimate <= 2 * measured


def test_the_probes_npz_is_refused_from_its_headers_without_decompressing(
    tmp_path, limit_gib, zero_npz_bytes, capsys
):
    path = tmp_path / "zeros.npz"
    path.write_bytes(zero_npz_bytes)
    assert path.stat().st_size < 200_000  # 64 MB of zeros compress a thousandfold
    assert npz_headers(path)["transitions"] == ((BIG_STATES, BIG_ACTIONS), np.dtype(np.int64))
    # Analysed at T = 10 it would take about 6-7 GiB (the probe saw 6 GiB asked for).
    needed = max(memory.analysis_bytes(BIG_STATES, BIG_ACTIONS, 10).values())
    assert 5 * GIB < needed < 8 * GIB
    limit_gib(4)
    with pytest.raises(NotEnoughMemory) as error:
        load_mdp(str(path), horizon=10)
    message = str(error.value)
    assert message.startswith(f"{path}: analysing 2,000,000 states x 4 actions over T = 10 ")
    assert "GiB" in message and "the 4.0 GiB this analysis may take" in message
    assert "use a horizon T of at most" in message
    peak = traced_peak(refused(lambda: load_mdp(str(path), horizon=10)))
    assert peak < 16 * 2**20, f"refusing allocated {peak / 2**20:.0f} MiB"
    # The CLI: one line, non-zero, nothing analysed.
    assert main(["horizon", str(path), "--horizon", "10"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.err.startswith("workbench horizon: error: ") and "GiB" in captured.err


def test_what_a_file_decompresses_to_is_bounded_before_it_is_read(tmp_path, limit_gib):
    path = tmp_path / "screens.npz"
    np.savez_compressed(
        path, transitions=np.zeros((2, 2), dtype=np.int64), rewards=np.zeros((2, 2)),
        screens=np.zeros((2000, 64, 64, 3), dtype=np.uint8), horizon=np.int64(3),
    )  # fmt: skip
    assert HorizonMDP.load_bridge(path).horizon == 3  # fits an ordinary limit
    limit_gib(0.01)  # about 10 MiB: the 24 MiB of screens do not fit
    with pytest.raises(NotEnoughMemory, match=r"its 'screens' array is \(2000, 64, 64, 3\) uint8"):
        HorizonMDP.load_bridge(path)
    assert traced_peak(refused(lambda: HorizonMDP.load_bridge(path))) < 2**20


def test_an_npz_of_python_objects_is_refused_from_its_header(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, transitions=np.array([[0, 1]], dtype=object), rewards=np.zeros((1, 2)))
    with pytest.raises(MDPFormatError, match="'transitions' holds Python objects"):
        HorizonMDP.load_bridge(path, horizon=2)


def test_a_billion_step_horizon_is_refused_in_one_line_naming_a_horizon_that_fits(
    capsys, limit_gib
):
    limit_gib(4)
    peak = traced_peak(
        lambda: main(["horizon", "workbench/GridWorld-Empty-v0", "--horizon", "1000000000"])
    )
    assert peak < 16 * 2**20
    assert main(["horizon", "workbench/GridWorld-Empty-v0", "--horizon", "1000000000"]) == 2
    captured = capsys.readouterr()
    error = captured.err.strip().splitlines()[-1]
    assert len(captured.err.strip().splitlines()) == 2  # one line per run, both refused
    assert error.startswith(
        "workbench horizon: error: workbench/GridWorld-Empty-v0: analysing 25 states x 4 "
        "actions over T = 1,000,000,000 would need about "
    )
    assert "more than the 4.0 GiB this analysis may take" in error
    fits = int(error.split("at most ")[1].split(", or")[0].replace(",", ""))
    # The horizon it suggests fits, and one more step does not.
    mdp = load_mdp("workbench/GridWorld-Empty-v0")
    memory.check_mdp_memory(dataclasses.replace(mdp, horizon=fits))
    with pytest.raises(NotEnoughMemory):
        memory.check_mdp_memory(dataclasses.replace(mdp, horizon=fits + 1))


def test_an_ordinary_analysis_still_runs_under_a_modest_limit(capsys, limit_gib):
    limit_gib(0.5)
    assert main(["horizon", "workbench/GridWorld-Empty-v0", "--horizon", "40", "--json"]) == 0
    assert '"horizon": 40' in capsys.readouterr().out
    limit_gib(0.0001)  # 100 KiB: not even the 25-state grid world at T = 40
    assert main(["horizon", "workbench/GridWorld-Empty-v0", "--horizon", "40"]) == 2
    assert "use a horizon T of at most" in capsys.readouterr().err


def test_every_entry_point_checks_before_allocating(limit_gib):
    limit_gib(1)
    long = random_mdp(50, 4, 1, 10**8)
    for work in (
        lambda: analyze(long),
        lambda: horizon_sweep(random_mdp(50, 4, 1, 20), horizons=[1, 10**8]),
    ):
        with pytest.raises(NotEnoughMemory, match="T = 100,000,000"):
            work()
    # PPO sees every state one-hot: S x S numbers, 4.8 GB for 20,000 states.
    wide = random_mdp(20_000, 2, 1, 5)
    with pytest.raises(NotEnoughMemory, match="measuring GORP's, SQIRL's and PPO's"):
        measured_sample_complexities(wide)
    with pytest.raises(NotEnoughMemory, match="its sticky-action MDP"):
        random_mdp(200_000, 6, 1, 5).with_sticky_actions(0.25)


def test_the_limit_is_a_share_of_available_memory_unless_set(monkeypatch):
    monkeypatch.delenv(memory.MEMORY_LIMIT_VARIABLE, raising=False)
    available = memory.available_memory()
    assert available is not None and available > 0
    assert 0 < memory_limit() <= available
    monkeypatch.setenv(memory.MEMORY_LIMIT_VARIABLE, "2")
    assert memory_limit() == 2 * GIB
    for bad in ("lots", "-1", "nan"):
        monkeypatch.setenv(memory.MEMORY_LIMIT_VARIABLE, bad)
        with pytest.raises(ValueError, match=memory.MEMORY_LIMIT_VARIABLE):
            memory_limit()


def test_the_learners_default_budget_is_the_estimates():
    assert memory.DEFAULT_MAX_SAMPLES == MAX_SAMPLES


def test_loading_an_npz_keeps_its_messages_and_contents(tmp_path):
    mdp = random_mdp(30, 3, 1, 8)
    path = Path(tmp_path) / "small.npz"
    mdp.save_bridge(path)
    loaded = load_mdp(str(path))
    np.testing.assert_array_equal(loaded.successors, mdp.successors)
    assert loaded.horizon == 8
