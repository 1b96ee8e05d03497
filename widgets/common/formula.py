"""An objective as rendered maths, with the current values of its knobs written into it.

A page gives a LaTeX template in which ``\\knob{name}`` stands for the current value of a
knob (a run's config in the store, or values the page sets itself, say the Horizon page's
horizon T) and ``\\metric{name}`` for the latest logged value of a scalar (METRA's lambda is
learned, not set). Registered with a :class:`~widgets.common.live.LiveSession`, the formula
follows hot knob changes and new scalars at every refresh.

The maths is drawn by MathJax (Panel's LaTeX pane, ``renderer="mathjax"``): Bokeh ships it
as its own bundle, so a served page loads it from the server (no CDN), and its SVG output
needs no font files. Serve with ``pn.extension("mathjax", ...)`` so that it is loaded even
when the formula's tab is rendered later than the page.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from typing import Any

import panel as pn
import param

from widgets.common.live import LiveSession

# \knob{name} and \metric{name}: LaTeX-looking placeholders, so that a template reads as the
# maths it becomes. Metric names have slashes (``metra/lambda``).
_PLACEHOLDER = re.compile(r"\\(knob|metric)\{([\w/.\-]+)\}")

# Values are drawn in this colour: the reader sees at a glance which numbers are live.
VALUE_COLOUR = "#1565c0"


def latex_value(value: Any, digits: int = 3) -> str:
    """``value`` as LaTeX: numbers with ``digits`` significant digits (powers of ten as
    such), strings and booleans as text, a missing value as a question mark."""
    if value is None:
        return r"\text{?}"
    if isinstance(value, bool):
        return r"\text{on}" if value else r"\text{off}"
    if isinstance(value, int):
        return f"{value:,}".replace(",", "{,}")
    if isinstance(value, float):
        if not math.isfinite(value):
            return r"\infty" if value > 0 else (r"-\infty" if value < 0 else r"\text{NaN}")
        if value.is_integer() and abs(value) < 10**6:
            return latex_value(int(value), digits)
        text = f"{value:.{digits}g}"
        if "e" in text:
            mantissa, exponent = text.split("e")
            power = f"10^{{{int(exponent)}}}"
            return power if mantissa == "1" else rf"{mantissa}\times {power}"
        return text
    text = str(value).replace("_", r"\_")
    return rf"\text{{{text}}}"


def render_formula(
    template: str,
    knobs: Mapping[str, Any],
    metrics: Mapping[str, float] | None = None,
    choices: Mapping[str, Mapping[Any, str]] | None = None,
    digits: int = 3,
) -> str:
    """The LaTeX of ``template`` with each ``\\knob{name}`` replaced by the knob's value
    (or, for a knob in ``choices``, by the maths its value selects, say the constraint's
    form) and each ``\\metric{name}`` by the scalar's latest value (``?`` before the first)."""
    metrics = metrics or {}
    choices = choices or {}

    def substitute(match: re.Match[str]) -> str:
        kind, name = match.groups()
        if kind == "knob" and name in choices:
            return choices[name].get(knobs.get(name), latex_value(knobs.get(name), digits))
        value = knobs.get(name) if kind == "knob" else metrics.get(name)
        return rf"{{\color{{{VALUE_COLOUR}}}{{{latex_value(value, digits)}}}}}"

    return _PLACEHOLDER.sub(substitute, template)


class Formula(pn.viewable.Viewer):
    """An objective (or a definition) as rendered maths, with the current values of the
    knobs of a run (``run_id``) or of a page (``values``) written into it."""

    template = param.String(
        default="",
        doc=r"LaTeX without delimiters; \knob{name} becomes the knob's current value, "
        r"\metric{name} the latest value of the logged scalar.",
    )
    choices = param.Dict(
        default={},
        doc="Per knob, the LaTeX each value stands for (a knob that changes the maths, "
        "such as METRA's constraint form), instead of the value itself.",
    )
    run_id = param.String(default="", doc="Run whose config and scalars fill the template.")
    values = param.Dict(
        default={}, doc="Knob values set by the page; they take precedence over the run's."
    )
    title = param.String(default="", doc="Bold line above the maths (Markdown).")
    caption = param.String(default="", doc="Words under the maths (Markdown).")
    digits = param.Integer(default=3, bounds=(1, 10), doc="Significant digits of the values.")
    width = param.Integer(default=320, bounds=(100, 2000), doc="Width in pixels.")
    metrics_every_s = param.Number(
        default=5.0, bounds=(0.0, None),
        doc="Least seconds between redraws for new scalars alone (a knob change redraws at "
        "once): each redraw typesets the maths again and lays the whole page out anew in the "
        "browser, which at every refresh took a sixth of a busy page's time there.",
    )  # fmt: skip

    def __init__(self, session: LiveSession | None = None, **params) -> None:
        super().__init__(**params)
        self.session = session
        self.latex = ""  # the LaTeX last drawn, values included
        self._knobs_drawn: dict[str, Any] | None = None  # the knobs in the LaTeX last drawn
        self._drawn_at = -math.inf  # time.monotonic() of the last redraw
        # Wide maths scrolls inside its own box rather than widening the page.
        self._maths = pn.pane.LaTeX(
            "", renderer="mathjax", width=self.width, styles={"overflow-x": "auto"},
            css_classes=["objective-formula"],
        )  # fmt: skip
        self._title = pn.pane.Markdown("", margin=(0, 10), width=self.width)
        self._caption = pn.pane.Markdown("", margin=(0, 10), width=self.width,
                                         css_classes=["objective-formula-caption"])  # fmt: skip
        self._words()
        self.refresh()
        if session is not None:
            session.register(self)

    @param.depends("title", "caption", watch=True)
    def _words(self) -> None:
        self._title.param.update(object=f"**{self.title}**" if self.title else "",
                                 visible=bool(self.title))  # fmt: skip
        self._caption.param.update(object=self.caption, visible=bool(self.caption))

    def _run_values(self) -> tuple[dict[str, Any], dict[str, float]]:
        """The run's knobs and latest scalars (none without a run or a session)."""
        if not self.run_id or self.session is None:
            return {}, {}
        store = self.session.store
        return dict(store.get_run(self.run_id).config), store.last_scalars(self.run_id)

    @param.depends("template", "choices", "run_id", "values", "digits", watch=True)
    def _redraw(self) -> None:
        self._knobs_drawn = None  # a new formula: drawn now, whatever the time
        self.refresh()

    def refresh(self) -> None:
        """Fill the template with the current values; redraw only when the maths changed
        (MathJax typesets the whole formula again at every change), and for new scalars
        alone at most every ``metrics_every_s``."""
        knobs, metrics = self._run_values()
        knobs = {**knobs, **self.values}
        now = time.monotonic()
        if knobs == self._knobs_drawn and now - self._drawn_at < self.metrics_every_s:
            return
        latex = render_formula(self.template, knobs, metrics, self.choices, self.digits)
        self._knobs_drawn, self._drawn_at = knobs, now
        if latex != self.latex:
            self.latex = latex
            self._maths.object = f"$${latex}$$" if latex else ""

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self._title, self._maths, self._caption, css_classes=["formula-box"])
