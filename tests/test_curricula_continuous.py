"""The continuous curriculum teachers (Random, ALP-GMM, Covar-GMM, RIAC) against the facts
of CURRICULA.md on fixed inputs, their checkpoints, their errors, the toy task space and
its bench (issue 17)."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture

from workbench.cli import main
from workbench.curricula import CurriculumError, TaskBox, make_teacher
from workbench.curricula import alp_gmm as alp_gmm_module
from workbench.curricula.alp_gmm import ALPGMM, FittedMixture, fit_best_mixture
from workbench.curricula.covar_gmm import CovarGMM
from workbench.curricula.riac import RIAC, window_alp
from workbench.curricula.toy import ToyTaskSpace, run_toy

UNIT_SQUARE = TaskBox([0.0, 0.0], [1.0, 1.0])


def mixture(means, covariances, weights=None) -> FittedMixture:
    means = np.asarray(means, dtype=np.float64)
    k = len(means)
    return FittedMixture(
        weights=np.full(k, 1.0 / k) if weights is None else np.asarray(weights, dtype=np.float64),
        means=means,
        covariances=np.asarray(covariances, dtype=np.float64),
        criterion=0.0,
        seconds=0.0,
    )


def with_mixture(teacher, fitted: FittedMixture):
    """``teacher`` past its uniform bootstrap, sampling from ``fitted``."""
    teacher.n_updates = teacher.fit_rate
    teacher._set_mixture(fitted)
    return teacher


# -- ALP-GMM -------------------------------------------------------------------------------


def test_alp_is_distance_to_the_nearest_earlier_task_and_zero_while_five_or_fewer():
    teacher = ALPGMM(UNIT_SQUARE)
    tasks = [[0.1, 0.1], [0.9, 0.9], [0.1, 0.9], [0.9, 0.1], [0.5, 0.5], [0.3, 0.3], [0.52, 0.5]]
    rewards = [0.0, 1.0, 0.2, 0.4, 0.6, 0.9, 0.75]
    tasks += [[0.8, 0.8], [0.31, 0.29]]
    rewards += [0.1, 0.5]
    for task, reward in zip(tasks, rewards, strict=True):
        teacher.update(task, reward)
    alps = teacher.alps
    # Six updates see 0..5 stored tasks: ALP 0 for each.
    assert alps[:6].tolist() == [0.0] * 6
    # [0.52, 0.5] is nearest [0.5, 0.5] (reward 0.6); [0.8, 0.8] nearest [0.9, 0.9] (1.0);
    # [0.31, 0.29] nearest [0.3, 0.3] (0.9), not the later [0.52, 0.5].
    assert alps[6:].tolist() == pytest.approx([0.15, 0.9, 0.4])


def test_alp_matches_brute_force_nearest_neighbours_across_index_rebuilds():
    rng = np.random.default_rng(3)
    teacher = ALPGMM(UNIT_SQUARE, fit_rate=10_000)  # no refit: only the ALP is under test
    tasks = rng.uniform(size=(2_000, 2))
    rewards = rng.uniform(size=2_000)
    for task, reward in zip(tasks, rewards, strict=True):
        teacher.update(task, reward)
    expected = [0.0] * 6
    for i in range(6, 2_000):
        nearest = np.argmin(((tasks[:i] - tasks[i]) ** 2).sum(axis=1))
        expected.append(abs(rewards[i] - rewards[nearest]))
    np.testing.assert_allclose(teacher.alps, expected, rtol=0, atol=1e-12)
    assert teacher.index.tree_size > 0  # the kd-tree took part


def test_first_fit_rate_tasks_are_uniform_draws():
    teacher = ALPGMM(UNIT_SQUARE, seed=5)
    reference = np.random.default_rng(5)
    for _ in range(250):
        task = teacher.sample()
        np.testing.assert_array_equal(task, reference.uniform([0.0, 0.0], [1.0, 1.0], size=(2,)))
        assert teacher.mixture is None
        teacher.update(task, 0.5)
    assert teacher.mixture is not None  # fitted at the 250th update


def test_refit_every_fit_rate_tasks_on_the_latest_rows(monkeypatch):
    calls = []
    fixed = mixture([[0.5, 0.5, 0.1], [0.2, 0.2, 0.3]], [np.eye(3) * 0.01] * 2)

    def recording_fit(rows, components, criterion, seed):
        calls.append((rows.copy(), list(components), criterion))
        return fixed

    monkeypatch.setattr(alp_gmm_module, "fit_best_mixture", recording_fit)
    teacher = ALPGMM(UNIT_SQUARE, seed=1)
    rng = np.random.default_rng(0)
    for step in range(1, 1_001):
        teacher.update(teacher.sample(), rng.uniform())
        assert len(calls) == step // 250
    for number, (rows, components, criterion) in enumerate(calls, start=1):
        end = 250 * number
        expected = np.column_stack(
            [teacher.index.tasks[end - 250 : end], teacher.alps[end - 250 : end]]
        )
        np.testing.assert_array_equal(rows, expected)
        assert components == list(range(2, 11))
        assert criterion == "aic"
    assert teacher.snapshot()["refit_episode"].tolist() == [250, 500, 750, 1000]


def test_number_of_components_is_the_lowest_aic_over_two_to_ten():
    rng = np.random.default_rng(0)
    centres = np.array([[0.2, 0.2, 0.0], [0.8, 0.3, 0.5], [0.4, 0.8, 0.2]])
    rows = np.concatenate([c + rng.normal(0, 0.03, size=(84, 3)) for c in centres])[:250]
    fitted = fit_best_mixture(rows, range(2, 11), "aic", seed=7)
    assert fitted.n_components == 3
    np.testing.assert_allclose(np.sort(fitted.means[:, 0]), np.sort(centres[:, 0]), atol=0.02)
    three = GaussianMixture(3, covariance_type="full", n_init=1, random_state=7).fit(rows)
    assert fitted.criterion == pytest.approx(three.aic(rows))


def test_each_refit_tries_every_k_once_and_keeps_the_lowest_criterion(monkeypatch):
    made = []

    class ScriptedMixture:
        """Stands for scikit-learn's GaussianMixture with known criteria per k."""

        AIC = {2: 5.0, 3: 1.0, 4: 0.5, 5: 2.0, 6: 9.0, 7: 9.0, 8: 9.0, 9: 9.0, 10: 9.0}

        def __init__(self, n_components, covariance_type, n_init, random_state):
            made.append((n_components, covariance_type, n_init, random_state))
            self.k = n_components
            self.weights_ = np.full(self.k, 1.0 / self.k)
            self.means_ = np.zeros((self.k, 3))
            self.covariances_ = np.tile(np.eye(3), (self.k, 1, 1))

        def fit(self, rows):
            return self

        def aic(self, rows):
            return self.AIC[self.k]

        def bic(self, rows):
            return -self.AIC[self.k]

    monkeypatch.setattr(alp_gmm_module, "GaussianMixture", ScriptedMixture)
    rows = np.random.default_rng(0).uniform(size=(250, 3))
    assert fit_best_mixture(rows, range(2, 11), "aic", seed=3).n_components == 4
    assert made == [(k, "full", 1, 3) for k in range(2, 11)]
    assert fit_best_mixture(rows, range(2, 11), "bic", seed=3).n_components == 6  # first lowest


