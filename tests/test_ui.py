"""Lesson apps: a control change re-runs the model and moves the artists' data;
untrusted values (NaN, inf, None, strings, out of range, moved bounds) leave the
last good figure and show one line; errors never show a traceback or a path."""
import math
import re
import threading

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from coupling_lab.ui import CouplingPicture, DialSweep, OneEngine, Prediction, SharingDial  # noqa: E402
from coupling_lab.ui.app import Bound, LessonApp  # noqa: E402

BAD_VALUES = [float("nan"), float("inf"), -float("inf"), None, "0.5", 1e308, -1e308, -5]


@pytest.fixture(scope="module")
def dial():
    return SharingDial(sharing=0.4, seed=1)


@pytest.fixture(scope="module")
def engine():
    return OneEngine()


def raster_points(app):
    return np.asarray(app.raster.get_offsets()).copy()


def set_raw(widget, value, then=None):
    """Put ``value`` into a widget's trait the way a hostile client message can
    (bypassing the widget's own validation), then fire the observers, or call
    ``then()`` for selection widgets whose own observers index their options."""
    old = widget.value
    widget._trait_values["value"] = value
    if then is None:
        widget._notify_trait("value", old, value)
    else:
        then()


def test_sharing_dial_reruns_and_moves_artists(dial):
    before_result, before_raster = dial.result, raster_points(dial)
    before_oracle = dial.oracle_lines[2].get_ydata().copy()
    dial.controls["sharing"].value = 1.0
    assert dial.status.message == ""
    assert dial.result is not before_result
    assert dial.values["sharing"] == 1.0
    assert all(j == 0 for j in dial.result.world.platform_oracle)
    # at full sharing every platform reads oracle 0: P3's line is now the shared feed
    assert not np.array_equal(dial.oracle_lines[2].get_ydata(), before_oracle)
    np.testing.assert_array_equal(dial.oracle_lines[2].get_ydata(), dial.result.oracle_tj[:, 0])
    after = raster_points(dial)
    assert not np.array_equal(after, before_raster)
    np.testing.assert_array_equal(after[:, 0], np.nonzero(dial.result.count_tk)[0])
    assert dial.result.measures.synchrony > before_result.measures.synchrony
    assert "5 of 5 platforms" in dial.readout.value


def test_sharing_dial_other_controls(dial):
    dial.controls["scenario"].value = "jump"
    assert dial.values["scenario"] == "jump" and dial.status.message == ""
    dial.controls["n_platforms"].value = 3
    assert dial.result.world.n_platforms == 3
    assert [line.get_visible() for line in dial.oracle_lines[:4]] == [True, True, True, False]
    assert math.isclose(dial.controls["sharing"].step, 1 / 3)
    # stacked selling: the top polygon reaches the total per step
    top = max(dial.flow_polys[2].get_xy()[:, 1])
    assert math.isclose(top, dial.result.notional_tk.sum(axis=1).max() / 1e6, rel_tol=1e-9)
    dial.controls["seed"].value = 2
    assert dial.values["seed"] == 2
    dial.controls["scenario"].value = "crash"
    dial.controls["n_platforms"].value = 5


@pytest.mark.parametrize("name", ["sharing", "seed", "n_platforms"])
@pytest.mark.parametrize("bad", BAD_VALUES, ids=repr)
def test_sharing_dial_refuses_untrusted_values(dial, name, bad):
    good_result, good_values = dial.result, dict(dial.values)
    good_raster = raster_points(dial)
    set_raw(dial.controls[name], bad)
    assert dial.result is good_result and dial.values == good_values
    np.testing.assert_array_equal(raster_points(dial), good_raster)
    assert dial.status.message.startswith("Ignored:") and name in dial.status.message
    dial.controls[name].value = good_values[name]  # a valid value clears the message


def test_moved_bounds_do_not_widen_the_lesson(dial):
    slider = dial.controls["sharing"]
    good = dial.result
    slider.max = 1e308
    slider.value = 1e308  # the widget accepts it now that its max moved
    assert slider.value == 1e308
    assert dial.result is good and "[0.0, 1.0]" in dial.status.message
    slider.min = -1e308
    slider.value = -3.0
    assert dial.result is good and dial.status.message
    slider.min, slider.max, slider.value = 0.0, 1.0, 0.4
    assert dial.status.message == "" and dial.values["sharing"] == 0.4


def test_scenario_string_outside_choices(dial):
    good = dial.result
    set_raw(dial.controls["scenario"], "meltdown", then=dial.update)
    assert dial.result is good and "scenario must be one of" in dial.status.message
    dial.controls["scenario"]._trait_values["value"] = "crash"
    dial.update()
    assert dial.status.message == ""


