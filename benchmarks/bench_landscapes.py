"""How long the Landscapes page takes to redraw a state map after a reward edit.

An edit on the page (the reward editor's Preview) parses the knobs into a RewardSpec,
evaluates the expected reward of a random action at every point of a 50 x 50 grid over the
U-maze (8 actions per point, through the maze's dynamics), swaps the map's data into its
Bokeh figure, and computes the EPIC distance of the edit to the reward in force (1,000
transitions, 256 samples per expectation, 50 bootstrap resamples). Target: the map under
1 s after an edit. Each figure is the median of ``--repeats`` edits, measured in one
process on the page's own objects (no browser: sending the figure adds one message).

    .venv/bin/python benchmarks/bench_landscapes.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

from _results import machine_line, write_section

from widgets.common.live import LiveSession
from widgets.landscapes.reward_editor import RewardEditor
from workbench.runs import Run, RunStore
from workbench.trainers.reward_design import RewardConfig

EDITS = (
    ("w_goal_distance", "2.0"),
    ("reward_expression", "dx - 0.1 * speed"),
    ("reward_expression", "where(dist < 1, 1, -0.01 * dist)"),
    ("w_region", "-1.0"),
)


def measure(repeats: int) -> dict[str, float]:
    store = RunStore(tempfile.mkdtemp())
    run = Run.create("reward", store=store)  # only its config is read: never started
    editor = RewardEditor(LiveSession(store), run_id=run.id)  # builds its maze grid once
    grid = editor._world.grid  # the grid the page draws
    totals, maps = [], []
    for index in range(repeats):
        knob, value = EDITS[index % len(EDITS)]
        editor.inputs[knob].value = value
        editor.preview()
        totals.append(editor.timings["preview_s"])
        maps.append(editor.timings["map_s"])
        editor.inputs[knob].value = str(RewardConfig.param[knob].default)  # undo the edit
    return {
        "grid": f"{grid.shape[1]} x {grid.shape[0]}",
        "map_s": statistics.median(maps),
        "preview_s": statistics.median(totals),
        "max_preview_s": max(totals),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    figures = measure(args.repeats)
    verdict = "met" if figures["map_s"] < 1.0 else "NOT met"
    body = f"""## Landscapes: redrawing a state map after a reward edit (issue 18)

The reward editor's Preview on a {figures["grid"]} grid over the U-maze (8 random actions per
point through the maze's dynamics), median of {args.repeats} edits cycling through a weight, two
formulas and a region penalty.
Command: `.venv/bin/python benchmarks/bench_landscapes.py --repeats {args.repeats}`
Machine: {machine_line()}

| step | median s |
|---|---:|
| new map drawn (parse, evaluate 50 x 50 x 8 transitions, swap into the figure) | {figures["map_s"]:.3f} |
| whole Preview, EPIC distance included | {figures["preview_s"]:.3f} (max {figures["max_preview_s"]:.3f}) |

Target (map under 1 s after an edit): **{verdict}**.
"""
    print(body)
    write_section("landscapes_map", body)


if __name__ == "__main__":
    main()
