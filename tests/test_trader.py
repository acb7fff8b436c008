"""Lesson 08, the trader's view: the position's liquidation price and health, its
place in the crowd's liquidation map, the odds over seeds of being caught, and
the numbers the notebook quotes (pinned here over 40 seeds)."""
import dataclasses
import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from numpy.testing import assert_allclose  # noqa: E402

from coupling_lab import Book, Config, PlatformParams, build, run  # noqa: E402
from coupling_lab.lessons import traders_view as tv  # noqa: E402
from coupling_lab.trader import (  # noqa: E402
    Position, cascade_odds, crowd_world, debt_for_health, needed_health, place_in_map, safe_health,
)

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "08-the-traders-view.ipynb"
PINNED_SEEDS = range(1, 41)
EDGES = np.arange(500.0, 2000.0 + 1e-9, 25.0)


def prose():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    return re.sub(r"\s+", " ", "\n".join(c.source for c in nb.cells if c.cell_type == "markdown"))


# --------------------------------------------------------------------------- hand-worked cases
def test_liquidation_price_and_health_of_a_placed_position():
    pos = Position(collateral=10.0, debt=12_000.0)
    assert pos.liquidation_price(0.8) == pytest.approx(1500.0)      # 12000 / (10 * 0.8)
    assert pos.health(2000.0, 0.8) == pytest.approx(4.0 / 3.0)      # 10 * 2000 * 0.8 / 12000
    assert pos.health(1500.0, 0.8) == pytest.approx(1.0)            # at p* health is exactly 1
    assert Position(5.0, 6_000.0).liquidation_price(0.8) == pytest.approx(1500.0)  # scale-free
    assert debt_for_health(4.0 / 3.0, 10.0, 2000.0, 0.8) == pytest.approx(12_000.0)
    assert Position(platform=3, feed="own").feed_index() == 4 and Position(platform=3).feed_index() == 0


@pytest.mark.parametrize("kwargs, field", [
    ({"collateral": 0.0}, "collateral"), ({"collateral": math.nan}, "collateral"), ({"debt": -1.0}, "debt"),
    ({"debt": math.inf}, "debt"), ({"platform": -1}, "platform"), ({"platform": 1.5}, "platform"),
    ({"feed": "cheapest"}, "feed"),
])
def test_bad_position_names_the_field(kwargs, field):
    with pytest.raises((ValueError, TypeError), match=field):
        Position(**kwargs)


def test_bad_platform_crowd_or_safety_is_one_value_error():
    with pytest.raises(ValueError, match=r"platform must be in \[0, 4\]; got 5"):
        cascade_odds(5, "shared", seeds=[1])
    with pytest.raises(ValueError, match="crowd must be one of"):
        crowd_world(Config(), 1, "half", 0, "shared")
    with pytest.raises(ValueError, match="safety must be in"):
        safe_health([1.2], 0.0)
    with pytest.raises(ValueError, match="seeds must hold at least 1"):
        cascade_odds(0, "shared", seeds=[])


def test_needed_health_and_safe_health_by_hand():
    assert needed_health(np.array([2000.0, 1600.0, 1800.0]), 2000.0) == pytest.approx(1.25)
    need = np.array([1.5, 1.2, 1.4, 1.3])
    assert safe_health(need, 0.75) == 1.4   # 3 of 4 runs need at most 1.4
    assert safe_health(need, 1.0) == 1.5
    assert safe_health(need, 0.25) == 1.2
    assert safe_health(need, 0.5) == 1.3


def test_place_in_map_by_hand():
    # p* = 2000, 1000 and 1250 USD (LT 0.8); the position's p* = 1500
    book = Book([1.0, 1.0, 2.0], [1600.0, 800.0, 2000.0])
    pm = place_in_map(Position(1.0, 1200.0), [book], [PlatformParams()], 2000.0, [500.0, 1250.0, 2500.0])
    assert pm.liquidation_price == pytest.approx(1500.0)
    assert pm.health == pytest.approx(4.0 / 3.0)
    assert pm.share_before == pytest.approx(1600.0 / 4400.0)
    assert pm.debt_bk[:, 0].tolist() == [800.0, 3600.0]   # 1250 falls in the upper bin
    # if the platform read 1500 USD only the p* = 2000 account is liquidatable: health 0.75 < 0.95,
    # so all its debt; 1600 * 1.05 / 1500 > 1 unit: it gives up its whole unit, 1500 USD
    assert pm.crowd_sold_usd == pytest.approx(1500.0)