def test_callback_error_is_one_line_without_traceback(dial, monkeypatch):
    good = dial.result
    good_raster = raster_points(dial)

    def boom(values):
        raise ZeroDivisionError("division by zero in /srv/secret/path/model.py line 12\nsecond line")

    monkeypatch.setattr(dial, "compute", boom)
    dial.controls["seed"].value = 3
    msg = dial.status.message
    assert dial.result is good
    np.testing.assert_array_equal(raster_points(dial), good_raster)
    assert "\n" not in msg and "Traceback" not in msg and "second line" not in msg
    assert "ZeroDivisionError" in msg
    assert "Traceback" not in dial.status.widget.value and "File \"" not in dial.status.widget.value
    monkeypatch.undo()
    dial.controls["seed"].value = 1
    assert dial.status.message == ""


def test_one_engine_price_moves_the_book(engine):
    before = engine.result
    widths = [b.get_width() for b in engine.bars]
    engine.controls["price"].value = 1400.0
    engine.controls["step"].value = 11
    assert engine.result is not before and engine.status.message == ""
    assert engine.values["price"] == 1400.0
    assert engine.result["result"].price_tk[-1, 0] == pytest.approx(1400.0)
    assert [b.get_width() for b in engine.bars] != widths
    assert engine.price_line.get_ydata()[-1] == pytest.approx(1400.0)
    # event markers are the engine's event log
    ev = engine.result["result"].events
    np.testing.assert_array_equal(np.asarray(engine.events.get_offsets())[:, 0], ev["t"])
    # health bars: closed accounts are full width and their state says so
    assert set(engine.result["state"]) <= {"safe", "liquidatable", "below h_full", "closed", "closed with bad debt"}
    assert "bad debt" in engine.table.value


def test_one_engine_gap_makes_bad_debt_and_slide_does_not():
    gap = OneEngine(price=1450, fall_steps=1, step=11)
    slide = OneEngine(price=1450, fall_steps=8, step=11)
    assert gap.result["bad"].sum() > 0
    assert slide.result["bad"].sum() == 0
    assert "closed with bad debt" in set(gap.result["state"])


def test_one_engine_balances_match_the_engine(engine):
    engine.controls["price"].value = 1600.0
    engine.controls["step"].value = 11
    res = engine.result["result"]
    # after the last step the bookkeeping equals the engine's final balances
    from coupling_lab.ui.one_engine import balances_at

    collateral, debt, *_ = balances_at(res, res.n_steps - 1)
    np.testing.assert_allclose(collateral, res.collateral_k[0], atol=1e-9)
    np.testing.assert_allclose(debt, res.debt_k[0], atol=1e-6)


@pytest.mark.parametrize("name", ["price", "step", "close_factor", "bonus", "h_full", "fall_steps"])
@pytest.mark.parametrize("bad", BAD_VALUES, ids=repr)
def test_one_engine_refuses_untrusted_values(engine, name, bad):
    good, good_values = engine.result, dict(engine.values)
    widths = [b.get_width() for b in engine.bars]
    set_raw(engine.controls[name], bad)
    assert engine.result is good and engine.values == good_values
    assert [b.get_width() for b in engine.bars] == widths
    assert engine.status.message.startswith("Ignored:")
    engine.controls[name].value = good_values[name]


def test_coupling_picture_slider_lines_up_the_rows():
    pic = CouplingPicture()
    before = raster_points(pic)
    pic.controls["sharing"].value = 1.0
    after = raster_points(pic)
    assert not np.array_equal(before, after)

    def overlap(points):  # share of liquidation minutes both platforms have in common
        a, b = (set(points[points[:, 1] == k, 0]) for k in (0, 1))
        return len(a & b) / len(a | b)

    assert overlap(after) > 0.8 > overlap(before)  # one shared oracle: mostly the same minutes
    set_raw(pic.controls["sharing"], float("nan"))
    np.testing.assert_array_equal(raster_points(pic), after)
    assert pic.status.message


def test_dial_sweep_runs_and_draws_bands():
    view = DialSweep(n_dial=3, n_seeds=2)
    assert len(view.frame) == 3 * 2
    assert sorted(view.frame["sharing"].unique()) == [0.0, 0.4, 1.0]  # k / 5 platforms
    x, y = view.mean_lines[0].get_data()
    np.testing.assert_array_equal(x, [0.0, 0.4, 1.0])
    means = view.frame.groupby("sharing")["synchrony"].mean().to_numpy()
    np.testing.assert_allclose(y, means)
    old = view.frame
    view.controls["n_seeds"].value = 3  # settings change: no run until asked
    assert view.frame is old and "Run sweep" in view.status.message
    view.run(wait=True)
    assert view.frame is not old and len(view.frame) == 9
    set_raw(view.controls["n_dial"], float("inf"))
    assert view.status.message.startswith("Ignored")
    view.run(wait=True)
    assert len(view.frame) == 9 and "n_dial" in view.status.message


