"""Lesson 02b's logic (coupling_lab.channels), without widgets: the calibration
of its scenario over 50 seeds, the prose's numbers, the corners, the outage,
and readouts that are sentences."""
import math
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from coupling_lab import channels as ch
from coupling_lab.simulation import simulate

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "02b-two-channels.ipynb"
N_SEEDS = 50
SHARING = (0.0, 1.0)
COLLATERAL = (0.0, 0.4, 1.0)


@pytest.fixture(scope="module")
def grid():
    """Means over 50 seeds at every (sharing, collateral_sharing) the checks need."""
    return {(s, c): ch.seed_means(s, c, n_seeds=N_SEEDS) for s in SHARING for c in COLLATERAL}


@pytest.fixture(scope="module")
def outage():
    """Means over 50 seeds at the "one provider, own markets" corner with the provider 0 outage."""
    return ch.seed_means(1.0, 0.0, n_seeds=N_SEEDS, fault="provider 0 outage")


@pytest.fixture(scope="module")
def quoted(grid, outage):
    corners = {c.key: grid[(c.sharing, c.collateral_sharing)] for c in ch.CORNERS}
    return ch.quoted_figures(corners, outage)


def _prose():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # whitespace collapsed: a phrase may wrap over two lines of the markdown
    return " ".join(" ".join(c.source for c in nb.cells if c.cell_type == "markdown").split())


# --------------------------------------------------------------------------- calibration
@pytest.mark.parametrize("sharing", SHARING)
def test_common_asset_excess_drawdown_rises_with_collateral_sharing(grid, sharing):
    means = [grid[(sharing, c)].common_excess for c in COLLATERAL]
    assert means[0] < means[1] < means[2], f"sharing={sharing}: mean excess fall of asset 0 at c={COLLATERAL}: {means}"


@pytest.mark.parametrize("collateral", (0.0, 1.0))
def test_synchrony_rises_with_sharing(grid, collateral):
    low, high = grid[(0.0, collateral)].synchrony, grid[(1.0, collateral)].synchrony
    assert low < high, f"collateral_sharing={collateral}: mean synchrony {low:.3f} at sharing 0, {high:.3f} at 1"


def test_no_platform_on_the_common_asset_means_no_excess_fall_there(grid):
    assert grid[(0.0, 0.0)].common_excess == 0.0 and grid[(1.0, 0.0)].common_excess == 0.0


def test_the_deepest_crash_is_one_feed_one_market_over_seeds(grid):
    deepest = {c.key: grid[(c.sharing, c.collateral_sharing)].deepest for c in ch.CORNERS}
    assert max(deepest, key=deepest.get) == "together", deepest


# --------------------------------------------------------------------------- the prediction's answer
def test_the_lessons_seed_agrees_with_the_prediction():
    rows = ch.corner_rows(seed=ch.CONTROLS["seed"].default)
    assert ch.deepest_corner(rows).key == "together"
    assert [c.key for c, _ in rows] == [c.key for c in ch.CORNERS]


# --------------------------------------------------------------------------- the outage
def test_provider_outage_couples_platforms_on_different_assets(grid, outage):
    calm = grid[(1.0, 0.0)]
    assert outage.synchrony > calm.synchrony + 0.3, (calm.synchrony, outage.synchrony)
    assert outage.own_excess > 2 * calm.own_excess, (calm.own_excess, outage.own_excess)


def test_provider_outage_hits_nobody_when_nobody_reads_provider_0():
    calm = simulate(ch.lesson_config(0.0, 0.0), seed=3)
    hit = simulate(ch.lesson_config(0.0, 0.0, "provider 0 outage"), seed=3)
    np.testing.assert_array_equal(calm.notional_tk, hit.notional_tk)
    np.testing.assert_array_equal(calm.market_ta, hit.market_ta)


