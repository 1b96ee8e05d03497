"""Skill views without a browser: colours, latent projection, the skill picker's rollout."""

from __future__ import annotations

import numpy as np
from bokeh.models import MultiLine
from bokeh.plotting import figure as Figure

from widgets import LiveSession, ObjectivePanel, SkillsView
from widgets.common.plotting import to_2d
from widgets.skills import LatentMap, SkillPicker, SkillTrajectories, skill_colors
from workbench.runs import Run, RunStore
from workbench.trainers.metra import METRAConfig, load_agent, run_evaluation_skills


def test_skill_colours_follow_the_skill_kind():
    wheel = skill_colors(np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]))
    assert len(set(wheel)) == 3
    assert skill_colors(np.eye(3)) == skill_colors(np.eye(3))  # categorical, stable
    assert len(set(skill_colors(np.eye(20)))) == 20
    assert len(set(skill_colors(np.eye(64)))) == 64  # past the palette: no colour repeats
    assert len(skill_colors(np.random.default_rng(0).standard_normal((5, 6)))) == 5
    assert to_2d(np.random.default_rng(0).standard_normal((10, 4, 5))).shape == (10, 4, 2)
    # A lone continuous skill that looks one-hot keeps its wheel colour when the kind is given.
    lone = np.array([[1.0, 0.0]])
    assert skill_colors(lone, discrete=False) == [wheel[0]]
    # DIAYN's skills are not unit length: the wheel reads their direction only.
    assert (
        skill_colors(np.array([[0.2, 0.2], [3.0, 3.0]]), discrete=False)
        == [skill_colors(np.array([[1.0, 1.0]]), discrete=False)[0]] * 2
    )


def test_latent_paths_are_projected_on_the_grid_axes_above_two_dimensions():
    """A path through grid states must land on those states' points in the latent map."""
    rng = np.random.default_rng(0)
    phi_grid = rng.standard_normal((200, 5)) * [5.0, 2.0, 1.0, 0.5, 0.1]
    phi_paths = phi_grid[None, 10:30]  # one path visiting twenty grid states
    np.testing.assert_allclose(to_2d(phi_paths, reference=phi_grid)[0], to_2d(phi_grid)[10:30])
    grid_states = rng.uniform(0, 5, (200, 2))
    points, path = LatentMap._layers(
        {"grid": grid_states, "phi_grid": phi_grid, "phi_paths": phi_paths}
    )
    drawn = path.split()[0].array(["u", "v"])
    np.testing.assert_allclose(drawn, points.array(["u", "v"])[10:30])


def test_skill_picker_rolls_out_the_chosen_evaluation_skill_from_the_latest_checkpoint(tmp_path):
    """Above two dimensions skill i is evaluation skill i, with its colour in the
    trajectories view; 2-D skills are chosen by angle."""
    store = RunStore(tmp_path)
    run = Run.create(
        "metra", store=store, env_id="workbench/PointMaze-UMaze-v0", hidden=32, min_buffer=800,
        total_steps=1_600, eval_every=1, checkpoint_every=0, device="cpu", skill_dim=3,
    )  # fmt: skip
    run.start()
    assert run.wait(timeout=300) == "finished", run.record.message
    picker = SkillPicker(LiveSession(store), run_id=run.id)
    picker.index.value = 5
    picker.roll_out()
    evaluated = store.load_snapshot(run.id, "trajectories")["skills"]
    z = np.round(evaluated[5], 2).tolist()
    assert picker.status.value == (
        f"skill 5 of 48: z = {z} from the checkpoint at step 1600: 200 steps"
    )
    path = picker._pane.object.Path.I
    assert path.opts.get().kwargs["color"] == skill_colors(evaluated, discrete=False)[5]
    # The same skills at every evaluation: the picker's index means the same skill later.
    config = load_agent(store, run.id)[1]
    assert np.array_equal(run_evaluation_skills(config), evaluated)
    # The skills on screen win (a run evaluated before they were fixed drew new ones).
    shown = np.random.default_rng(1).normal(size=(48, 3)).astype(np.float32)
    assert np.array_equal(picker.skill(config, shown)[0], shown[5])

    picker.angle.value = 90
    z, color, name = picker.skill(METRAConfig(skill_dim=2))
    np.testing.assert_allclose(z, [0.0, 1.0], atol=1e-7)
    assert color == skill_colors(z[None], discrete=False)[0] and name == "angle 90"
    z, _, name = picker.skill(METRAConfig(skill_dim=30, skill_type="discrete"))
    assert z.argmax() == 5 and z.sum() == 1  # every one-hot skill, not only the 48 evaluated
    assert name == "skill 5 of 30"