def test_dial_sweep_cancel_keeps_finished_runs():
    view = DialSweep(n_dial=3, n_seeds=2, run=False)
    assert view.frame is None
    view.controls["n_seeds"].value = 50
    thread = view.run(wait=False)
    view.cancel()
    thread.join(timeout=60)
    assert not thread.is_alive()
    if view.frame is None:
        assert "cancelled" in view.status.message.lower()
    else:
        assert len(view.frame) < 3 * 50
        assert view.frame.attrs["sweep"]["complete"] is False
    assert view.bar_text.value.startswith("stopped: ") and view.bar.bar_style == "warning"
    assert view.bar.value == (0 if view.frame is None else len(view.frame))
    assert not view.run_button.disabled and view.cancel_button.disabled


def test_dial_sweep_in_the_background_returns_before_its_runs_and_draws_when_they_end():
    """What lesson 02's page does: the cell returns at once, the sweep runs in its thread."""
    view = DialSweep(n_dial=3, n_seeds=84, run="background")
    assert view.thread is not None and view.run_button.disabled and not view.cancel_button.disabled
    assert view.frame is None and view.bar.max == 3 * 84 and "running" in view.table.value
    view.thread.join(timeout=120)
    assert not view.thread.is_alive() and not view.status.message
    assert len(view.frame) == 3 * 84 and view.bar.value == 252 and view.bar.bar_style == "success"
    assert "Means over 84 seeds per position" in view.table.value
    assert not view.run_button.disabled and view.cancel_button.disabled
    with pytest.raises(ValueError, match=r"run must be one of \[True, False, 'background'\]; got 'later'"):
        DialSweep(n_dial=3, n_seeds=2, run="later")
    import matplotlib.pyplot as plt

    plt.close(view.fig)


def test_dial_sweep_progress_bar_moves_from_the_sweep_thread_and_ends_at_the_total():
    """The bar is a widget moved from the sweep's thread (printed output from that thread never
    reaches the page: tests/test_sharing_dial_browser.py checks the page)."""
    view = DialSweep(n_dial=3, n_seeds=5, run=False)
    view.progress_interval = 0.0  # every seed (the app moves it at most ten times a second)
    seen, threads = [], []
    view.bar.observe(lambda change: (seen.append(change["new"]), threads.append(threading.current_thread())),
                     names="value")
    thread = view.run(wait=False)
    thread.join(timeout=120)
    assert not thread.is_alive() and not view.status.message
    assert seen == [3, 6, 9, 12, 15] and view.bar.max == 15  # after every seed, ending at the total
    assert all(t is thread for t in threads)  # moved while the sweep ran, not after it
    assert view.bar.bar_style == "success" and re.fullmatch(r"15 of 15 runs in \d+\.\d s", view.bar_text.value)
    assert view.progress in view.widget.children and "cl-progress" in view.progress._dom_classes
    import matplotlib.pyplot as plt

    plt.close(view.fig)


def test_prediction_checks_answers_and_guards():
    q = Prediction("Q?", ["a", "b", "c"], answer="b", feedback={"a": "no A", "b": "yes B"})
    assert q.check() is None and "Pick an answer" in q.status.message and q.attempts == 0
    q.choice.value = "a"
    assert q.check() is False and q.correct is False and "no A" in q.result.value
    q.choice.value = "b"
    assert q.result.value == ""  # a new pick hides the old verdict
    assert q.check() is True and q.checked == "b" and "Right" in q.result.value
    assert q.attempts == 2
    set_raw(q.choice, "<script>alert(1)</script>", then=lambda: None)
    assert q.check() is None and q.checked == "b"
    assert "<script>" not in q.status.widget.value
    with pytest.raises(ValueError, match="answer must be one of"):
        Prediction("Q?", ["a", "b"], answer="z")
    with pytest.raises(ValueError, match="one text per option"):
        Prediction("Q?", ["a", "b"], answer=0, feedback=["x"])


def test_prediction_reveal_hidden_until_checked():
    import ipywidgets as widgets

    box = widgets.HTML("the answer")
    q = Prediction("Q?", ["a", "b"], answer=0, reveal=box)
    assert box.layout.display == "none"
    q.choice.value = "b"
    q.check()
    assert box.layout.display is None