def test_provider_outage_freezes_every_feed_of_provider_0():
    r = ch.run_pair(1.0, 0.0, seed=1, fault="provider 0 outage")
    t0, t1 = ch.OUTAGE
    for k in range(ch.N_PLATFORMS):  # each platform reads provider 0's feed of its own asset
        price = r.price_tk[:, k]
        assert np.all(price[t0:t1] == price[t0 - 1]), f"platform {k} saw a new price during the outage"
    assert len({r.world.feeds_of(k)[0] for k in range(ch.N_PLATFORMS)}) == ch.N_PLATFORMS  # four different feeds


# --------------------------------------------------------------------------- findings pinned to runs
#: every number the lesson's findings quote from a run, in the words they use (shown after Check)
PHRASES = {
    "together_common": "one feed and one market push asset 0 a further {} below",
    "market_common": "own feeds into one market: {}.",
    "apart_own": "fully apart, the deepest own asset falls a further {};",
    "provider_own": "with one provider, {}.",
    "apart_sync": "synchrony is {} fully apart",
    "provider_sync": "{} with one provider",
    "market_sync": "{} with one market",
    "together_sync": "{} with both",
    "outage_own": "the deepest own asset falls a further {} (",
    "outage_sync": "synchrony jumps to {}.",
}


def test_the_findings_quote_what_50_seeds_give(quoted):
    """The revealed text (made from the pinned figures, too slow to run on Check) is the one these runs give."""
    assert N_SEEDS == ch.QUOTED_SEEDS
    assert quoted == ch.QUOTED
    assert ch.seed_findings(quoted) == ch.seed_findings() and ch.outage_findings(quoted) == ch.outage_findings()
    text = str(ch.seed_findings()) + " " + str(ch.outage_findings())
    assert set(PHRASES) == set(quoted)
    missing = {k: PHRASES[k].format(v) for k, v in quoted.items() if PHRASES[k].format(v) not in text}
    assert not missing, f"the findings do not quote the measured figures: {missing}"
    assert f"Over {N_SEEDS} seeds" in text and f"({quoted['provider_own']} without the outage)" in text