def drawn_colors(renderer) -> list[str]:
    """The colour of each line of a multi-line renderer."""
    color, data = renderer.glyph.line_color, renderer.data_source.data
    if isinstance(color, str):  # one colour for all (holoviews folds a constant column)
        return [color] * len(data["xs"])
    return list(data[color.field if hasattr(color, "field") else color["field"]])


def _trajectory_snapshot(rng: np.random.Generator) -> dict[str, np.ndarray]:
    angles = rng.uniform(-np.pi, np.pi, 6)
    skills = np.stack([np.cos(angles), np.sin(angles)], 1).astype(np.float32)
    paths = np.cumsum(rng.normal(size=(6, 11, 2)), axis=1).astype(np.float32)
    return {"paths": paths, "skills": skills}


def test_a_new_snapshot_updates_the_same_figure_with_one_glyph_for_all_skills(tmp_path):
    store = RunStore(tmp_path)
    record = store.create_run("views", "metra", {"env_id": "workbench/PointMaze-UMaze-v0"})
    rng = np.random.default_rng(0)
    store.add_snapshot(record.id, 100, "trajectories", _trajectory_snapshot(rng))
    view = SkillTrajectories(LiveSession(store), run_id=record.id, min_interval=0)
    root = view._pane.get_root()  # drawn before any refresh: no trajectories yet
    figure = root.select_one({"type": Figure})
    lines = [r for r in figure.renderers if isinstance(r.glyph, MultiLine)]
    view.refresh()
    assert view.caption.value == "step 100"
    assert len(lines) == 1 and len(lines[0].data_source.data["xs"]) == 6
    first_xs = [np.asarray(x).copy() for x in lines[0].data_source.data["xs"]]

    store.add_snapshot(record.id, 200, "trajectories", _trajectory_snapshot(rng))
    view.refresh()
    assert view.caption.value == "step 200"
    assert root.select_one({"type": Figure}) is figure  # streamed into, not rebuilt
    new_xs = lines[0].data_source.data["xs"]
    assert not all(np.array_equal(a, b) for a, b in zip(first_xs, new_xs, strict=True))
    assert drawn_colors(lines[0]) == skill_colors(
        store.load_snapshot(record.id, "trajectories")["skills"]
    )
    # The run's skill type decides the colours, not the values: a lone continuous skill
    # (1, 0) looks one-hot, and keeps its wheel colour.
    store.add_snapshot(
        record.id, 300, "trajectories", {"paths": np.zeros((1, 3, 2)), "skills": np.eye(2)[:1]}
    )
    view.refresh()
    assert drawn_colors(lines[0]) == skill_colors(np.eye(2)[:1], discrete=False)
    assert drawn_colors(lines[0]) != skill_colors(np.eye(2)[:1], discrete=True)


def _drawn_u(figure) -> list[np.ndarray]:
    """The u coordinates of every point and line the figure draws."""
    found = []
    for renderer in figure.renderers:
        data = getattr(getattr(renderer, "data_source", None), "data", {})
        if "u" in data and len(data["u"]):
            found.append(np.asarray(data["u"], dtype=float))
        if "xs" in data:
            found += [np.asarray(x, dtype=float) for x in data["xs"]]
    return [u[np.isfinite(u)] for u in found]


