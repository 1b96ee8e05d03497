"""The Landscapes page's reward editor, without a browser."""

from __future__ import annotations

from widgets.common.live import LiveSession
from widgets.landscapes.reward_editor import RewardEditor
from workbench.runs import Run


def test_the_editor_follows_reward_changes_made_elsewhere_and_keeps_the_users_edits(store):
    """A run.update from a notebook once left the boxes showing the old reward."""
    run = Run.create("reward", store=store)
    editor = RewardEditor(LiveSession(store), run_id=run.id)
    editor.preview()
    editor.inputs["w_time"].value = "0.5"  # the user's edit, not applied yet
    # What a hot change leaves in the store once the trainer applied it.
    changed = {"reward_expression": "2 * (x > 3)", "w_control_cost": 0.3, "w_time": 0.2}
    store.set_config(run.id, {**run.record.config, **changed})
    editor.refresh()
    assert editor.inputs["reward_expression"].value == "2 * (x > 3)"
    assert editor.inputs["w_control_cost"].value == "0.3"
    assert editor.inputs["w_time"].value == "0.5"  # edited here: kept
    assert "reward changed: " in editor.status.object
    assert "reward_expression" in editor.status.object
    status = editor.status.object
    editor.refresh()  # nothing new: nothing redrawn
    assert editor.status.object == status