def test_the_notebook_states_no_finding_before_check(quoted):
    """The learner reads the figures only after pressing Check: the notebook's own text holds none of them."""
    prose = _prose()
    for key in ("together_common", "market_common", "together_sync", "outage_own", "outage_sync"):
        assert quoted[key] not in prose, (key, quoted[key])
    code = " ".join(c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code")
    for fn in ("corner_observations", "seed_findings", "outage_findings"):
        assert f"ask.after_check({fn})" in code, fn


def test_real_numbers_in_the_prose_match_the_model_parameters():
    prose = _prose()
    for asset in ch.ASSETS:
        assert f"{asset.like} {round(100 * asset.lt)} %" in prose, asset
    assert "FACTS-mechanisms.md" in prose and "FACTS.md" in prose
    t0, t1 = ch.OUTAGE
    assert f"minutes {t0}-{t1}" in prose
    cfg = ch.lesson_config()
    assert (cfg.shared_oracle.theta, cfg.shared_oracle.heartbeat) == (0.005, 60)
    assert "0.5 %" in prose and "1 h" in prose


# --------------------------------------------------------------------------- readouts are sentences
REPR = re.compile(r"np\.|array\(|float64|\{|\}|\[|\]|None|nan\b|Corner\(|RunSummary")


def _readouts():
    out = []
    for s in (0.0, 0.25, 1.0):
        for c in (0.0, 0.5, 1.0):
            for fault in ch.FAULTS:
                out.append(ch.readout_lines(ch.summarize_run(ch.run_pair(s, c, 1, fault)), s, c))
    return out


def test_readouts_are_labelled_sentences_without_a_python_repr():
    for rows in _readouts():
        for label, sentence in rows:
            assert isinstance(label, str) and label and isinstance(sentence, str)
            assert sentence.endswith("."), sentence
            assert not REPR.search(sentence), sentence


def test_readout_without_liquidations_says_so():
    s = ch.summarize_run(ch.run_pair(0.0, 0.0))
    quiet = ch.RunSummary(**{**s.__dict__, "synchrony": float("nan")})
    text = dict(ch.readout_lines(quiet))["synchrony"]
    assert "fewer than two platforms liquidated" in text and not REPR.search(text)


def test_readout_names_the_corner_only_at_a_corner():
    s = ch.summarize_run(ch.run_pair(0.0, 1.0))
    assert dict(ch.readout_lines(s, 0.0, 1.0))["corner"].startswith("own feeds, one market")
    assert "corner" not in dict(ch.readout_lines(ch.summarize_run(ch.run_pair(0.5, 0.5)), 0.5, 0.5))


def test_summary_counts_follow_the_dials():
    s = ch.summarize_run(ch.run_pair(0.75, 0.25))
    assert (s.n_shared_feed, s.n_common) == (3, 1)
    assert s.asset_of_platform == (0, 2, 3, 4)
    assert s.held == (True, False, True, True, True)
    assert s.deepest == max(s.excess_fall_a[a] for a in range(5) if s.held[a])


# --------------------------------------------------------------------------- controls, cache, input
def test_controls_are_declared_once_and_corners_lie_on_their_steps():
    for name in ("sharing", "collateral_sharing"):
        ctl = ch.CONTROLS[name]
        assert ctl.low <= ctl.default <= ctl.high
        for corner in ch.CORNERS:
            pos = getattr(corner, name)
            assert math.isclose(round(pos / ctl.step) * ctl.step, pos)
    assert ch.CONTROLS["fault"].default in ch.FAULTS


def test_run_pair_is_cached_and_snaps_to_the_dials_quarters():
    a = ch.run_pair(0.5, 0.5, seed=2)
    assert ch.run_pair(0.5, 0.5, seed=2) is a
    assert ch.run_pair(0.52, 0.49, seed=2) is a


def test_the_dials_keep_the_paths_of_the_seed():
    x = [ch.run_pair(c.sharing, c.collateral_sharing, seed=4).x_ta for c in ch.CORNERS]
    for other in x[1:]:
        np.testing.assert_array_equal(x[0], other)


@pytest.mark.parametrize("field, value", [("sharing", 1.5), ("collateral_sharing", -0.1),
                                          ("sharing", float("nan"))])
def test_bad_dials_raise_one_value_error_naming_the_field(field, value):
    kwargs = {"sharing": 0.5, "collateral_sharing": 0.5, field: value}
    with pytest.raises(ValueError, match=field):
        ch.lesson_config(**kwargs)


def test_unknown_fault_is_refused():
    with pytest.raises(ValueError, match="fault must be one of"):
        ch.lesson_config(fault="meteor")


def test_sharing_the_oracle_deepens_the_crash_only_with_shared_collateral(grid):
    """The prose: "With all the collateral shared, sharing the oracle too deepens the crash; with own collateral it does not"."""
    assert grid[(1.0, 1.0)].common_excess > grid[(0.0, 1.0)].common_excess
    assert grid[(1.0, 0.0)].own_excess <= grid[(0.0, 0.0)].own_excess


def test_outage_stops_and_restarts_every_platform_together():
    """The prose: liquidations "stop together and restart in the same minute, when the provider comes back"."""
    r = ch.run_pair(1.0, 0.0, seed=ch.CONTROLS["seed"].default, fault="provider 0 outage")
    t0, t1 = ch.OUTAGE
    latency = r.world.oracles[0].latency
    assert r.count_tk[t0 + latency:t1].sum() == 0
    assert np.all(r.count_tk[t1] > 0), r.count_tk[t1 - 2:t1 + 3]


def test_readout_words_all_and_none_plainly():
    d = dict(ch.readout_lines(ch.summarize_run(ch.run_pair(1.0, 0.0)), 1.0, 0.0))
    assert d["oracles"] == "all 4 platforms read the shared provider 0."
    assert d["collateral"].startswith("no platform holds the common asset 0")
    d = dict(ch.readout_lines(ch.summarize_run(ch.run_pair(0.25, 0.5))))
    assert d["oracles"].startswith("1 of 4 platforms reads the shared provider 0; the others")


def test_the_lesson_logic_imports_no_widgets_or_plotting():
    import subprocess
    import sys

    code = ("import sys, coupling_lab.channels; "
            "print(sorted(m for m in ('ipywidgets', 'matplotlib', 'IPython') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", out