def test_the_latent_map_draws_phi_of_the_grid_and_of_the_trajectories(tmp_path):
    store = RunStore(tmp_path)
    record = store.create_run("views", "metra", {"env_id": "workbench/Plane-v0"})
    view = LatentMap(LiveSession(store), run_id=record.id, min_interval=0)
    figure = view._pane.get_root().select_one({"type": Figure})  # before any snapshot
    rng = np.random.default_rng(0)
    grid = rng.uniform(-3, 3, (50, 2))
    skills = rng.normal(size=(4, 3))
    snapshot = {
        "grid": grid, "phi_grid": 30 + rng.normal(size=(50, 3)),
        "phi_paths": 30 + rng.normal(size=(4, 9, 3)),
        "skills": skills,
    }  # fmt: skip
    store.add_snapshot(record.id, 10, "latent", snapshot)
    view.refresh()
    sources = [r.data_source.data for r in figure.renderers if hasattr(r, "data_source")]
    assert sorted(len(next(iter(s.values()))) for s in sources if s) == [4, 50]
    # The axes follow phi (they stayed at 0..1, a blank map, while phi lay elsewhere).
    drawn_u = np.concatenate([sources_u for sources_u in _drawn_u(figure)])
    assert figure.x_range.start <= drawn_u.min() and drawn_u.max() <= figure.x_range.end
    assert figure.x_range.end - figure.x_range.start < 2 * np.ptp(drawn_u) + 1e-9
    lines = next(r for r in figure.renderers if isinstance(r.glyph, MultiLine))
    assert drawn_colors(lines) == skill_colors(skills)
    drawn = [np.asarray(x).copy() for x in lines.data_source.data["xs"]]

    # phi diverged: the caption says so and the last good picture stays.
    snapshot["phi_grid"] = np.full((50, 3), np.nan)
    store.add_snapshot(record.id, 20, "latent", snapshot)
    view.refresh()
    assert view.caption.value == "step 20: phi is not finite (NaN or inf in phi_grid); not drawn"
    assert all(
        np.array_equal(a, b) for a, b in zip(drawn, lines.data_source.data["xs"], strict=True)
    )


def test_skills_page_charts_phi_loss_and_shows_the_constraint_for_metra_only(tmp_path):
    from widgets import SkillsView

    store = RunStore(tmp_path)
    metra = Run.create("metra", store=store, hidden=8, device="cpu")
    diayn = Run.create("metra", store=store, objective="diayn", hidden=8, device="cpu")
    view = SkillsView(LiveSession(store), run_id=metra.id)
    assert view.phi_loss.metric == "losses/phi" and view.violation.metric == "metra/violation"
    assert view.constraint_charts.visible
    view.run_id = diayn.id
    assert not view.constraint_charts.visible and view.phi_loss.run_ids == [diayn.id]


def test_a_run_stored_without_some_knobs_opens_with_their_defaults(tmp_path):
    # Written by an older version, or by hand: the page shows it instead of failing.
    store = RunStore(tmp_path)
    run_id = store.create_run("old METRA", "metra", {"env_id": "workbench/Plane-v0"}).id
    view = SkillsView(LiveSession(store), run_id=run_id)
    inputs = view.objective.inputs
    assert inputs["objective"].value == METRAConfig.param["objective"].default
    assert inputs["env_id"].value == "workbench/Plane-v0"


def test_a_boolean_knob_is_a_checkbox_and_a_fork_carries_its_value(tmp_path):
    """Not a text box showing Python's ``False`` (the HILP ``compile`` knob, METRA's
    ``bootstrap_last_step``)."""
    import panel as pn

    store = RunStore(tmp_path)
    run_id = store.create_run("hilp", "hilp", {"compile": False}).id
    panel = ObjectivePanel(LiveSession(store), run_id=run_id)
    box = panel.inputs["compile"]
    assert isinstance(box, pn.widgets.Checkbox) and box.value is False
    assert panel._changes(["compile"]) == {}
    box.value = True
    assert panel._changes(["compile"]) == {"compile": True}
    # Its help is a "?" beside it (a checkbox has no title for Panel to put one on).
    (row,) = [o for o in panel._structural.objects if box in getattr(o, "objects", [])]
    (icon,) = [o for o in row.objects if isinstance(o, pn.widgets.TooltipIcon)]
    assert "torch.compile" in str(icon.value)


def test_a_run_whose_trainer_is_not_registered_here_is_shown_without_its_knobs(tmp_path):
    """A notebook's own trainer (its record names ``module:Class``) must not break a page:
    the knobs say why they cannot be changed, and the buttons are off."""
    store = RunStore(tmp_path)
    run_id = store.create_run("line", "__main__:LineTrainer", {"slope": 2.0}).id
    panel = ObjectivePanel(LiveSession(store), run_id=run_id)
    assert panel.inputs == {} and panel.apply_button.disabled and panel.fork_button.disabled
    (message,) = panel._hot.objects
    assert "__main__:LineTrainer" in message.object and "not registered" in message.object
