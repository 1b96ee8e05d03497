"""The Curricula page's task-space view, on hand-made snapshots."""

from __future__ import annotations

import numpy as np

from widgets.common.live import LiveSession
from widgets.curricula.page import CurriculaView
from widgets.curricula.task_space import SOLVED, UNSOLVED, TaskSpaceView, ellipses
from workbench.runs import RunStore

NAN = np.nan


def test_ellipses_span_two_sigmas_along_the_covariances_axes():
    drawn = ellipses(np.array([[1.0, 2.0]]), np.array([[[1.0, 0.0], [0.0, 0.25]]]))
    assert drawn["width"][0] == 4.0 and drawn["height"][0] == 2.0  # 2 sigmas each way
    assert abs(np.sin(drawn["angle"][0])) < 1e-9  # the long axis along x
    rotated = ellipses(np.zeros((1, 2)), np.array([[[0.25, 0.0], [0.0, 1.0]]]))
    assert abs(abs(rotated["angle"][0]) - np.pi / 2) < 1e-9  # the long axis along y


def _snapshot(refits: int) -> dict[str, np.ndarray]:
    """A teacher picture: 3 tasks, 2 test goals (one reached), regions (one split into
    two leaves) and ``refits`` mixture refits of 1, then 2 components."""
    means = np.full((refits, 2, 2), NAN)
    covariances = np.full((refits, 2, 2, 2), NAN)
    progress = np.full((refits, 2), NAN)
    for row in range(refits):
        k = 1 if row == 0 else 2
        means[row, :k] = [[1.0, 1.0], [3.0, 3.0]][:k]
        covariances[row, :k] = np.eye(2) * 0.1
        progress[row, :k] = [0.2, 0.6][:k]
    return {
        "teacher/tasks": np.array([[0.5, 0.5], [1.5, 3.5], [3.5, 3.5]]),
        "teacher/progress": np.array([0.0, 0.1, 0.4]),
        "teacher/episodes": np.array(300),
        "teacher/refit_episode": np.arange(refits) * 250 + 250,
        "teacher/refit_means": means,
        "teacher/refit_covariances": covariances,
        "teacher/refit_progress": progress,
        "teacher/region_low": np.array([[0.0, 0.0], [0.0, 0.0], [2.5, 0.0]]),
        "teacher/region_high": np.array([[5.0, 5.0], [2.5, 5.0], [5.0, 5.0]]),
        "teacher/region_alp": np.array([0.3, 0.1, 0.5]),
        "teacher/region_is_leaf": np.array([False, True, True]),
        "test_goals": np.array([[0.5, 0.5], [4.5, 4.5]]),
        "test_success": np.array([1.0, 0.0]),
    }


