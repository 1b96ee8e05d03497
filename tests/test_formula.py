"""The objective as maths: values written into the LaTeX, and a hot knob change followed."""

from __future__ import annotations

import time

from widgets import LiveSession
from widgets.common.formula import VALUE_COLOUR, Formula, latex_value, render_formula
from widgets.hilbert.page import HILBERT_OBJECTIVE
from widgets.horizon.page import HORIZON_DEFINITIONS
from widgets.skills.page import SKILL_CHOICES, SKILL_OBJECTIVES
from workbench.runs import Run, RunStore
from workbench.trainers.hilp import HILPConfig
from workbench.trainers.metra import METRAConfig


def test_values_are_written_as_latex():
    assert latex_value(0.001) == "0.001"
    assert latex_value(1e-4) == "0.0001"
    assert latex_value(1e-6) == "10^{-6}"
    assert latex_value(3e-5) == r"3\times 10^{-5}"
    assert latex_value(30.0) == "30"
    assert latex_value(12_000) == "12{,}000"
    assert latex_value(18.3217) == "18.3"
    assert latex_value("mean") == r"\text{mean}"
    assert latex_value("none_yet") == r"\text{none\_yet}"
    assert latex_value(None) == r"\text{?}"
    assert latex_value(float("inf")) == r"\infty"
    assert latex_value(True) == r"\text{on}"


def test_knobs_metrics_and_choices_fill_the_template():
    template = r"\knob{epsilon} + \metric{metra/lambda} + \knob{constraint} + \knob{missing}"
    latex = render_formula(
        template,
        {"epsilon": 1e-3, "constraint": "sum"},
        {"metra/lambda": 29.5},
        {"constraint": {"mean": "MEAN", "sum": "SUM"}},
    )
    assert latex == (
        rf"{{\color{{{VALUE_COLOUR}}}{{0.001}}}} + {{\color{{{VALUE_COLOUR}}}{{29.5}}}} + SUM"
        rf" + {{\color{{{VALUE_COLOUR}}}{{\text{{?}}}}}}"
    )


def test_every_page_template_names_only_knobs_its_config_has():
    """A renamed knob must not leave a '?' in a page's maths."""
    import re

    def knobs(template: str) -> set[str]:
        return set(re.findall(r"\\knob\{(\w+)\}", template))

    for template in SKILL_OBJECTIVES.values():
        assert knobs(template) <= set(METRAConfig.knob_names()), knobs(template)
    assert set(SKILL_CHOICES) <= set(METRAConfig.knob_names())
    assert knobs(HILBERT_OBJECTIVE) <= set(HILPConfig.knob_names())
    assert knobs(HORIZON_DEFINITIONS) == {"min_k", "epw", "H", "T", "A", "S"}


def test_formula_follows_a_hot_knob_change_of_a_running_run(tmp_path):
    store = RunStore(tmp_path)
    run = Run.create(
        "regression", store=store, total_steps=10**6, step_delay=0.002, checkpoint_every=0
    )
    formula = Formula(LiveSession(store), template=r"\eta = \knob{learning_rate}", run_id=run.id)
    assert "{0.01}" in formula.latex  # the run's value before it starts
    run.start()
    try:
        run.update(learning_rate=0.5)
        deadline = time.monotonic() + 60
        while store.get_run(run.id).config["learning_rate"] != 0.5:
            assert time.monotonic() < deadline, "the change was never applied"
            time.sleep(0.05)
        formula.session.refresh()  # what the page's refresh loop does every half second
        assert "{0.5}" in formula.latex and "{0.01}" not in formula.latex
        assert formula._maths.object == f"$${formula.latex}$$"
    finally:
        run.stop(wait=30)


def test_formula_shows_the_values_a_page_sets():
    formula = Formula(template=r"T = \knob{T}")
    assert r"\text{?}" in formula.latex  # nothing analysed yet
    formula.values = {"T": 100}
    assert "{100}" in formula.latex


def test_new_scalars_alone_redraw_the_formula_at_most_every_few_seconds(tmp_path):
    store = RunStore(tmp_path)
    run = Run.create("regression", store=store)
    formula = Formula(
        LiveSession(store), run_id=run.id, metrics_every_s=3600.0,
        template=r"\lambda = \metric{metra/lambda},\ \eta = \knob{learning_rate}",
    )  # fmt: skip
    assert r"{\text{?}}" in formula.latex
    store.add_scalars(run.id, [(10, "metra/lambda", 2.5)])
    formula.refresh()
    assert "{2.5}" not in formula.latex  # within the interval: MathJax is spared
    store.set_config(run.id, {**store.get_run(run.id).config, "learning_rate": 0.5})
    formula.refresh()  # a knob changed: drawn at once, with the new scalar too
    assert "{2.5}" in formula.latex and "{0.5}" in formula.latex
    store.add_scalars(run.id, [(20, "metra/lambda", 7.0)])
    formula.metrics_every_s = 0.0
    formula.refresh()
    assert "{7}" in formula.latex and formula._maths.object == f"$${formula.latex}$$"