def test_component_chosen_in_proportion_to_its_mean_alp_and_uniform_ratio():
    small = np.eye(3) * 1e-6
    teacher = with_mixture(
        ALPGMM(UNIT_SQUARE, seed=2, random_task_ratio=0.0),
        mixture([[0.2, 0.2, 0.1], [0.5, 0.8, 0.3], [0.8, 0.2, 0.6]], [small] * 3),
    )
    samples = np.array([teacher.sample() for _ in range(20_000)])
    nearest = np.argmin(
        ((samples[:, None, :] - np.array([[0.2, 0.2], [0.5, 0.8], [0.8, 0.2]])) ** 2).sum(-1),
        axis=1,
    )
    shares = np.bincount(nearest, minlength=3) / len(samples)
    np.testing.assert_allclose(shares, [0.1, 0.3, 0.6], atol=0.015)
    np.testing.assert_allclose(teacher.component_probabilities(), [0.1, 0.3, 0.6])
    # All ALP 0: components uniformly.
    with_mixture(teacher, mixture([[0.2, 0.2, 0.0], [0.8, 0.8, 0.0]], [small] * 2))
    shares = np.mean([teacher.sample()[0] < 0.5 for _ in range(10_000)])
    assert shares == pytest.approx(0.5, abs=0.02)
    # The hot knob: half the tasks uniform (far from both tiny components).
    teacher.random_task_ratio = 0.5
    samples = np.array([teacher.sample() for _ in range(10_000)])
    far = np.min(np.abs(samples[:, None, 0] - np.array([0.2, 0.8])), axis=1) > 0.01
    assert far.mean() == pytest.approx(0.5 * 0.96, abs=0.02)  # 4% of uniform ones land close