# --------------------------------------------------------------------------- the probe is exact
@pytest.mark.parametrize("crowd, feed", [("shared", "shared"), ("independent", "own"), ("shared", "own"),
                                         ("independent", "shared")])
def test_needed_health_matches_a_real_account_in_the_engine(crowd, feed):
    """A tiny account with health just above the needed health is never liquidated in the
    engine's own run, just below it is: the probe reads the same feed the platform does."""
    config, seed, k = Config(), 3, 2
    world = crowd_world(config, seed, crowd, k, feed)
    res = run(world)
    j = 0 if feed == "shared" else k + 1
    price0 = math.exp(world.x_t[0])
    need = needed_health(res.oracle_tj[:, j], price0)
    assert world.platform_oracle[k] == j
    c = 1e-6  # units: its sale is a few thousandths of a USD against 200 M USD of depth
    for factor, caught in ((1.001, False), (0.999, True)):
        d = debt_for_health(need * factor, c, price0, config.platform.lt)
        books = list(world.books)
        books[k] = Book(np.r_[books[k].collateral, c], np.r_[books[k].debt, d])
        probe_run = run(dataclasses.replace(world, books=tuple(books)))
        me = books[k].n_accounts - 1
        hit = bool(np.any((probe_run.events["platform"] == k) & (probe_run.events["account"] == me)))
        assert hit is caught, (factor, need)


def test_crowd_world_sets_every_platforms_feed_and_keeps_the_draws():
    config = Config()
    base = build(config, 4)
    for crowd, feed, expect in [("shared", "shared", (0, 0, 0, 0, 0)), ("independent", "own", (1, 2, 3, 4, 5)),
                                ("shared", "own", (0, 0, 3, 0, 0)), ("independent", "shared", (1, 2, 0, 4, 5))]:
        w = crowd_world(config, 4, crowd, 2, feed)
        assert w.platform_oracle == expect
        assert np.array_equal(w.x_t, base.x_t) and np.array_equal(w.venue_noise_tv, base.venue_noise_tv)
        assert all(np.array_equal(a.debt, b.debt) for a, b in zip(w.books, base.books))
        assert w.oracles == base.oracles


# --------------------------------------------------------------------------- odds over seeds
@pytest.fixture(scope="module")
def pinned():
    return {feed: cascade_odds(0, feed, seeds=PINNED_SEEDS) for feed in ("shared", "own")}


def test_more_buffer_is_never_caught_more_often(pinned):
    grid = np.linspace(1.0, 2.2, 241)
    for odds in pinned.values():
        for crowd in ("shared", "independent", "no cascade"):
            caught = [odds.caught(h, crowd) for h in grid]
            assert all(a >= b for a, b in zip(caught, caught[1:])), crowd
            assert caught[0] == 1.0 and caught[-1] == 0.0
            by_cascade = [odds.caught_by_cascade(h, crowd) for h in grid]
            assert all(b <= a for a, b in zip(caught, by_cascade))
        safe = [odds.safe_health(q, "shared") for q in np.linspace(0.05, 1.0, 20)]
        assert all(a <= b for a, b in zip(safe, safe[1:]))


def test_safe_health_is_safe_and_the_smallest_such(pinned):
    odds = pinned["shared"]
    for crowd in ("shared", "independent", "no cascade"):
        for q in (0.5, 0.9, 0.95, 1.0):
            h = odds.safe_health(q, crowd)
            assert odds.caught(h, crowd) <= 1 - q + 1e-12
            assert odds.caught(h - 1e-9, crowd) > 1 - q + 1e-12