def test_after_check_blocks_stay_empty_and_hidden_until_checked():
    import ipywidgets as widgets

    from coupling_lab.lessons.text import Prose
    from coupling_lab.ui import Revealed

    calls = []

    def findings():
        calls.append(1)
        return Prose("With seed 1: **29.8 %**.\n\n- one <b>\n- two")

    app = widgets.HTML("an app that answers the question")
    q = Prediction("Q?", ["a", "b"], answer=0)
    block = q.after_check(findings, app, waiting="Wait for it.")
    assert isinstance(block, Revealed) and isinstance(block, widgets.VBox) and q.revealed == [block]
    # before Check: nothing computed, nothing in the widgets, the app hidden, the waiting line shown
    assert calls == [] and block.text == "" and not block.shown
    assert all(p.layout.display == "none" for p in block.parts) and app.layout.display == "none"
    assert block.waiting.layout.display is None and "Wait for it." in block.waiting.value
    q.choice.value = "b"
    assert q.check() is False  # a wrong answer is a commitment too
    assert block.shown and calls == [1]
    assert block.text == "<div class='cl-prose'><p>With seed 1: <b>29.8 %</b>.</p><ul><li>one &lt;b&gt;</li>" \
                         "<li>two</li></ul></div>"
    assert all(p.layout.display is None for p in block.parts) and block.waiting.layout.display == "none"
    q.choice.value = "a"
    q.check()
    assert calls == [1]  # computed once
    late = q.after_check(lambda: "plain & simple")  # made after the learner committed: shown at once
    assert late.shown and late.text == "<p>plain &amp; simple</p>"


def test_after_check_block_that_fails_shows_one_line_and_stays_hidden():
    def broken():
        raise RuntimeError("no runs\nsecond line")

    q = Prediction("Q?", ["a", "b"], answer=0)
    block = q.after_check(broken)
    q.choice.value = "a"
    assert q.check() is True
    assert not block.shown and block.parts[0].layout.display == "none"
    assert block.status.message.startswith("Could not update (RuntimeError: no runs)")
    assert "second line" not in block.status.message
    with pytest.raises(TypeError, match="contents must be widgets or functions; got str"):
        q.after_check("the answer, not hidden")
    with pytest.raises(ValueError, match="at least 1"):
        q.after_check()


def test_lesson_app_requires_bounds_for_every_control():
    import ipywidgets as widgets

    class NoBounds(LessonApp):
        bounds = {"a": Bound(0, 1)}

        def build_controls(self):
            return {"a": widgets.FloatSlider(), "b": widgets.FloatSlider()}

    with pytest.raises(TypeError, match="missing \\['b'\\]"):
        NoBounds()


def test_status_messages_carry_no_paths(dial):
    set_raw(dial.controls["sharing"], "/etc/passwd")
    assert not re.search(r"Traceback|File \"", dial.status.message)
    dial.controls["sharing"].value = 0.4


# --- every control declared once: the widget and the bound check agree -------------------------
from coupling_lab.lessons import Control  # noqa: E402
from coupling_lab.ui.cascades import DepthCascade  # noqa: E402
from coupling_lab.ui.faults import FaultComparison  # noqa: E402
from coupling_lab.ui.forecast import ForecastVsSimulation  # noqa: E402
from coupling_lab.ui.mitigations import MitigationLab, TradeOffPicture, TwoDesigns  # noqa: E402

APPS = {
    "00": lambda: CouplingPicture(),
    "01": lambda: OneEngine(),
    "02": lambda: SharingDial(),
    "02-sweep": lambda: DialSweep(run=False),
    "03": lambda: DepthCascade(),
    "04": lambda: FaultComparison(),
    "05": lambda: TwoDesigns(),
    "05-lab": lambda: MitigationLab(),
    "05-tradeoff": lambda: TradeOffPicture(),
    "06": lambda: ForecastVsSimulation(),
}


@pytest.fixture(scope="module", params=sorted(APPS), ids=sorted(APPS))
def default_app(request):
    return APPS[request.param]()


def test_every_app_widget_range_equals_its_declared_control(default_app):
    app = default_app
    assert set(app.bounds) == set(app.controls)
    for name, control in app.bounds.items():
        assert isinstance(control, Control), f"{name}: the bound is not a declared Control"
        widget = app.controls[name]
        assert widget.value == control.default, f"{name}: opens at {widget.value!r}, declared {control.default!r}"
        if control.choices is not None:
            assert tuple(widget.options) == tuple(control.choices), name
            continue
        assert (widget.min, widget.max) == (control.low, control.high), \
            f"{name}: widget [{widget.min}, {widget.max}] vs declared [{control.low}, {control.high}]"
        if name == "sharing" and isinstance(app, SharingDial):
            assert widget.step == pytest.approx(1 / app.values["n_platforms"])  # one platform per step
        else:
            assert widget.step == pytest.approx(control.step), name
        assert control.description in widget.description or widget.description == control.description
        # the lesson accepts exactly the widget's range: both ends, nothing past them
        assert control.read(name, widget.max) == widget.max and control.read(name, widget.min) == widget.min
        past = widget.max + (control.step or 1)
        with pytest.raises(ValueError):
            control.read(name, past)