def test_gmm_tasks_drop_the_alp_and_are_clipped_to_the_box():
    box = TaskBox([0.0, -1.0], [2.0, 1.0])
    teacher = with_mixture(
        ALPGMM(box, seed=0, random_task_ratio=0.0),
        mixture([[3.0, -2.0, 0.5]], [np.diag([0.01, 0.01, 0.01])], weights=[1.0]),
    )
    for _ in range(200):
        task = teacher.sample()
        assert task.shape == (2,)
        assert task.tolist() == [2.0, -1.0]


def test_background_refit_applies_at_its_fixed_point_and_zero_delay_matches_sync():
    def run(**settings):
        teacher = ALPGMM(UNIT_SQUARE, seed=4, **settings)
        space = ToyTaskSpace()
        tasks = []
        for _ in range(560):
            task = teacher.sample()
            tasks.append(task)
            teacher.update(task, space.episode(task))
        return teacher, np.array(tasks)

    sync, sync_tasks = run()
    _, at_once_tasks = run(refit_in_background=True, apply_after=0)
    np.testing.assert_array_equal(sync_tasks, at_once_tasks)
    later, _ = run(refit_in_background=True, apply_after=30)
    assert later.snapshot()["refit_episode"].tolist() == [280, 530]
    assert later.snapshot()["refit_fitted_at"].tolist() == [250, 500]
    # Same fits, applied later.
    np.testing.assert_array_equal(
        later.history[0]["mixture"]["means"], sync.history[0]["mixture"]["means"]
    )


def test_a_background_teacher_starts_its_worker_when_made_not_at_its_first_refit():
    """The worker's start (an interpreter importing scikit-learn, about 2 s) overlaps the
    first ``fit_rate`` tasks instead of stalling the student at the first refit."""
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor(max_workers=1).shutdown(wait=True)
    ALPGMM(UNIT_SQUARE, seed=0)  # refits where the student runs: no worker
    assert not get_reusable_executor(max_workers=1)._processes
    ALPGMM(UNIT_SQUARE, seed=0, refit_in_background=True)
    workers = get_reusable_executor(max_workers=1)._processes
    assert len(workers) == 1 and all(worker.is_alive() for worker in workers.values())


def test_a_refit_whose_worker_process_dies_is_fitted_in_the_students_process(caplog):
    """The background fit runs in a worker process; killed (out of memory, say), the fit is
    redone where the student runs, with the same result."""
    import os
    import signal
    import time

    from joblib.externals.loky import get_reusable_executor

    from workbench.curricula.alp_gmm import _BackgroundFit, fit_best_mixture

    rows = np.random.default_rng(0).random((250, 3))
    executor = get_reusable_executor(max_workers=1)
    busy = executor.submit(time.sleep, 30)  # holds the one worker: the fit waits behind it
    fit = _BackgroundFit(rows, range(2, 11), "aic", seed=3)
    for process in list(executor._processes.values()):
        os.kill(process.pid, signal.SIGKILL)
    with caplog.at_level("WARNING", logger="workbench.curricula.alp_gmm"):
        mixture = fit.result()
    assert busy.exception(timeout=30) is not None
    assert "worker process died" in caplog.text
    np.testing.assert_array_equal(
        mixture.means, fit_best_mixture(rows, range(2, 11), "aic", seed=3).means
    )


# -- Covar-GMM ------------------------------------------------------------------------------


def test_covar_gmm_rows_are_task_time_reward_and_progress_is_positive_covariance(monkeypatch):
    calls = []

    def recording_fit(rows, components, criterion, seed):
        calls.append(rows.copy())
        return mixture([[0.5, 0.5, 0.5, 0.5]], [np.eye(4) * 0.01], weights=[1.0])

    monkeypatch.setattr(alp_gmm_module, "fit_best_mixture", recording_fit)
    teacher = CovarGMM(UNIT_SQUARE, seed=0)
    rng = np.random.default_rng(1)
    rewards = rng.uniform(size=500)
    for reward in rewards:
        teacher.update(teacher.sample(), reward)
    assert len(calls) == 2
    for number, rows in enumerate(calls):
        np.testing.assert_allclose(rows[:, 2], np.arange(250) / 250)
        np.testing.assert_allclose(rows[:, 3], rewards[250 * number : 250 * (number + 1)])
    cov = np.eye(4) * 0.01
    rising, falling = cov.copy(), cov.copy()
    rising[2, 3] = rising[3, 2] = 0.004
    falling[2, 3] = falling[3, 2] = -0.004
    fitted = mixture(np.full((2, 4), 0.5), [rising, falling])
    np.testing.assert_allclose(teacher._component_progress(fitted), [0.004, 0.0])