def test_the_cascade_only_adds_risk(pinned):
    """Taking the forced selling out never asks for more health than either crowd needs, seed by seed."""
    for odds in pinned.values():
        # seed by seed up to 0.005 of health (0.3 % of price): a threshold feed (0.5-2 %) may publish a
        # slightly different point of the same fall once the path changes
        assert np.all(odds.need_no_cascade_s <= odds.need_shared_s + 5e-3)
        assert np.all(odds.need_no_cascade_s <= odds.need_independent_s + 5e-3)
        for q in (0.5, 0.9, 1.0):
            calm = odds.safe_health(q, "no cascade")
            assert calm <= odds.safe_health(q, "shared") and calm <= odds.safe_health(q, "independent")


def test_the_numbers_the_lesson_quotes(pinned):
    """The runs give the figures the lesson reveals after Check; the notebook's own text holds none of them."""
    sh, own = pinned["shared"], pinned["own"]
    n = len(PINNED_SEEDS)
    # a position at health 1.50: caught in 29 / 14 / 0 of 40 runs
    counts = [round(sh.caught(1.50, c) * n) for c in ("shared", "independent", "no cascade")]
    assert counts == [29, 14, 0]
    # safe in 9 of 10: 1.57 / 1.52 / 1.48, about 0.05 on top, liquidation prices 1,272 / 1,316 USD
    hs, hi, hc = (sh.safe_health(0.9, c) for c in ("shared", "independent", "no cascade"))
    assert (round(hs, 2), round(hi, 2), round(hc, 2)) == (1.57, 1.52, 1.48)
    assert round(sh.extra_buffer(0.9), 2) == 0.05
    assert (round(2000 / hs), round(2000 / hi)) == (1272, 1316) and round(2000 / hi - 2000 / hs) == 43
    # on P1's own feed with the crowd sharing: 18 of 40 instead of 29, and still 1.57 at 9 in 10
    assert round(own.caught(1.50, "shared") * n) == 18
    assert round(own.safe_health(0.9, "shared"), 2) == 1.57
    # 1.50 at entry is a liquidation price of 1,333 USD, below the crash's 1,400 USD
    assert round(Position(10.0, debt_for_health(1.5, 10.0, 2000.0, 0.8)).liquidation_price(0.8)) == 1333 < 1400

    # the revealed text is made from the pinned figures (too slow to run on Check): they are these runs'
    assert tuple(tv.QUOTED_SEEDS) == tuple(PINNED_SEEDS)
    assert tv.quoted_figures(pinned) == tv.QUOTED
    assert tv.runs_findings(tv.quoted_figures(pinned)) == tv.runs_findings()
    text = str(tv.runs_findings())
    for quoted in ("Over 40 runs (seeds 1–40; the app shows 8", "liquidation price 1,333 USD", "29 of 40", "14 of 40",
                   "0 of 40", "health 1.57 when the feeds are shared", "1.52 when they are independent",
                   "1.48 without the cascade", "0.05 of health on top", "1,272 against 1,316 USD",
                   "about 43 USD lower", "1.48 became 1.52 with independent feeds and 1.57",
                   "caught in 18 of 40 runs instead of 29", "it still needs health 1.57"):
        assert quoted in text, quoted
    lesson = prose()
    for number in ("of 40", "1.57", "1.52", "1.48", "0.05 of health", "1,272", "43 USD"):
        assert number not in lesson, f"the notebook states {number!r} where a learner reads it before Check"
    code = " ".join(c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code")
    assert "ask.after_check(runs_findings)" in code


def test_lesson08_writes_prices_with_thousands_separators():
    """Prices read "1,333 USD" in the findings and the prose, as in the apps' readouts ("1,202 USD")."""
    ungrouped = re.compile(r"(?<![\d,.{])\d{4,}(?![\d,}])")  # 1333, not 1,333 or LaTeX's 1{,}500
    years = {"2020", "2021", "2022", "2023", "2024"}
    for text in (str(tv.runs_findings()), prose()):
        bad = [m.group(0) for m in ungrouped.finditer(text) if m.group(0) not in years]
        assert not bad, bad
    assert "1,333 USD" in str(tv.runs_findings()) and "1,500 USD" in prose()


def test_the_map_numbers_the_lesson_quotes():
    text = prose()
    config = Config()
    world = build(config, 1)
    assert config.n_platforms * config.population.n_accounts == 10_000 and "10,000 borrowers" in text
    pm = place_in_map(Position(10.0, 12_000.0), world.books, world.platforms, 2000.0, EDGES)
    assert round(100 * pm.share_before) == 62 and "62 % of the crowd's debt" in text
    assert round(pm.crowd_sold_usd / 1e6, 1) == 116.8 and "116.8 M USD" in text
    assert config.scenario.depth == 0.30 and config.market.depth == 200e6
    assert "$p^* = 12{,}000 / (10 \\times 0.8) = 1{,}500$ USD" in text and "$h_0 = 2{,}000 / 1{,}500 = 1.33$" in text


# --------------------------------------------------------------------------- the apps (Agg, no browser)
REPR = re.compile(r"np\.float64\(|array\(|Measures\(|Odds\(|Position\(|MapPlacement\(|\(\d[\d.e+-]*, \d|\{'")


@pytest.fixture(scope="module")
def apps():
    from coupling_lab.ui.traders_view import CascadeOdds, PlacePosition, traders_prediction

    place = PlacePosition()
    odds = CascadeOdds(place, seeds=(1, 2, 3))
    ask = traders_prediction(reveal=odds.widget)
    return place, odds, ask


def _lines(fig):
    return [np.asarray(line.get_xydata(), float).copy() for ax in fig.axes for line in ax.get_lines()]


def test_debt_moves_your_line_and_both_readouts(apps):
    place, odds, _ = apps
    before_p, before_o = _lines(place.fig), _lines(odds.fig)
    text_p, text_o = place.readout.value, odds.readout.value
    place.controls["debt"].value = 13_000.0
    assert place.status.message == "" and odds.status.message == ""
    assert place.position.debt == 13_000.0
    assert not all(np.array_equal(a, b) for a, b in zip(before_p, _lines(place.fig)))
    assert not all(np.array_equal(a, b) for a, b in zip(before_o, _lines(odds.fig)))
    assert place.readout.value != text_p and odds.readout.value != text_o
    assert "1,625 USD" in place.readout.value            # 13000 / (10 * 0.8)
    place.controls["debt"].value = 12_000.0


def test_platform_and_feed_change_the_odds(apps):
    place, odds, _ = apps
    need = odds.result[0].need_shared_s.copy()
    place.controls["feed"].value = "own"
    assert odds.result[1].feed == "own"
    assert not np.array_equal(need, odds.result[0].need_shared_s)
    place.controls["platform"].value = 2
    assert odds.result[1].platform == 2 and "P3" in place.readout.value
    place.controls["platform"].value, place.controls["feed"].value = 0, "shared"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, 1e308, 100.0])