def test_page_text_holds_no_python_repr(default_app):
    """Readouts and tables are formatted sentences: no np.float64(...), array(...), Measures(...) or -0.00."""
    texts = [w.value for w in (getattr(default_app, a, None) for a in ("readout", "table")) if w is not None]
    for text in texts:
        for pattern in ("np.float64", "np.int64", "array(", "Measures(", "-0.00", "dtype", "e+0"):
            assert pattern not in text, f"{pattern!r} in {text[:200]!r}"


# --- figures that do not mislead -----------------------------------------------------------------
def test_lesson00_time_axis_fixed_and_shared_lines_both_visible():
    pic = CouplingPicture()
    limits = set()
    for s in (0.0, 0.5, 1.0):
        pic.controls["sharing"].value = s
        limits.add(tuple(pic.ax_price.get_xlim()))
    assert len(limits) == 1
    one, two = pic.oracle_lines
    # at sharing 1 the two lines coincide: a wide one under a narrow dashed one
    np.testing.assert_array_equal(one.get_ydata(), two.get_ydata())
    assert one.get_linewidth() > 2 * two.get_linewidth() and two.get_zorder() > one.get_zorder()
    assert two.get_linestyle() != one.get_linestyle()


def test_lesson02_time_axis_fixed_along_the_dial(dial):
    limits = set()
    for s in (0.0, 0.4, 1.0):
        dial.controls["sharing"].value = s
        limits.add(tuple(dial.ax_price.get_xlim()))
    assert len(limits) == 1
    dial.controls["sharing"].value = 0.4


def test_dial_sweep_table_follows_every_run():
    sw = DialSweep(n_dial=2, n_seeds=2, n_platforms=2)
    assert "Means over 2 seeds" in sw.table.value and "%" in sw.table.value
    sw.controls["n_seeds"].value = 3
    sw.run(wait=True)
    assert "Means over 3 seeds" in sw.table.value and "Means over 2 seeds" not in sw.table.value


def test_lesson03_designs_drawn_distinguishably_when_they_coincide():
    app = DepthCascade()
    widths = [line.get_linewidth() for line in app.price_lines]
    orders = [line.get_zorder() for line in app.price_lines]
    assert widths == sorted(widths, reverse=True) and orders == sorted(orders) and len(set(widths)) == 3
    assert "crash + noise" in app.readout.value


def test_lesson04_selling_panels_on_their_own_scales():
    app = FaultComparison(size=10)
    left, right = app.cols[0]["ax_q"], app.cols[1]["ax_q"]
    assert right.get_ylim()[1] < 0.2 * left.get_ylim()[1]  # 5 vs 250 M USD: the right panel is readable
    top = max(p.get_xy()[:, 1].max() for p in app.cols[1]["polys"])
    assert top > 0.3 * right.get_ylim()[1]
    assert app.cols[0]["ax_p"].get_ylim() == app.cols[1]["ax_p"].get_ylim()  # one price scale


from coupling_lab.lessons.faults import CONTROLS as FAULT_CONTROLS, FAULT_KINDS  # noqa: E402

# the default settings at every size, then other durations, sharings and seeds at every fourth size
_FAULT_SETTINGS = [(dict(minutes=10, sharing=1.0, seed=1), 1), (dict(minutes=1, sharing=1.0, seed=2), 4),
                   (dict(minutes=60, sharing=0.4, seed=7), 4), (dict(minutes=30, sharing=0.0, seed=3), 4),
                   (dict(minutes=10, sharing=1.0, seed=42), 4)]


@pytest.mark.parametrize("kind", list(FAULT_KINDS))
def test_lesson04_price_scale_is_fixed_and_holds_the_data_at_every_size(kind):
    """Along the whole range of the main control (fault size 0-40 %), for each kind and several
    durations, sharings and seeds: the price panels keep one scale (so a step reuses the static
    frame), every plotted price lies inside it, each selling panel's top holds its bars, and the
    axes stay labelled with units."""
    app = FaultComparison(kind=kind)
    low, top = app.price_limits
    assert (low, top) == (0.0, 2200.0)  # 0 to 10 % above the 2,000 USD opening price
    size = FAULT_CONTROLS["size"]
    lowest = np.inf
    for setting, every in _FAULT_SETTINGS:
        for x in np.arange(size.low, size.high + size.step / 2, every * size.step):
            raw = dict(kind=kind, size=float(x), **setting)
            app.draw(app.compute({name: app.bounds[name].read(name, v) for name, v in raw.items()}))
            for c, col in enumerate(app.cols):
                assert col["ax_p"].get_ylim() == (low, top), (raw, c)
                for line in (*col["lines"], col["market"], col["floor"]):
                    y = np.asarray(line.get_ydata(), dtype=float)
                    if y.size:
                        assert low <= y.min() and y.max() <= top, (raw, c, line.get_label(), y.min(), y.max())
                        lowest = min(lowest, y.min())
                bars = max(p.get_xy()[:, 1].max() for p in col["polys"])
                assert 0 <= bars <= col["ax_q"].get_ylim()[1], (raw, c)
    if kind == "bad report":
        assert lowest < 0.25 * top  # the largest faults use the scale: the shared side cascades far down
    ax_p, ax_q = app.cols[0]["ax_p"], app.cols[0]["ax_q"]
    assert "USD" in ax_p.get_ylabel() and "M USD / min" in ax_q.get_ylabel() and "minutes" in ax_q.get_xlabel()
    assert "own scale" in app.cols[1]["ax_q"].get_ylabel()