def test_covar_gmm_samples_only_components_with_positive_time_reward_covariance():
    cov = np.eye(4) * 1e-6
    rising, falling = cov.copy(), cov.copy()
    rising[2, 3] = rising[3, 2] = 5e-7
    falling[2, 3] = falling[3, 2] = -5e-7
    teacher = with_mixture(
        CovarGMM(UNIT_SQUARE, seed=3, random_task_ratio=0.0),
        mixture([[0.2, 0.2, 0.5, 0.5], [0.8, 0.8, 0.5, 0.5]], [rising, falling]),
    )
    samples = np.array([teacher.sample() for _ in range(500)])
    np.testing.assert_allclose(samples, 0.2, atol=0.01)


# -- RIAC -----------------------------------------------------------------------------------


def test_region_alp_compares_the_two_halves_of_its_window():
    assert window_alp([0.3, 0.9], 200) == 0.0
    assert window_alp([0.0, 0.0, 1.0, 1.0], 200) == 1.0
    assert window_alp([0.0, 0.2, 0.4], 200) == pytest.approx(0.3)  # older half gets the odd one
    rewards = [1.0] * 50 + [0.0] * 100 + [0.5] * 100
    assert window_alp(rewards, 200) == pytest.approx(0.5)  # only the latest 200 count


def reference_split(tasks, rewards, low, high, rng, attempts=50, min_size=10, min_width=1 / 15):
    """CURRICULA.md's split rule written out: the best valid of ``attempts`` random splits."""
    best = None
    for _ in range(attempts):
        dim = int(rng.integers(2))
        threshold = float(rng.uniform(low[dim], high[dim]))
        if threshold - low[dim] < min_width or high[dim] - threshold < min_width:
            continue
        first = tasks[:, dim] < threshold
        n1, n2 = int(first.sum()), int((~first).sum())
        if n1 < min_size or n2 < min_size:
            continue
        score = (
            n1
            * n2
            * abs(window_alp(list(rewards[first]), 200) - window_alp(list(rewards[~first]), 200))
        )
        if best is None or score > best[0]:
            best = (score, dim, threshold)
    return best


def test_riac_splits_a_full_region_by_the_paper_criterion():
    rng = np.random.default_rng(0)
    tasks = rng.uniform(size=(201, 2))
    # Progress on the left half, none on the right.
    rewards = np.where(tasks[:, 0] < 0.5, np.linspace(0, 1, 201), 0.3)
    teacher = RIAC(UNIT_SQUARE, seed=11)
    for task, reward in zip(tasks[:200], rewards[:200], strict=True):
        teacher.update(task, reward)
    assert len(teacher.regions) == 1  # 200 pairs: not yet
    state = teacher.rng.bit_generator.state
    teacher.update(tasks[200], rewards[200])
    replay = np.random.default_rng()
    replay.bit_generator.state = state
    _, dim, threshold = reference_split(tasks, rewards, [0, 0], [1, 1], replay)
    root, first, second = teacher.regions
    assert (root.split_dim, root.threshold) == (dim, threshold)
    assert dim == 0 and abs(threshold - 0.5) < 0.1
    assert len(first.rewards) + len(second.rewards) == 201
    assert len(root.rewards) == 201  # the split region keeps its window
    assert first.high[0] == second.low[0] == threshold
    assert teacher.snapshot()["split_episode"].tolist() == [201]


def clustered(rng, n_near=195, n_far=6):
    near = rng.uniform(0.0, 0.05, size=(n_near, 2))
    far = rng.uniform(0.5, 1.0, size=(n_far, 2))
    return rng.permutation(np.concatenate([near, far]))


