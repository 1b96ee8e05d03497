"""The served dashboard in a real browser: live runs, steering, forks, environments."""

from __future__ import annotations

import importlib.util
import io
import os
import re
import signal
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import Error, Page, expect

from environments import ENVIRONMENTS, rendering
from workbench.runs import Run, RunStore

REPO = Path(__file__).resolve().parents[2]


def _number(page: Page, css: str) -> int:
    text = page.locator(f"{css}:visible").get_by_text(re.compile(r"\d+")).inner_text()
    return int(re.search(r"(\d+)", text).group(1))


def _open_live_page(page: Page, url: str) -> None:
    page.goto(url + "/")
    _wait_for_live_page(page)


def _wait_for_live_page(page: Page) -> None:
    expect(page.locator(".run-state:visible")).to_contain_text("running", timeout=60_000)
    expect(page.locator(".scalar-chart .bk-Canvas:visible").first).to_be_visible(timeout=30_000)


def _grows(page: Page, css: str, seconds: float = 20.0) -> bool:
    first = _number(page, css)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        page.wait_for_timeout(500)
        if _number(page, css) > first:
            return True
    return False


def _screenshot(locator, attempts: int = 3) -> bytes:
    """A screenshot of ``locator``, taken again if its canvas was replaced meanwhile (a
    chart builds a new figure when its first run gets data)."""
    for attempt in range(attempts):
        try:
            return locator.screenshot()
        except Error as error:
            if "not attached" not in str(error) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


HILBERT_WALL = (68, 68, 68)  # the distance maps' walls: #444444
FLOOR = tuple(int(c) for c in rendering.FLOOR)  # a maze picture's free cells


def _maze_extent(png: bytes, color: tuple[int, int, int] = HILBERT_WALL) -> tuple[int, int]:
    """Width and height of a maze's walls (or of pixels of another ``color``) in a
    screenshot: a maze that shrank into a corner of its frame draws them smaller in an
    equal box."""
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    walls = np.abs(image - color).max(axis=2) <= 6
    # Lines of 10 wall pixels or more: the maze, not a grey anti-aliased label.
    cols, rows = np.nonzero(walls.sum(axis=0) >= 10)[0], np.nonzero(walls.sum(axis=1) >= 10)[0]
    return (int(np.ptp(cols)) + 1, int(np.ptp(rows)) + 1) if len(rows) else (0, 0)


def _sliders_overlapping(page: Page, css: str) -> list[str]:
    """Visible sliders whose box overlaps a visible element matching ``css``."""

    def boxes(selector: str) -> list[dict]:
        return [b for b in (e.bounding_box() for e in page.locator(selector).all()) if b]

    def overlap(a: dict, b: dict) -> bool:
        return (
            a["x"] < b["x"] + b["width"]
            and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"]
            and b["y"] < a["y"] + a["height"]
        )

    others = boxes(f"{css}:visible")
    return [
        f"slider at {s}"
        for s in boxes(".noUi-target:visible")
        if any(overlap(s, o) for o in others)
    ]


def _tab(page: Page, name: str) -> None:
    page.locator(".bk-tab", has_text=name).click()


def _run_picker(page: Page):
    """The Live page's run picker (its options read "name · state · started ...")."""
    return page.locator(".run-select:visible select")


def _choose_run(page: Page, name: str, state: str) -> None:
    picker = _run_picker(page)
    option = picker.locator("option", has_text=f"{name} · {state} · ")
    picker.select_option(option.get_attribute("value", timeout=30_000))


def test_step_counter_and_chart_grow_while_the_demo_run_trains(
    page, page_problems, served_dashboard
):
    _open_live_page(page, served_dashboard.url)
    chart = page.locator(".scalar-chart .bk-Canvas:visible").first
    # The first episodes end after 200 steps x 4 copies; give the chart time to draw.
    expect(page.locator(".rollout-caption:visible")).to_contain_text(
        "evaluation at step", timeout=60_000
    )
    before = _screenshot(chart)
    assert _grows(page, ".run-step")
    deadline = time.monotonic() + 30
    while _screenshot(chart) == before and time.monotonic() < deadline:
        page.wait_for_timeout(1_000)
    assert _screenshot(chart) != before, "the chart did not change while the run trained"
    assert page_problems == []


