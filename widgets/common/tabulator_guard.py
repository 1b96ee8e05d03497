"""A browser-side guard for Panel's Tabulator: a patch that arrives while the table is
still being built is applied once it is built, instead of throwing.

Panel 1.9's Tabulator applies ``Tabulator.patch`` in the browser with ``setData`` on the
Tabulator JS table without checking that the table has finished building (its full-value
path does check). A patch that lands while the table is rebuilt (a dynamic tab shown again,
a second browser session) throws "Cannot read properties of null" in the page. The source
already holds the patched values, so the guard only defers the redraw to the table's
``tableBuilt`` event. It changes nothing once Panel's own view checks this (the method it
wraps is looked up by name and left alone when it is missing).
"""

from __future__ import annotations

import panel as pn


class TabulatorPatchGuard(pn.custom.JSComponent):
    """An invisible component that installs the guard once per page when it is rendered;
    place one beside any Tabulator that is patched while it may be (re)built."""

    _esm = """
export function render() {
  const model = Bokeh.Models.get("panel.models.tabulator.DataTabulator")
  const view = model?.prototype.default_view?.prototype
  if (view == null || typeof view.updateOrAddData !== "function" || view._patchGuarded) {
    return
  }
  const update = view.updateOrAddData
  view.updateOrAddData = function () {
    const table = this.tabulator
    if (table == null) {
      return
    }
    if (this._building || this._initializing || !table.initialized) {
      if (this._patchAfterBuild !== table) {  // one deferred redraw per table built
        this._patchAfterBuild = table
        table.on("tableBuilt", () => update.call(this))
      }
      return
    }
    update.call(this)
  }
  view._patchGuarded = true
}
"""

    def __init__(self, **params) -> None:
        super().__init__(**{"visible": False, "margin": 0, **params})