def test_riac_without_a_valid_split_drops_the_oldest_quarter():
    # 195 tasks within 0.05 of the corner and 6 far away: a split that leaves 10 pairs on
    # each side cuts inside the corner, leaving a child narrower than 1/15.
    tasks = clustered(np.random.default_rng(2))
    teacher = RIAC(UNIT_SQUARE, seed=0)
    for i, task in enumerate(tasks):
        teacher.update(task, i / 1000)
    (root,) = teacher.regions
    assert len(root.rewards) == 151
    assert root.rewards == pytest.approx([i / 1000 for i in range(50, 201)])
    # The same tasks split once thin children are allowed (and attempts are many).
    loose = RIAC(UNIT_SQUARE, seed=0, min_width_ratio=0.0, split_attempts=2_000)
    for i, task in enumerate(tasks):
        loose.update(task, i / 1000)
    assert len(loose.regions) == 3
    assert min(len(loose.regions[1].rewards), len(loose.regions[2].rewards)) >= 10


def test_riac_regions_keep_the_minimum_width_and_size_over_a_run():
    teacher = RIAC(UNIT_SQUARE, seed=1)
    space = ToyTaskSpace()
    sizes_at_split = []
    for _ in range(3_000):
        task = teacher.sample()
        regions_before = len(teacher.regions)
        teacher.update(task, space.episode(task))
        if len(teacher.regions) > regions_before:
            sizes_at_split += [len(teacher.regions[-1].rewards), len(teacher.regions[-2].rewards)]
    view = teacher.snapshot()
    assert len(view["region_alp"]) > 5
    assert np.all(view["region_high"] - view["region_low"] >= 1 / 15 - 1e-12)
    assert min(sizes_at_split) >= 10
    assert np.all(view["region_size"] <= 201)


def test_riac_sampling_modes_in_proportion_70_20_10():
    teacher = RIAC(UNIT_SQUARE, seed=3)
    rng = np.random.default_rng(0)
    for _ in range(600):
        task = teacher.sample()
        teacher.update(task, float(task[0] < 0.3) * rng.uniform())
    teacher.mode_counts = [0, 0, 0]
    lows = np.array([r.low for r in teacher.regions])
    highs = np.array([r.high for r in teacher.regions])
    for _ in range(20_000):
        mode_before = list(teacher.mode_counts)
        task = teacher.sample()
        assert np.all((task >= 0) & (task <= 1))
        if teacher.mode_counts[2] > mode_before[2]:  # a mutation stays in some region
            assert np.any(np.all((task >= lows) & (task <= highs), axis=1))
    shares = np.array(teacher.mode_counts) / 20_000
    np.testing.assert_allclose(shares, [0.7, 0.2, 0.1], atol=0.01)


def test_riac_mutation_perturbs_the_worst_task_of_the_chosen_region():
    teacher = RIAC(UNIT_SQUARE, seed=0, mode_probabilities=(0.0, 0.0, 1.0))
    for i, task in enumerate([[0.5, 0.5], [0.2, 0.7], [0.6, 0.4]]):
        teacher.update(task, [0.9, 0.1, 0.5][i])
    samples = np.array([teacher.sample() for _ in range(4_000)])
    np.testing.assert_allclose(samples.mean(axis=0), [0.2, 0.7], atol=0.01)
    np.testing.assert_allclose(samples.std(axis=0), 0.1, atol=0.01)


# -- every teacher: checkpoints, views, errors --------------------------------------------

CONTINUOUS = ["random", "alp-gmm", "covar-gmm", "riac"]


def plain(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(plain(v) for v in value)
    return value is None or type(value) in (int, float, str, bool)


def drive(teacher, space: ToyTaskSpace, episodes: int) -> np.ndarray:
    tasks = []
    for _ in range(episodes):
        task = teacher.sample()
        tasks.append(task)
        teacher.update(task, space.episode(task))
    return np.array(tasks)


def copy_space(space: ToyTaskSpace) -> ToyTaskSpace:
    twin = ToyTaskSpace()
    twin.competence[...] = space.competence
    twin.unlocked[...] = space.unlocked
    return twin


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("random", {}),
        ("alp-gmm", {"fit_rate": 100}),
        ("covar-gmm", {"fit_rate": 100}),
        ("riac", {}),
        ("alp-gmm", {"fit_rate": 100, "refit_in_background": True, "apply_after": 40}),
    ],
)
def test_restored_teacher_samples_exactly_what_the_original_would(name, settings):
    # Checkpointed after 215 tasks: past two refits (every 100 tasks here, to keep the test
    # short) and, with apply_after 40, while the second fit is pending; the next 120 tasks
    # cover the pending fit's application and one more refit (RIAC: 515 and 300).
    original = make_teacher(name, box=UNIT_SQUARE, seed=9, **settings)
    space = ToyTaskSpace()
    drive(original, space, 215 if name != "riac" else 515)
    state = original.state_dict()
    assert plain(state)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    restored = make_teacher(name, box=UNIT_SQUARE, seed=123, **settings)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    twin = copy_space(space)
    more = 120 if name != "riac" else 300
    np.testing.assert_array_equal(drive(original, space, more), drive(restored, twin, more))
    restored_view = restored.snapshot()
    for key, value in original.snapshot().items():
        if key != "refit_seconds":  # wall time of each fit, not part of the state
            np.testing.assert_array_equal(value, restored_view[key], err_msg=key)