def test_pause_stops_the_counter_and_resume_restarts_it(page, page_problems, served_dashboard):
    _open_live_page(page, served_dashboard.url)
    page.locator(".run-pause button").click()
    expect(page.locator(".run-state:visible")).to_contain_text("paused", timeout=20_000)
    paused_at = _number(page, ".run-step")
    page.wait_for_timeout(2_000)
    assert _number(page, ".run-step") == paused_at
    page.locator(".run-resume button").click()
    expect(page.locator(".run-state:visible")).to_contain_text("running", timeout=20_000)
    assert _grows(page, ".run-step")
    assert page_problems == []


def test_hot_knob_change_is_applied_and_marked_and_bad_values_are_refused(
    page, page_problems, served_dashboard
):
    _open_live_page(page, served_dashboard.url)
    learning_rate = page.locator(".knob-learning_rate input")
    learning_rate.fill("-5")
    page.locator(".apply-knobs button").click()
    feedback = page.locator(".objective-feedback:visible").first  # the one under Apply
    expect(feedback).to_contain_text(
        "learning_rate=-5.0 refused: learning_rate must be in", timeout=10_000
    )
    expect(feedback).not_to_contain_text("Number parameter")  # no library internals
    expect(feedback).not_to_contain_text("Refused")  # said once, not twice
    # The refused value is not left in the box: it shows the value the run still uses.
    expect(learning_rate).to_have_value("0.0003")
    learning_rate.fill("0.0001")
    page.locator(".apply-knobs button").click()
    expect(feedback).to_contain_text("applied at the next update", timeout=10_000)
    expect(page.locator(".knob-markers:visible")).to_contain_text(
        "learning_rate=0.0001", timeout=30_000
    )
    store = RunStore(served_dashboard.home)
    demo = next(r for r in store.list_runs() if r.name.startswith("demo"))
    assert store.get_run(demo.id).config["learning_rate"] == 0.0001
    assert page_problems == []


def test_fork_creates_a_second_run_that_appears_in_the_runs_table(
    page, page_problems, served_dashboard
):
    _open_live_page(page, served_dashboard.url)
    page.locator(".knob-net_width input").fill("32")
    page.locator(".fork-run button").click()
    expect(page.locator(".objective-feedback:visible").last).to_contain_text(
        "forked run 'demo: PPO in the U-maze · net_width=32'", timeout=30_000
    )
    _tab(page, "Runs")
    rows = page.locator(".runs-table .tabulator-row:visible")
    expect(rows).to_have_count(2, timeout=30_000)
    expect(rows.filter(has_text="net_width=32")).to_have_count(1)
    store = RunStore(served_dashboard.home)
    child = next(r for r in store.list_runs() if r.parent_id)
    assert child.config["net_width"] == 32
    Run(store, child.id).stop(wait=30)  # free the CPU for the other tests
    # The pages' charts took the child in without an error on the server.
    assert _tracebacks_through_our_code(served_dashboard.log) == []
    assert page_problems == []


# A frame in our widgets or engine; not an installed package's (panel/widgets/ is Panel's).
OUR_FRAME = re.compile(r'File "(?!.*site-packages).*/(widgets|workbench)/')


def _tracebacks_through_our_code(log: Path) -> list[str]:
    """The last line of each traceback in the server's log that passes through our own
    widgets or engine (closed browser sockets and the like are left out)."""
    found, ours = [], False
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("Traceback"):
            ours = False
        elif re.search(OUR_FRAME, line):
            ours = True
        elif ours and re.match(r"\w[\w.]*(Error|Exception)\b", line):
            found.append(line)
            ours = False
    return found


SESSIONS = 6  # a small classroom; 8 pages once made 272 requests to a CDN


def test_several_pages_at_once_all_update_and_load_nothing_from_outside(browser, served_dashboard):
    """Several sessions opened together: each page's run view moves, and no page asks for
    anything the server does not serve (with 8 pages, the template's theme stylesheets came
    from a CDN; with one page they did not)."""
    pages = [browser.new_page(viewport={"width": 1280, "height": 900}) for _ in range(SESSIONS)]
    problems: list[str] = []
    for number, page in enumerate(pages):
        page.on("requestfailed", lambda r, n=number: problems.append(f"page {n}: {r.url}"))
        page.on(
            "console",
            lambda m, n=number: (
                problems.append(f"page {n}: {m.text}") if m.type == "error" else None
            ),
        )
    try:
        for page in pages:  # all at once: the server builds the sessions side by side
            page.goto(served_dashboard.url + "/", wait_until="commit")
        for page in pages:
            _wait_for_live_page(page)
            _tab(page, "Runs")  # a page drawn after others (hidden tabs load late)
        for page in pages:
            expect(page.locator(".runs-table:visible").first).to_be_visible(timeout=60_000)
            _tab(page, "Live")
        assert all(_grows(page, ".run-step") for page in pages)
    finally:
        for page in pages:
            page.close()
    assert problems == []