def test_lesson04_price_scale_widens_rather_than_cut_a_run_off():
    app = FaultComparison(size=10)
    app.price_limits = (0.0, 1500.0)  # below the opening price: the data rise above it
    app.draw(app.result)
    ax = app.cols[0]["ax_p"]
    highest = max(max(line.get_ydata().max() for line in col["lines"]) for col in app.cols)
    assert ax.get_ylim()[0] == 0.0 and ax.get_ylim()[1] >= highest > 1500.0


def test_lesson04_size_steps_paste_one_kept_static_frame():
    """After the page's first draw, stepping the fault size renders no new static frame: the price
    scale is fixed and the selling panels' y axes are drawn with the moving artists."""
    app = FaultComparison()
    app.fig.canvas.draw()  # the page's first draw: its static frame is kept
    tops = set()
    for x in range(1, 12):
        app.controls["size"].value = float(x)
        assert app.status.message == ""
        tops.add(app.cols[0]["ax_q"].get_ylim()[1])
    assert len(tops) > 3  # the selling panels' tops did follow the runs
    assert (app.layers.n_full, app.layers.n_fast) == (0, 11)
    for col in app.cols:
        ax_q = col["ax_q"]
        assert ax_q.yaxis in app.layers.moving
        # its label is shown once, by a text in the static frame (the axis draws no label per frame)
        shown = [t for t in ax_q.texts if t.get_visible() and t.get_text() == ax_q.get_ylabel()]
        assert len(shown) == 1 and shown[0] not in app.layers.moving and not ax_q.yaxis.label.get_visible()


def test_lesson05_lab_selling_top_follows_the_runs_without_a_new_static_frame():
    """Crash depth 30 -> 35 -> 40 %: the selling panel's top follows the runs, drawn with its y axis
    on every frame, while the price scale and the time window stay: no new static frame."""
    app = MitigationLab()
    app.fig.canvas.draw()  # the page's first draw: its static frame is kept
    tops = {app.ax_flow.get_ylim()[1]}
    for size in (35.0, 40.0):
        app.controls["size"].value = size
        assert app.status.message == ""
        tops.add(app.ax_flow.get_ylim()[1])
        bars = max(line.get_ydata().max() for line in app.flow_lines.values())
        assert 0 < bars <= app.ax_flow.get_ylim()[1]
    assert len(tops) > 1  # the top moved
    assert (app.layers.n_full, app.layers.n_fast) == (0, 2)
    shown = [t for t in app.ax_flow.texts if t.get_visible() and t.get_text() == app.ax_flow.get_ylabel()]
    assert len(shown) == 1 and "M USD / min" in shown[0].get_text()


def test_lesson05_lab_outage_legend_has_a_swatch_whether_or_not_the_outage_is_on():
    """The selling panel's legend entry for the keeper outage shows the shade it names (not an empty
    swatch while the outage is off) and says when the span appears; switching the outage on shades the
    span only (the legend is in the static frame, the span a moving artist)."""
    from coupling_lab.lessons.mitigations import OUTAGE

    app = MitigationLab()
    app.fig.canvas.draw()
    legend = app.legends[1]
    entries = dict(zip([t.get_text() for t in legend.get_texts()], legend.legend_handles))
    (label,) = [k for k in entries if "keeper outage" in k]
    assert "shaded" in label and "when on" in label and f"{OUTAGE[0]}–{OUTAGE[1]}" in label
    swatch = entries[label]
    assert swatch.get_alpha() > 0 and swatch.get_facecolor()[:3] == app.outage_shade.get_facecolor()[:3]
    assert app.outage_shade.get_alpha() == 0  # opens with every protection off: no span
    app.controls["outage"].value = "on"
    assert app.status.message == ""
    assert app.outage_shade.get_alpha() == swatch.get_alpha()
    # the legend (swatch included) stays in the static frame: nothing added to what every frame draws
    moving = app.moving_artists()
    assert app.outage_shade in moving and not any(a in moving for a in (legend, swatch, app.outage_key))
    assert len(moving) == 8  # four price lines, two selling lines, the span and the selling y axis
    renderer = app.fig.canvas.get_renderer()
    assert legend.get_window_extent(renderer).x1 <= app.fig.bbox.x1  # the entry fits in the figure