@pytest.mark.parametrize("name", CONTINUOUS)
def test_snapshot_arrays_for_the_views(name):
    # GMM teachers refit every 100 tasks here, to keep the test short.
    settings = {"fit_rate": 100} if name in ("alp-gmm", "covar-gmm") else {}
    teacher = make_teacher(name, box=UNIT_SQUARE, seed=0, **settings)
    view = teacher.snapshot()
    assert view["tasks"].shape == (0, 2) and float(view["entropy"]) == pytest.approx(1.0)
    drive(teacher, ToyTaskSpace(), 500)
    view = teacher.snapshot()
    assert all(isinstance(v, np.ndarray) for v in view.values())
    assert view["tasks"].shape == (500, 2) and view["progress"].shape == (500,)
    assert 0.0 < float(view["entropy"]) <= 1.0
    if name in ("alp-gmm", "covar-gmm"):
        k = len(view["gmm_weights"])
        assert view["gmm_means"].shape == (k, 2) and view["gmm_covariances"].shape == (k, 2, 2)
        assert view["gmm_probability"].sum() == pytest.approx(1.0)
        assert view["refit_means"].shape == (5, 10, 2)
        assert view["refit_episode"].tolist() == [100, 200, 300, 400, 500]
        assert np.all(np.isfinite(view["refit_entropy"]))
        # The teacher concentrates: less spread than uniform.
        assert float(view["entropy"]) < 1.0
    if name == "riac":
        regions = len(view["region_alp"])
        assert regions >= 3
        assert view["region_low"].shape == (regions, 2)
        assert view["split_alps"].shape == (len(view["split_episode"]), regions)


@pytest.mark.parametrize("name", CONTINUOUS)
def test_bad_input_is_one_clear_error(name):
    teacher = make_teacher(name, box=UNIT_SQUARE, seed=0)
    with pytest.raises(CurriculumError, match=r"task \[1\.5, 0\.2\] is outside the task space"):
        teacher.update([1.5, 0.2], 0.5)
    with pytest.raises(CurriculumError, match=r"task \[0\.1, 0\.2, 0\.3\] has 3 dimensions"):
        teacher.update([0.1, 0.2, 0.3], 0.5)
    with pytest.raises(CurriculumError, match="reward must be finite"):
        teacher.update([0.1, 0.2], math.nan)
    assert teacher.n_updates == 0  # nothing was taken in
    other = "riac" if name != "riac" else "alp-gmm"
    with pytest.raises(CurriculumError, match=f"holds a '{other}' teacher's state"):
        teacher.load_state_dict(make_teacher(other, box=UNIT_SQUARE).state_dict())
    with pytest.raises(CurriculumError, match="chose tasks in"):
        teacher.load_state_dict(make_teacher(name, box=TaskBox([0, 0], [2, 1])).state_dict())
    with pytest.raises(CurriculumError, match="needs a TaskBox"):
        make_teacher(name, box=[0, 1])


def test_bad_settings_name_what_is_wrong():
    with pytest.raises(CurriculumError, match="unknown teacher 'alpgmm'"):
        make_teacher("alpgmm", box=UNIT_SQUARE)
    teacher = ALPGMM(UNIT_SQUARE)
    with pytest.raises(CurriculumError, match=r"random_task_ratio must be in \[0, 1\], got 1.5"):
        teacher.random_task_ratio = 1.5
    with pytest.raises(CurriculumError, match="criterion must be one of aic, bic"):
        ALPGMM(UNIT_SQUARE, criterion="aicc")
    with pytest.raises(CurriculumError, match="has fit_rate=100, this one 250"):
        teacher.load_state_dict(ALPGMM(UNIT_SQUARE, fit_rate=100).state_dict())
    with pytest.raises(CurriculumError, match="mode_probabilities"):
        RIAC(UNIT_SQUARE, mode_probabilities=(0.5, 0.2, 0.1))