def test_progress_says_how_far_the_demo_is_how_fast_and_how_long_it_has_left(
    page, page_problems, served_dashboard
):
    _open_live_page(page, served_dashboard.url)
    progress = page.locator(".run-progress:visible")
    expect(progress).to_contain_text("of 2,000,000 steps", timeout=20_000)
    expect(progress).to_contain_text("steps/s", timeout=30_000)
    expect(progress).to_contain_text("left")
    assert page_problems == []


def test_each_page_has_its_own_run_picker_and_the_url_keeps_page_and_run(
    page, page_problems, served_dashboard
):
    store = RunStore(served_dashboard.home)
    demo = next(r for r in store.list_runs() if r.name.startswith("demo"))
    other = Run.create("sb3", store=store, name="a run not started", total_timesteps=1_000).record
    _open_live_page(page, served_dashboard.url)
    expect(page).to_have_url(re.compile(f"run={demo.id}"))  # a fresh page opens the demo
    _tab(page, "Runs")
    expect(page.locator(".runs-table:visible")).to_be_visible(timeout=30_000)
    expect(page.locator(".run-select:visible")).to_have_count(0)  # the Live page's picker
    expect(page).to_have_url(re.compile("page=runs"))
    page.reload()
    expect(page.locator(".bk-tab.bk-active")).to_have_text("Runs", timeout=30_000)
    try:
        # A shared link to another run opens it; choosing a run makes it the next page's.
        page.goto(f"{served_dashboard.url}/?page=live&run={other.id}")
        expect(_run_picker(page)).to_have_value(re.compile(other.name), timeout=30_000)
        expect(page.locator(".run-state:visible")).to_contain_text("created")
        fresh = page.context.new_page()
        fresh.goto(served_dashboard.url + "/")
        expect(_run_picker(fresh)).to_have_value(re.compile(demo.name), timeout=30_000)
        _choose_run(fresh, other.name, "created")
        expect(fresh.locator(".run-state:visible")).to_contain_text("created", timeout=20_000)
        fresh.goto(served_dashboard.url + "/")
        expect(_run_picker(fresh)).to_have_value(re.compile(other.name), timeout=30_000)
        assert page_problems == []
    finally:
        # The tests after this one watch the demo: make it the remembered run again.
        page.goto(f"{served_dashboard.url}/?run={other.id}")
        _choose_run(page, demo.name, "running")
        expect(page.locator(".run-state:visible")).to_contain_text("running", timeout=20_000)


def test_environments_page_lists_and_draws_every_environment(page, page_problems, served_dashboard):
    page.goto(served_dashboard.url + "/")
    _tab(page, "Environments")
    cards = page.locator(".environment-card:visible")
    expect(cards).to_have_count(len(ENVIRONMENTS), timeout=30_000)
    for info in ENVIRONMENTS:
        expect(cards.filter(has_text=info.id)).to_have_count(1)
    pictures = page.locator(".environment-card img:visible")
    expect(pictures).to_have_count(len(ENVIRONMENTS))
    widths = pictures.evaluate_all("images => images.map(i => i.complete ? i.naturalWidth : 0)")
    assert min(widths) > 0, widths
    # The walkers' plot streams too, once asked to.
    page.locator(".rollout-toggle button").click()
    plot = page.locator(".rollout-plot .bk-Canvas:visible").first
    expect(plot).to_be_visible(timeout=30_000)
    first = plot.screenshot()
    deadline = time.monotonic() + 20  # a busy server draws late, not never
    while plot.screenshot() == first and time.monotonic() < deadline:
        page.wait_for_timeout(500)
    assert plot.screenshot() != first
    assert page_problems == []