@pytest.mark.parametrize("make", [TwoDesigns, MitigationLab, TradeOffPicture, ForecastVsSimulation],
                         ids=["05", "05-lab", "05-tradeoff", "06"])
def test_legends_sit_off_the_data(make):
    app = make()
    app.fig.canvas.draw()
    renderer = app.fig.canvas.get_renderer()
    for ax in app.fig.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        box, area = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
        overlap_w = min(box.x1, area.x1) - max(box.x0, area.x0)
        overlap_h = min(box.y1, area.y1) - max(box.y0, area.y0)
        assert overlap_w <= 1 or overlap_h <= 1, f"a legend overlaps the data area of {ax.get_title(loc='left')!r}"


def test_lesson07_figures_fit_a_1280_px_page_and_write_depths_in_millions():
    from coupling_lab import Config, sweep
    from coupling_lab.ui.sweep_plots import READABLE, SweepExplorer, plot_dial, plot_heatmap

    frame = sweep(Config(n_platforms=2), {"sharing": [0.0, 1.0], "market.depth": [5e7, 2e8]}, seeds=range(2),
                  progress=False)
    one = frame[frame["market.depth"] == 5e7]
    for fig in (plot_dial(one), plot_heatmap(frame, "excess_drawdown", formats=READABLE).figure,
                SweepExplorer(frame, formats=READABLE).fig):
        assert fig.get_size_inches()[0] * fig.dpi <= 1100
    ax = plot_heatmap(frame, "excess_drawdown", formats=READABLE)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["50 M", "200 M"]
    explorer = SweepExplorer(frame, formats=READABLE)
    labels = [label for label, _ in explorer.controls["value"].options]
    assert labels == ["50 M USD", "200 M USD"] and not any("e+" in label for label in labels)


def test_lesson07_explorer_steps_blit_over_one_kept_frame():
    """The explorer's slider moves the chosen curves, bands and title over a kept picture of the
    rest (grey curves, axes, labels): no full constrained-layout draw per step, the same picture."""
    from coupling_lab import Config, sweep
    from coupling_lab.ui.sweep_plots import READABLE, SweepExplorer

    frame = sweep(Config(n_platforms=2), {"sharing": [0.0, 1.0], "market.depth": [5e7, 2e8, 8e8]}, seeds=range(2),
                  progress=False)
    app = SweepExplorer(frame, formats=READABLE)
    canvas = app.fig.canvas
    canvas.draw()  # the page's first draw
    limits = [(ax.get_xlim(), ax.get_ylim()) for ax in app.axes]
    titles = set()
    for value in (2e8, 8e8, 5e7, 2e8):
        app.controls["value"].value = value
        assert app.status.message == ""
        titles.add(app.title.get_text())
        assert [(ax.get_xlim(), ax.get_ylim()) for ax in app.axes] == limits  # fixed axes along the slider
    assert len(titles) == 3 and all("M" in t and "e+" not in t for t in titles)
    assert (app.layers.n_full, app.layers.n_fast) == (0, 4)
    blitted = np.asarray(canvas.get_renderer().buffer_rgba()).copy()
    canvas.draw()
    full = np.asarray(canvas.get_renderer().buffer_rgba())
    assert (np.abs(blitted.astype(int) - full.astype(int)).max(axis=2) > 8).mean() < 0.005


def test_lesson07_tables_show_usd_in_millions_without_scientific_notation():
    from coupling_lab import Config, sweep
    from coupling_lab.ui.sweep_plots import readable_table

    frame = sweep(Config(n_platforms=2), {"market.depth": [5e7, 2e8]}, seeds=range(2), progress=False)
    table = readable_table(frame)
    assert list(frame.columns) != list(table.columns) and "liquidated (M USD)" in table.columns
    np.testing.assert_allclose(table["liquidated (M USD)"], (frame["liquidated_usd"] / 1e6).round(3))
    assert sorted(table["market.depth (M USD)"].unique()) == [50.0, 200.0]
    assert "e+" not in table.to_html() and "e+" not in table.to_string()