# -- the toy task space and its bench -------------------------------------------------------


def test_toy_competence_grows_from_the_corner_through_previous_neighbours():
    space = ToyTaskSpace()
    assert space.episode([0.55, 0.05]) == 0.0  # cell (5, 0): locked
    assert space.episode([0.15, 0.05]) == 0.0  # cell (1, 0): (0, 0) not learnt yet
    for expected in range(1, 76):
        assert space.episode([0.05, 0.05]) == pytest.approx(expected / 100)
    assert space.mastered_percent() == 0.0  # 75 is not above 75
    assert space.episode([0.05, 0.05]) == pytest.approx(0.76)
    assert space.mastered_percent() == 1.0
    # (0, 0) at >= 75 unlocks (1, 0), (0, 1) and the diagonal (1, 1), not (2, 2).
    for task in ([0.15, 0.05], [0.05, 0.15], [0.15, 0.15]):
        assert space.episode(task) == pytest.approx(0.01)
    assert space.episode([0.25, 0.25]) == 0.0
    assert space.cell([1.0, 1.0]) == (9, 9) and space.cell([0.1, 0.0]) == (1, 0)
    for _ in range(200):
        space.episode([0.0, 0.0])
    assert space.competence[0, 0] == 100  # capped


def test_toy_unlock_map_matches_the_rule_read_literally():
    rng = np.random.default_rng(0)
    space = ToyTaskSpace()
    competence = np.zeros((10, 10), dtype=int)
    for task in rng.uniform(size=(10_000, 2)) ** 3:  # weighted to the corner: mastery spreads
        i, j = np.minimum((task * 10).astype(int), 9)
        previous = [
            (a, b) for a in (i - 1, i) for b in (j - 1, j) if (a, b) != (i, j) and min(a, b) >= 0
        ]
        if (i, j) == (0, 0) or any(competence[p] >= 75 for p in previous):
            competence[i, j] = min(competence[i, j] + 1, 100)
        assert space.episode(task) == competence[i, j] / 100
    np.testing.assert_array_equal(space.competence, competence)
    assert 10 < space.mastered_percent() < 100


@pytest.mark.slow
def test_alp_gmm_masters_several_times_the_cells_random_does():
    # Measured: at 5,000 episodes ALP-GMM masters 5-8% of the cells over seeds 0-3 (8% with
    # seed 2), Random 0% (its first cell comes after about 8,000 episodes): at least 4 cells
    # and 4 times Random's count (counted as 1 when it is 0), so a 2x margin with seed 2.
    alp = run_toy("alp-gmm", episodes=5_000, seed=2, every=5_000)["mastered_percent"][-1]
    uniform = run_toy("random", episodes=5_000, seed=2, every=5_000)["mastered_percent"][-1]
    assert alp >= 4 * max(uniform, 1.0)


def test_cli_curriculum_toy_json_and_table(capsys):
    assert (
        main(
            [
                "curriculum",
                "toy",
                "--teacher",
                "riac",
                "--episodes",
                "600",
                "--seeds",
                "2",
                "--every",
                "300",
                "--json",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["teacher"] == "riac" and summary["episodes"] == [0, 300, 600]
    assert [run["seed"] for run in summary["runs"]] == [0, 1]
    assert len(summary["mean_mastered_percent"]) == 3
    assert (
        main(
            [
                "curriculum",
                "toy",
                "--teacher",
                "random",
                "--episodes",
                "500",
                "--seeds",
                "1",
                "--every",
                "250",
            ]
        )
        == 0
    )
    table = capsys.readouterr().out
    assert "teacher random" in table and "seconds per run" in table and "      500" in table


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--teacher", "alpgmm"], "unknown teacher 'alpgmm'; the toy bench takes random, alp-gmm"),
        (["--teacher", "plr"], "not a task-box teacher: 'plr'"),
        (["--episodes", "0"], "--episodes must be a positive integer, got 0"),
    ],
)
def test_cli_curriculum_toy_refuses_bad_input_in_one_line(capsys, argv, message):
    assert main(["curriculum", "toy", *argv]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error