def test_killing_the_trainer_fails_its_run_and_the_server_keeps_serving(
    page, page_problems, served_dashboard
):
    store = RunStore(served_dashboard.home)
    demo = next(r for r in store.list_runs() if r.name.startswith("demo"))
    assert demo.executor == "subprocess" and demo.pid
    os.kill(demo.pid, signal.SIGKILL)
    assert Run(store, demo.id).wait(timeout=30) == "failed"
    assert "killed by signal 9 (SIGKILL)" in store.get_run(demo.id).message
    page.goto(served_dashboard.url + "/")  # the demo, remembered as the last run chosen
    expect(_run_picker(page)).to_have_value(re.compile(f"{demo.name} · failed"), timeout=30_000)
    expect(page.locator(".run-state:visible")).to_contain_text("failed", timeout=30_000)
    expect(page.locator(".run-message:visible")).to_contain_text(
        "killed by signal 9", timeout=30_000
    )
    assert page_problems == []


def _caption_step(page: Page, css: str) -> int:
    text = page.locator(f"{css}:visible").get_by_text(re.compile(r"step \d+")).inner_text()
    return int(re.search(r"step (\d+)", text).group(1))


def test_skills_page_starts_a_metra_run_whose_trajectories_change_as_it_trains(
    page, page_problems, served_dashboard
):
    page.goto(served_dashboard.url + "/")
    _tab(page, "Skills")
    expect(page.locator(".trajectories-caption:visible")).to_contain_text("step", timeout=120_000)
    view = page.locator(".trajectories-view .bk-Canvas:visible").first
    expect(view).to_be_visible(timeout=30_000)
    first_step, first_picture = _caption_step(page, ".trajectories-caption"), view.screenshot()
    deadline = time.monotonic() + 120
    while (
        _caption_step(page, ".trajectories-caption") <= first_step and time.monotonic() < deadline
    ):
        page.wait_for_timeout(1_000)
    assert _caption_step(page, ".trajectories-caption") > first_step
    deadline = time.monotonic() + 30  # the new picture may take a moment to draw
    while view.screenshot() == first_picture and time.monotonic() < deadline:
        page.wait_for_timeout(1_000)
    assert view.screenshot() != first_picture
    expect(page.locator(".latent-caption:visible")).to_contain_text("step")
    # A skill chosen in the picker is rolled out from the run's latest weights.
    page.locator(".skill-rollout button").click()
    expect(page.locator(".picker-status:visible")).to_contain_text(
        "from the checkpoint at step", timeout=60_000
    )
    expect(page.locator(".picker-view .bk-Canvas:visible").first).to_be_visible(timeout=30_000)
    # The reward surface waits in a closed card, and opens on a click.
    expect(page.locator(".surface-compute button:visible")).to_have_count(0)
    page.locator(".surface-card .card-header:visible").click()
    expect(page.locator(".surface-compute button:visible")).to_have_count(1, timeout=30_000)
    store = RunStore(served_dashboard.home)
    metra = next(r for r in store.list_runs() if r.trainer == "metra")
    assert store.last_scalars(metra.id)["eval/coverage"] >= 1
    Run(store, metra.id).stop(wait=30)
    assert page_problems == []


def test_hilbert_page_trains_hilp_and_a_click_on_the_maze_shows_distances_and_a_rollout(
    page, page_problems, served_dashboard
):
    # A narrower network than the page's default run (width 256, evaluated every 250
    # updates: 40 s to its first picture here), in the same four rooms on the same data.
    store = RunStore(served_dashboard.home)
    run = Run.create(
        "hilp", store=store, name="HILP under test", env_id="workbench/PointMaze-FourRooms-v0",
        behaviour="play", hidden=64, eval_every=100, checkpoint_every=1_000, total_steps=10**5,
    ).start("subprocess")  # fmt: skip
    page.goto(f"{served_dashboard.url}/?page=hilbert&hilbert_run={run.id}")
    expect(page.locator(".hilbert-caption:visible")).to_contain_text("step", timeout=180_000)
    heat_map = page.locator(".learned-distance .bk-Canvas:visible").first
    expect(heat_map).to_be_visible(timeout=30_000)
    before = heat_map.screenshot()
    box = heat_map.bounding_box()
    # Four rooms, 13 x 13 cells: a third of the way in from the top left is inside the
    # top-left room (the title sits above the frame, the colour bar to its right).
    page.mouse.click(box["x"] + 0.3 * (box["width"] - 80), box["y"] + 0.35 * box["height"])
    # A checkpoint, distances to every state and a 400-step rollout: seconds on an idle
    # machine, minutes on a busy one.
    expect(page.locator(".goal-status:visible")).to_contain_text("Spearman rho", timeout=240_000)
    expect(page.locator(".goal-status:visible")).to_contain_text("zero-shot rollout")
    deadline = time.monotonic() + 30  # the heat map and the path are drawn
    while heat_map.screenshot() == before and time.monotonic() < deadline:
        page.wait_for_timeout(1_000)
    assert heat_map.screenshot() != before
    # The maze keeps its size when the tab is revisited and in a second session.
    drawn = _maze_extent(heat_map.screenshot())
    _tab(page, "Runs")
    _tab(page, "Hilbert")
    second = page.context.new_page()
    second.goto(f"{served_dashboard.url}/?page=hilbert&hilbert_run={run.id}")
    for view in (page, second):
        revisited = view.locator(".learned-distance .bk-Canvas:visible").first
        expect(revisited).to_be_visible(timeout=60_000)
        view.wait_for_timeout(2_000)
        width, height = _maze_extent(revisited.screenshot())
        assert abs(width - drawn[0]) <= 4 and abs(height - drawn[1]) <= 4, (drawn, width, height)
    second.close()
    assert "eval/spearman" in store.last_scalars(run.id)
    Run(store, run.id).stop(wait=30)
    assert page_problems == []


