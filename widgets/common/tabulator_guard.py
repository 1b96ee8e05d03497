"""A browser-side guard for Panel's Tabulator patches: a patch that arrives while the table
is still being built is applied once it is built, instead of throwing; and a patch of the
rows already shown changes their cells in place, instead of building every row anew.

Panel 1.9's Tabulator applies ``Tabulator.patch`` in the browser with ``setData`` on the
Tabulator JS table, without checking that the table has finished building (its full-value
path does check). A patch that lands while the table is rebuilt (a dynamic tab shown again,
a second browser session) throws "Cannot read properties of null" in the page. The source
already holds the patched values, so the guard only defers the redraw to the table's
``tableBuilt`` event.

``setData`` also replaces every row's elements: a click whose mouse-down and mouse-up
straddle a patch (a table patched every few seconds while runs train) lands on an element
that is gone, and is lost. A patch changes cells, never which rows there are, so the guard
hands it to Tabulator's ``updateData``, which redraws the changed cells of the same rows.

It changes nothing once Panel's own view does both (the method it wraps is looked up by
name and left alone when it is missing).
"""

from __future__ import annotations

import panel as pn


class TabulatorPatchGuard(pn.custom.JSComponent):
    """An invisible component that installs the guard once per page when its code is
    loaded. Place one where the page loads, outside any dynamic tab (a dashboard's header):
    one loaded together with a patched Tabulator may come after the table's first patch."""

    _esm = """
function installGuard() {
  const model = Bokeh.Models.get("panel.models.tabulator.DataTabulator")
  const view = model?.prototype.default_view?.prototype
  if (view == null || typeof view.updateOrAddData !== "function" || view._patchGuarded) {
    return
  }
  const update = view.updateOrAddData
  view.updateOrAddData = function () {
    const table = this.tabulator
    if (table == null || table.destroyed) {  // a removed view: its successor shows the data
      return
    }
    // Tabulator creates its table in a timeout after construction; until then it has no
    // row renderer, and setData throws in adjustTableSize.
    const built = table.initialized && table.rowManager?.renderer != null
    if (this._building || this._initializing || !built) {
      if (this._patchAfterBuild !== table) {  // one deferred redraw per table built
        this._patchAfterBuild = table
        // Checked again when the build ends: render() may have replaced the table meanwhile,
        // and an old table's tableBuilt must not push data into the new, unbuilt one.
        table.on("tableBuilt", () => this.updateOrAddData())
      }
      return
    }
    if (this._tabulator_cell_updating) {  // Panel's own check: an edit made in this page
      return
    }
    // The same rows (a patch): their changed cells are redrawn in place, and the rows keep
    // their elements, a click in progress and their selection. Otherwise Panel's setData.
    const data = this.getData()
    if (!this.model.configuration.dataTree && sameRows(table, data)) {
      void table.updateData(data)
      return
    }
    update.call(this)
  }
  view._patchGuarded = true
}

function sameRows(table, data) {
  const shown = new Set(table.getData().map((row) => row._index))
  return data.length === shown.size && data.every((row) => shown.has(row._index))
}

// On import, once per page: a guard installed only when rendered comes too late for a table
// rendered in the same pass (Panel sends it patches before it is drawn).
installGuard()

export function render() {
  installGuard()
}
"""

    def __init__(self, **params) -> None:
        super().__init__(**{"visible": False, "margin": 0, **params})
