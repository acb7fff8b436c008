"""Lesson 11's app (coupling_lab.ui.replays) without a browser: controls as declared, every replay drawn,
sentences without a repr, and the prediction's reveal hidden until Check."""
from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from coupling_lab import replays as rp  # noqa: E402
from coupling_lab.lessons import Control  # noqa: E402
from coupling_lab.ui.replays import Replays, anchor_prediction  # noqa: E402

REPR = re.compile(r"np\.|array\(|float64|dtype|Figure\(|ReplayRun\(|\(\d+(\.\d+)?, \d|\{'|e[+-]\d\d|-0\.00")


@pytest.fixture(scope="module")
def app():
    return Replays()


def test_widgets_offer_exactly_the_declared_controls(app):
    assert set(app.bounds) == set(app.controls) == set(rp.CONTROLS)
    for name, control in app.bounds.items():
        assert isinstance(control, Control)
        widget = app.controls[name]
        assert tuple(widget.options) == control.choices and widget.value == control.default
        assert widget.description == control.description
    assert "cl-main-control" in app.controls["event"]._dom_classes


@pytest.mark.parametrize("event", list(rp.EVENTS))
@pytest.mark.parametrize("setting", rp.SETTINGS)
def test_every_replay_and_setting_draws_and_says_it_in_sentences(app, event, setting):
    n = app.n_updates
    app.controls["setting"].value = setting
    app.controls["event"].value = event
    app.update()  # (no change event when the values were already these)
    assert app.n_updates > n and app.status.message == ""
    run = app.run
    assert run.replay.key == rp.EVENTS[event]
    for line in app.market_lines[:run.result.n_assets] + app.read_lines[:run.result.world.n_platforms]:
        assert line.get_visible() and np.isfinite(line.get_ydata()).all()
    on_record = [f for f in run.figures if f.reported]
    assert sum(bar.get_visible() for bar in app.bars) == len(on_record)
    for text in (app.readout.value, app.about.value):
        assert not REPR.search(text), REPR.search(text)
    assert "reported" in app.readout.value and "reproduces" in app.about.value


def test_a_bad_value_keeps_the_last_good_figure(app):
    app.controls["event"].value = list(rp.EVENTS)[0]
    app.controls["setting"].options = (*rp.SETTINGS, "both")  # a page can change a widget's options
    good = app.run
    app.controls["setting"].value = "both"
    assert "setting must be one of" in app.status.message and app.run is good
    app.controls["setting"].value = rp.SETTINGS[0]
    app.controls["setting"].options = rp.SETTINGS
    assert app.status.message == ""


def test_the_prediction_hides_its_reveal_until_checked():
    p = anchor_prediction()
    assert p.reveal.layout.display == "none"
    assert "without any anchor" in p.reveal.value
    q = rp.quoted_figures_compound()
    assert q["with"] in p.reveal.value and q["without"] in p.reveal.value