def test_the_view_draws_tasks_leaves_test_goals_and_scrubs_back_through_refits(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create_run("c", "curriculum", {"env_id": "workbench/PointMaze-UMaze-v0"}).id
    store.add_snapshot(run_id, 1_000, "curriculum", _snapshot(refits=3))
    view = TaskSpaceView(LiveSession(store), run_id=run_id, min_interval=0.0)
    assert view._tasks.data["progress"].tolist() == [0.0, 0.1, 0.4]
    assert view._boxes.data["left"].tolist() == [0.0, 2.5]  # the leaves only
    assert view._tests.data["color"] == [SOLVED, UNSOLVED]
    assert "test tasks mastered 50%" in view.caption.value
    # Following: the latest refit's two components; the colours span the largest progress.
    assert list(view._ellipses.data["progress"]) == [0.2, 0.6]
    assert view._progress_colors.high == 0.6
    assert view.refit.visible and view.refit.end == 2 and view.refit.value == 2
    view.follow.value = False
    view.refit.value = 0
    assert list(view._ellipses.data["progress"]) == [0.2]
    # A new snapshot keeps the chosen refit while not following.
    store.add_snapshot(run_id, 2_000, "curriculum", _snapshot(refits=4))
    view.refresh()
    assert view.refit.end == 3 and list(view._ellipses.data["progress"]) == [0.2]


def test_the_page_shows_the_run_on_every_view(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create_run("c", "curriculum", {"env_id": "workbench/PointMaze-UMaze-v0"}).id
    page = CurriculaView(LiveSession(store))
    page.run_id = run_id
    assert page.task_space.run_id == run_id and page.controls.run_id == run_id
    assert all(chart.run_ids == [run_id] for chart in page.curves)
    assert page.__panel__().get_root() is not None


def _level_snapshot() -> dict[str, np.ndarray]:
    """A PLR teacher's picture: three levels in its buffer and two pictures of the best."""
    return {
        "teacher/levels": np.array([11, 12, 13]),
        "teacher/scores": np.array([0.5, 0.9, 0.1]),
        "teacher/staleness": np.array([3, 0, 7]),
        "teacher/probabilities": np.array([0.3, 0.6, 0.1]),
        "teacher/visits": np.array([2, 5, 1]),
        "teacher/counts": np.array([3, 5, 0]),
        "top_levels": np.zeros((2, 9, 9, 3), dtype=np.uint8),
        "top_scores": np.array([0.9, 0.5]),
        "test_success": np.array([1.0, 0.0, 0.0, 1.0]),
    }


def test_a_level_run_shows_its_buffer_sorted_by_replay_probability(tmp_path):
    store = RunStore(tmp_path)
    config = {"tasks": "grid-levels", "teacher": "plr"}
    run_id = store.create_run("levels", "curriculum", config).id
    store.add_snapshot(run_id, 4_096, "curriculum", _level_snapshot())
    page = CurriculaView(LiveSession(store), run_id=run_id)
    view = page.level_buffer
    view.refresh()
    assert view.table.value["level"].tolist() == ["12", "11", "13"]
    assert view.table.value["visits"].tolist() == [5, 2, 1]
    assert len(view.pictures.objects) == 2
    assert "3 levels in the buffer; 3 new, 5 replayed, 0 edited" in view.caption.value
    assert "held-out levels solved 50%" in view.caption.value
    # The page shows the buffer and the level curves, not the maze's task space.
    assert page.level_buffer_panel.visible and not page._task_space_panel.visible
    assert page.curves[2].metric == "curriculum/replay_probability"
    assert "level replay" in page.formula.title


def test_a_chart_switched_to_another_metric_in_code_shows_and_keeps_it(tmp_path):
    """The level page sets its third chart to curriculum/replay_probability: before, the
    picker kept the old name, fell back to its first option and charted that instead."""
    store = RunStore(tmp_path)
    run_id = store.create_run("levels", "curriculum", {"tasks": "grid-levels"}).id
    store.add_scalars(run_id, [(10, "charts/episodic_length", 5.0)])
    store.add_scalars(run_id, [(10, "curriculum/replay_probability", 0.5)])
    page = CurriculaView(LiveSession(store), run_id=run_id)
    chart = page.curves[2]
    chart.refresh(force=True)
    assert chart.metric == chart.metric_select.value == "curriculum/replay_probability"


def test_every_task_family_has_a_page(tmp_path):
    """A wall-gaps run once made the page (and with it the whole dashboard) fail: the page
    knew the curves of two of the three families."""
    from workbench.trainers.curriculum import TASK_FAMILIES

    store = RunStore(tmp_path)
    for family in TASK_FAMILIES:
        run_id = store.create_run(family, "curriculum", {"tasks": family}).id
        page = CurriculaView(LiveSession(store), run_id=run_id)
        assert page.curves[0].metric == "eval/test_success"
        assert page._task_space_panel.visible == (family != "grid-levels")


def test_the_formula_is_the_rule_of_the_runs_own_teacher(tmp_path):
    """A RIAC run once showed ALP-GMM's mixture rule."""
    store = RunStore(tmp_path)
    shown = {}
    for teacher in ("alp-gmm", "covar-gmm", "riac", "random"):
        run_id = store.create_run(teacher, "curriculum", {"teacher": teacher}).id
        page = CurriculaView(LiveSession(store), run_id=run_id)
        shown[teacher] = page.formula.template
    assert "GMM" in shown["alp-gmm"] and "operatorname{cov}" in shown["covar-gmm"]
    assert "regions" in shown["riac"] and "GMM" not in shown["riac"]
    assert "uniform over the task space" in shown["random"]