def test_hostile_debt_keeps_the_last_good_figures(apps, bad):
    """Values a page can send once it has moved the slider's own (synced) min and max."""
    place, odds, _ = apps
    good_p, good_o, values = _lines(place.fig), _lines(odds.fig), dict(place.values)
    slider = place.controls["debt"]
    lo, hi = slider.min, slider.max
    slider.min, slider.max = -math.inf, math.inf
    slider.value = bad
    try:
        assert "Ignored" in place.status.message, place.status.message
        assert all(np.array_equal(a, b) for a, b in zip(good_p, _lines(place.fig)))
        assert all(np.array_equal(a, b) for a, b in zip(good_o, _lines(odds.fig)))
        assert place.values == values
    finally:
        slider.value = 12_000.0
        slider.min, slider.max = lo, hi
    assert place.status.message == "" and place.position.debt == 12_000.0


def test_a_position_liquidatable_at_once_is_said_so(apps):
    place, odds, _ = apps
    place.controls["collateral"].value = 5.0       # 12000 USD on 5 units: p* = 3000 > 2000
    assert "liquidatable at once" in place.readout.value and place.status.message == ""
    assert "in 3 of 3 runs" in odds.readout.value
    place.controls["collateral"].value = 10.0


def test_readouts_are_sentences_not_python(apps):
    place, odds, _ = apps
    for text in (place.readout.value, odds.readout.value):
        assert not REPR.search(text), REPR.search(text)


def test_the_runs_are_hidden_until_the_prediction_is_checked(apps):
    _, odds, ask = apps
    assert odds.widget.layout.display == "none"
    ask.choice.value = ask.options[0]
    assert ask.check() is False
    assert odds.widget.layout.display != "none"
    assert ask.answer.startswith("higher")