def test_horizon_page_analyses_four_rooms_and_a_new_source_changes_the_figures(
    page, page_problems, served_dashboard
):
    page.goto(served_dashboard.url + "/")
    _tab(page, "Horizon")
    figures = page.locator(".horizon-figures:visible")
    expect(figures).to_contain_text("min_k", timeout=60_000)
    expect(figures).to_contain_text("GridWorld-FourRooms-v0")
    expect(figures).to_contain_text("104 / 4")
    expect(page.locator(".horizon-status:visible")).to_contain_text("analysed in")
    heat_map = page.locator(".lookahead-map .bk-Canvas:visible").first
    chart = page.locator(".bound-chart .bk-Canvas:visible").first
    sweep = page.locator(".sweep-horizons .bk-Canvas:visible").first
    for plot in (heat_map, chart, sweep):
        expect(plot).to_be_visible(timeout=30_000)
    page.wait_for_timeout(1_000)  # the first data drawn
    before = {name: plot.screenshot() for name, plot in (("chart", chart), ("sweep", sweep))}
    # The picker searches every installed MiniGrid id and grid world by part of its name.
    source = page.locator(".horizon-source input")
    source.fill("")
    source.press_sequentially("doorkey")
    menu = page.locator(".horizon-source .bk-menu")
    for size in ("5x5", "6x6", "8x8", "16x16"):
        expect(menu).to_contain_text(f"MiniGrid-DoorKey-{size}-v0")
    source.fill("")
    source.press_sequentially("cliff")
    menu.get_by_text("workbench/GridWorld-Cliff-v0", exact=True).click()
    expect(figures).to_contain_text("GridWorld-Cliff-v0", timeout=60_000)
    expect(figures).to_contain_text("32 / 4")
    expect(figures).not_to_contain_text("104 / 4")
    expect(page.locator(".horizon-status:visible")).to_contain_text(
        "Cliff-v0: 32 states", timeout=30_000
    )
    expect(page.locator(".lookahead-map .bk-Canvas:visible").first).to_be_visible(timeout=30_000)
    for name, plot in (("chart", chart), ("sweep", sweep)):
        deadline = time.monotonic() + 30  # the new data may take a moment to draw
        while plot.screenshot() == before[name] and time.monotonic() < deadline:
            page.wait_for_timeout(500)
        assert plot.screenshot() != before[name], f"the {name} did not change"
    assert page_problems == []


def test_horizon_page_sweeps_the_discount_of_live_ppo_runs_and_draws_their_returns(
    page, page_problems, served_dashboard
):
    page.goto(served_dashboard.url + "/")
    _tab(page, "Horizon")
    expect(page.locator(".sweep-chart .bk-Canvas:visible").first).to_be_visible(timeout=60_000)
    page.locator(".sweep-discounts input").fill("0.5, 0.99")
    page.locator(".sweep-discounts input").press("Enter")
    page.locator(".sweep-steps input").fill("1000")
    page.locator(".sweep-steps input").press("Enter")
    page.locator(".sweep-start button").click()
    status = page.locator(".sweep-status:visible")
    expect(status).to_contain_text("gamma 0.5: step", timeout=30_000)
    expect(status).to_contain_text("gamma 0.99: step")
    # The browser's own copy of the chart's data: one point per discount once both runs
    # have evaluated.
    drawn = """() => Math.max(0, ...[...Bokeh.documents[0].all_models]
        .filter(m => m.data && m.data.gamma !== undefined && m.data.return !== undefined)
        .map(m => m.data.gamma.length))"""
    deadline = time.monotonic() + 120
    while page.evaluate(drawn) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(1_000)
    assert page.evaluate(drawn) == 2, "the returns against discount were never drawn"
    assert page_problems == []


