"""A Tabulator patched twenty times a second inside a dynamic tab, as the Runs table is
while a run trains, with the guard loaded with the page (served by tests/ui/test_tabulator_guard.py)."""

import pandas as pd
import panel as pn

from widgets.common.tabulator_guard import TabulatorPatchGuard

pn.extension("tabulator")

table = pn.widgets.Tabulator(
    pd.DataFrame({"name": [f"run {i}" for i in range(8)], "step": [0] * 8}),
    selectable="checkbox", disabled=True, show_index=False, css_classes=["patched"],
)  # fmt: skip
ticks = 0


def advance() -> None:
    global ticks
    ticks += 1
    table.patch({"step": [(row, 100 * ticks + row) for row in range(8)]}, as_index=False)


pn.state.add_periodic_callback(advance, period=50)
pn.Column(
    TabulatorPatchGuard(),  # loaded with the page, as in the dashboard's header
    pn.Tabs(("Other", pn.pane.Markdown("another page")), ("Table", table), dynamic=True),
).servable()