def test_lesson07_learner_tables_label_units_and_show_percent_where_the_plots_do():
    from coupling_lab import Config, sweep
    from coupling_lab.lessons.text import Prose
    from coupling_lab.ui.sweep_plots import run_table, summary_table, sweep_summary

    frame = sweep(Config(n_platforms=2), {"sharing": [0.0, 1.0]}, seeds=range(3), progress=False)
    table = run_table(frame, rows=2)
    assert isinstance(table, Prose)
    (kind, rows), = table.blocks
    head, first, second = rows
    assert kind == "table" and len(rows) == 3
    assert head[:2] == ["oracle sharing s", "seed"]
    for unit in ("peak 10-step flow (% of all selling)", "excess drawdown (% extra fall)", "liquidated (M USD)",
                 "bad debt (M USD)", "fundamental drawdown (log units)"):
        assert unit in head
    row = frame.iloc[0]
    cell = dict(zip(head, first))
    assert cell["peak 10-step flow (% of all selling)"] == f"{100 * row['peak_flow_share']:,.1f}"
    assert cell["excess drawdown (% extra fall)"] == f"{100 * -np.expm1(-row['excess_drawdown']):,.1f}"
    assert cell["liquidated (M USD)"] == f"{row['liquidated_usd'] / 1e6:,.1f}"
    summary = summary_table(frame)
    (kind, rows), = summary.blocks
    assert rows[0][0] == "oracle sharing s" and rows[0][-1] == "runs" and [r[-1] for r in rows[1:]] == ["3", "3"]
    assert "peak 10-step flow (% of all selling): mean [95% interval]" in rows[0]
    s = sweep_summary(frame, ["peak_flow_share"], ["sharing"]).iloc[-1]
    assert rows[-1][2] == f"{s['mean']:.1f} [{s['ci_low']:.1f}, {s['ci_high']:.1f}]"
    for text in (str(table), table.html(), str(summary), summary.html()):
        assert "e+" not in text and "nan" not in text.lower().replace("n/a", "")
    with pytest.raises(ValueError, match="rows must be an integer >= 1; got 0"):
        run_table(frame, rows=0)


# --- the layered (blitted) redraw --------------------------------------------------
def _main_step(app):
    """A new value of the app's main control, one step from the current one."""
    for w in app.controls.values():
        if "cl-main-control" in w._dom_classes:
            step = getattr(w, "step", 1) or 1
            return w, (w.value - step if w.value - step >= w.min else w.value + step)
    raise AssertionError("no main control")


def test_layered_update_blits_what_a_full_draw_shows(default_app):
    """An update after the first draw pastes a kept static frame and draws only the moving
    artists (no full render), and the picture matches an ordinary full draw of the same state;
    the figure is left not stale, so IPython's post-execute hook asks for no second draw."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    app = default_app
    layers = app.layers
    assert type(app.fig.canvas).draw is FigureCanvasAgg.draw  # the canvas is not patched
    app.fig.canvas.draw()  # the page's first draw
    if not layers.moving:
        return
    w, a = _main_step(app)
    b = w.value
    for v in (a, b, a):
        w.value = v
    fast, full = layers.n_fast, layers.n_full
    w.value = b  # states seen before: their static frames are kept
    w.value = a
    assert layers.n_fast == fast + 2 and layers.n_full == full, app.status.message
    assert app.fig.stale is False
    blitted = np.asarray(app.fig.canvas.get_renderer().buffer_rgba()).copy()
    app.fig.canvas.draw()  # ordinary full draw: the draw_event callback adds the moving artists
    full = np.asarray(app.fig.canvas.get_renderer().buffer_rgba())
    differ = (np.abs(blitted.astype(int) - full.astype(int)).max(axis=2) > 8).mean()
    assert differ < 0.005, f"{differ:.2%} of the pixels differ from a full draw"  # (z-order at spines)
    assert app.fig.stale is False


def test_moving_axis_refuses_static_artists_its_limits_place():
    """A moving y axis leaves the y limits out of the static frame's key: a static artist placed in
    data y would go stale, so it is refused; one placed in axes coordinates along y (a time band) is fine."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from coupling_lab.ui._layers import LayeredDraw

    def figure():
        fig = Figure(figsize=(3, 2))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        return fig, ax, ax.plot([0, 1], [0, 1])[0]

    fig, ax, line = figure()
    static, = ax.plot([0, 1], [1, 0])
    with pytest.raises(ValueError, match="moving y axis .* static Line2D"):
        LayeredDraw(fig, [line, ax.yaxis])
    LayeredDraw(fig, [line, static, ax.yaxis])
    fig, ax, line = figure()
    ax.axvspan(0.2, 0.4, alpha=0.3)
    layers = LayeredDraw(fig, [line, ax.yaxis])
    fig.canvas.draw()
    ax.set_ylim(0, 10)
    line.set_ydata([0, 8])
    layers.update()
    assert (layers.n_full, layers.n_fast) == (0, 1)


def test_layered_update_waits_for_the_first_draw():
    """Before anything is on screen an update only asks for a draw (ipympl would keep a frame
    sent before the page is there as an unusable data URL; Agg's draw_idle draws at once);
    later updates are layered. savefig still shows the data."""
    import io

    app = CouplingPicture()
    assert (app.layers.n_full, app.layers.n_fast) == (0, 0)  # the first update: an ordinary draw
    app.controls["sharing"].value = 0.0 if app.controls["sharing"].value else 1.0
    assert (app.layers.n_full, app.layers.n_fast) == (1, 0)
    assert all(a.get_animated() for a in app.layers.moving)
    buf = io.BytesIO()
    app.fig.savefig(buf, format="png")
    assert buf.tell() > 1000