def test_every_tab_in_turn_loads_nothing_from_outside_and_the_live_maze_keeps_its_size(
    page, page_problems, served_dashboard
):
    """One page through every tab: views drawn after others must not link a stylesheet to
    a CDN (they did, with Panel's inline mode, once the Horizon page had been drawn), nor
    take another page's axis ranges (the Live page's U-maze shrank into a corner of its
    frame once the Skills page's large maze had been drawn)."""
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.goto(served_dashboard.url + "/")
    expect(page.locator(".rollout-caption:visible")).to_contain_text(
        "evaluation at step", timeout=60_000
    )
    rollout = page.locator(".rollout-view .bk-Canvas:visible").first
    page.wait_for_timeout(1_000)
    drawn = _maze_extent(rollout.screenshot(), FLOOR)
    assert drawn[0] > 150, drawn  # the U-maze's floor fills most of its 320-pixel frame
    too_wide, overlaps = {}, []
    for name in ("Skills", "Hilbert", "Horizon", "Runs", "Environments", "Live"):
        _tab(page, name)
        page.wait_for_timeout(4_000)
        # Every page fits 1280 px: nothing scrolls sideways, no slider runs under the
        # objective column (the charts' smoothing sliders did).
        if name in ("Skills", "Hilbert"):  # their charts' sliders beside the objective
            expect(page.locator(".formula-box:visible")).to_have_count(1, timeout=30_000)
            expect(page.locator(".noUi-target:visible").first).to_be_visible(timeout=30_000)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 1280:
            too_wide[name] = width
        overlaps += [f"{name}: {o}" for o in _sliders_overlapping(page, ".formula-box")]
    assert too_wide == {}, f"pages wider than 1280 px: {too_wide}"
    assert overlaps == []
    revisited = _maze_extent(rollout.screenshot(), FLOOR)
    assert abs(revisited[0] - drawn[0]) <= 4 and abs(revisited[1] - drawn[1]) <= 4, (
        drawn,
        revisited,
    )
    assert page_problems == []


def test_screenshot_script_draws_pages_with_live_data(browser, served_dashboard, tmp_path):
    """docs/screenshots.py (``make screenshots``, the README's pictures) against this
    server: each page reaches its data, and its picture is drawn and small. The pages whose
    runs it would start afresh (Skills, Hilbert, Curricula, Landscapes: a minute and a half
    of training here) have tests of their own that draw them with data."""
    spec = importlib.util.spec_from_file_location("screenshots", REPO / "docs/screenshots.py")
    screenshots = importlib.util.module_from_spec(spec)
    sys.modules["screenshots"] = screenshots  # its dataclasses look their module up
    spec.loader.exec_module(screenshots)
    pages = tuple(
        shot
        for shot in screenshots.PAGES
        if shot.tab in ("Live", "Runs", "Environments", "Horizon")
    )
    timings = screenshots.shoot(served_dashboard.url, tmp_path, browser, pages=pages)
    assert set(timings) == {shot.tab for shot in pages}
    for shot in pages:
        png = (tmp_path / f"{shot.tab.lower()}.png").read_bytes()
        assert not screenshots.is_blank(png)
        assert len(png) < 400_000, f"{shot.tab}: {len(png):,} bytes"
    store = RunStore(served_dashboard.home)
    for record in store.list_runs():  # runs the pages started when shown: free the CPU
        if record.state in ("running", "paused") and not record.name.startswith("demo"):
            Run(store, record.id).stop(wait=30)


def test_curricula_page_draws_the_teachers_tasks_and_mixture_and_marks_a_knob_change(
    page, page_problems, served_dashboard
):
    """Issue 17: the task space moves as the run trains, the teacher's mixture appears
    (ellipses; the refit slider shows once there are two refits) and a mid-run change of the
    random-task ratio is marked on the page's charts."""
    store = RunStore(served_dashboard.home)
    # Refits every 20 tasks instead of 250: mixtures within a minute on a busy machine.
    run = Run.create(
        "curriculum", store=store, name="curriculum under test", teacher="alp-gmm",
        fit_rate=20, eval_every=2_000, total_timesteps=10**6,
    ).start("subprocess")  # fmt: skip
    try:
        page.set_viewport_size({"width": 1400, "height": 1000})
        page.goto(f"{served_dashboard.url}/?page=curricula&curricula_run={run.id}")
        caption = page.locator(".curriculum-caption:visible")
        expect(caption).to_contain_text("step", timeout=60_000)
        space = page.locator(".task-space-view .bk-Canvas:visible").first
        before = _screenshot(space)
        expect(page.locator(".refit-scrubber:visible")).to_have_count(1, timeout=180_000)
        assert _screenshot(space) != before, "the task space did not change as the run trained"
        ratio = page.locator(".knob-random_task_ratio input")
        ratio.fill("0.5")
        page.locator(".apply-knobs button").click()
        expect(page.locator(".knob-markers:visible").first).to_contain_text(
            "random_task_ratio=0.5", timeout=60_000
        )
        assert store.get_run(run.id).config["random_task_ratio"] == 0.5
        assert page_problems == []
    finally:
        Run(store, run.id).stop(wait=30)


def test_landscapes_page_redraws_the_reward_after_an_edit_and_fills_a_surface_point_by_point(
    page, page_problems, served_dashboard
):
    """Issue 18: the edited reward's map redraws on Preview with its EPIC distance; Apply
    reaches the run (its next landscape is drawn under the new formula and the change is
    marked on the charts); a reward surface of the latest checkpoint fills in point by point."""
    store = RunStore(served_dashboard.home)
    run = Run.create(
        "reward", store=store, name="reward under test", eval_every=2_000,
        checkpoint_every=2_000, total_timesteps=10**6,
    ).start("subprocess")  # fmt: skip
    try:
        page.set_viewport_size({"width": 1400, "height": 1000})
        page.goto(f"{served_dashboard.url}/?page=landscapes&landscapes_run={run.id}")
        caption = page.locator(".landscape-caption:visible")
        expect(caption).to_contain_text("1.0·goal_distance", timeout=60_000)
        status = page.locator(".reward-status:visible")
        expect(status).to_contain_text("Preview drawn", timeout=60_000)
        edited_map = page.locator(".edited-reward-map .bk-Canvas:visible").first
        before = _screenshot(edited_map)
        page.locator(".reward-knob-reward_expression input").fill("2 * (x > 3)")
        page.locator(".reward-preview button").click()
        epic = page.locator(".reward-epic:visible")
        expect(epic).to_contain_text("2 * (x > 3)", timeout=30_000)
        assert _screenshot(edited_map) != before, "the edited reward's map did not redraw"
        page.locator(".reward-knob-reward_expression input").fill("x.__class__")
        page.locator(".reward-preview button").click()
        expect(status).to_contain_text("attribute access is not allowed", timeout=30_000)
        page.locator(".reward-knob-reward_expression input").fill("2 * (x > 3)")
        page.locator(".reward-apply button").click()
        expect(status).to_contain_text("Applied", timeout=30_000)
        expect(caption).to_contain_text("(2 * (x > 3))", timeout=120_000)
        expect(page.locator(".knob-markers:visible").first).to_contain_text(
            "reward_expression", timeout=60_000
        )
        # The surface: 15 x 15 points in chunks of 64, each chunk drawn as it arrives.
        deadline = time.monotonic() + 120
        while not store.checkpoints(run.id) and time.monotonic() < deadline:
            time.sleep(0.5)
        page.locator(".surface-grid input").fill("15")
        page.locator(".surface-episodes input").fill("8")
        page.locator(".surface-compute button").click()
        # The status text sits in the widget's shadow root: get_by_text reaches it.
        surface_status = page.locator(".surface-status:visible").get_by_text(
            re.compile(r"computing|done|refused")
        )
        seen: set[str] = set()
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            text = surface_status.inner_text() if surface_status.count() else ""
            seen.add(text)
            if "done" in text or "refused" in text:
                break
            time.sleep(0.1)
        assert any("done: 225 points" in text for text in seen), seen
        partial = [t for t in seen if "computing:" in t and not t.endswith(" 0 / 225 points")]
        assert partial, f"no point arrived before the last: {seen}"
        assert store.snapshots(run.id, "surface"), "the surface was not stored with its run"
        assert page_problems == []
    finally:
        Run(store, run.id).stop(wait=30)
