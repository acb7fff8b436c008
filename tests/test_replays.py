"""The stylised replays (coupling_lab.replays, MODEL.md §12): their CSVs, their sources, their runs,
and the bands the lesson's prose (notebooks/11-replays.ipynb) claims for the model's figures."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from coupling_lab import replays as R
from coupling_lab.scenarios import PathScenario, ReplayScenario

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "11-replays.ipynb"
FACTS = ROOT.parent / "shared" / "FACTS-mechanisms.md"  # beside the repository (issue 13); not shipped with it


@pytest.fixture(scope="module")
def runs():
    return {k: R.REPLAYS[k].run() for k in R.KEYS}


@pytest.fixture(scope="module")
def quoted():
    return R.quoted_figures()


# --------------------------------------------------------------------------- the CSVs
def test_there_are_at_least_four_replays_with_a_csv_each():
    assert len(R.REPLAYS) >= 4
    for r in R.REPLAYS.values():
        assert r.csv_path.is_file(), r.csv_path


@pytest.mark.parametrize("key", R.KEYS)
def test_csv_loads_through_the_public_replay_path(key):
    r = R.REPLAYS[key]
    if len(r.columns) == 1:
        sc = ReplayScenario.from_csv(r.csv_path, column=r.columns[0])
        assert sc.n_steps == r.n_steps
    else:
        sc = PathScenario.from_csv(r.csv_path, columns=list(r.columns))
        assert sc.n_steps == r.n_steps and sc.n_assets == len(r.columns)
    assert np.array_equal(sc.prices.reshape(r.n_steps, -1), r.prices())
    assert type(R.scenario_of(r)) is type(sc)


@pytest.mark.parametrize("key", R.KEYS)
def test_shipped_csv_is_regenerated_exactly_from_its_anchors(key, tmp_path):
    r = R.REPLAYS[key]
    fresh = R.write_csv(r, tmp_path / r.file)
    assert fresh.read_text() == r.csv_path.read_text(), "run `python -m coupling_lab.replays` to regenerate"


@pytest.mark.parametrize("key", R.KEYS)
def test_every_point_names_its_source_and_anchors_hold_their_value(key):
    r = R.REPLAYS[key]
    frame = pd.read_csv(r.csv_path)
    assert list(frame.columns) == ["step", *r.columns, "source"]
    assert frame["source"].str.len().min() > 0
    for t, note in enumerate(frame["source"]):
        parts = note.split(" | ")
        assert len(parts) == len(r.columns), (t, note)
        for col, part in zip(r.columns, parts):
            assert part.startswith(col + ": "), (t, part)
            text = part[len(col) + 2:]
            anchors = [a for a in r.anchors if a.column == col and a.step == t]
            if anchors:
                assert text == anchors[0].source
            else:
                assert re.fullmatch(r"stylised: log-linear between the anchors at steps \d+ and \d+", text), text
    for a in r.anchors:
        assert frame.loc[a.step, a.column] == pytest.approx(a.value, rel=1e-7)
        assert "stylised" in a.source or "FACTS" in a.source, a.source  # each anchor: a fact or said to be stylised


def test_the_data_folder_says_the_paths_are_stylised_and_documents_the_format():
    text = (R.DATA_DIR / "README.md").read_text()
    assert "stylised" in text.lower() and "not market data" in text
    for r in R.REPLAYS.values():
        assert r.file in text
        for c in r.columns:
            assert f"`{c}`" in text
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"data/replays/*.csv"' in pyproject


def _bad(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = "step,p,source\n0,10,a\n1,9,b\n2,8,c\n"


@pytest.mark.parametrize("text, pattern", [
    ("step,q,source\n0,10,a\n1,9,b\n2,8,c\n", r"bad\.csv: column 'p' is missing"),
    ("step,p,source\n0,10,a\n1,abc,b\n2,8,c\n", r"bad\.csv: row 2, column 'p' must be a number; got 'abc'"),
    ("step,p,source\n0,10,a\n1,9,b\n2,,c\n", r"bad\.csv: row 3, column 'p' must be a number; got ''"),
    ("step,p,source\n0,10,a\n1,-9,b\n2,8,c\n", r"bad\.csv: row 2, column 'p' must be a price in \(0, inf\); got '-9'"),
    ("step,p,source\n0,10,a\n1,0,b\n2,8,c\n", r"bad\.csv: row 2, column 'p' must be a price"),
    ("step,p,source\n0,10,a\n1,inf,b\n2,8,c\n", r"bad\.csv: row 2, column 'p' must be a price"),
    ("step,p,source\n0,10,a\n1,9,b\n", r"bad\.csv: must hold 3 rows \(one per step\); got 2"),
    ("step,p,source\n0,10,a\n2,9,b\n3,8,c\n", r"bad\.csv: row 2, column 'step' must be 1"),
    ("", r"bad\.csv: not a readable CSV"),
])
def test_a_malformed_csv_gives_one_line_naming_file_row_and_column(tmp_path, text, pattern):
    assert R.load_csv(_bad(tmp_path, "good.csv", GOOD), ["p"], 3).shape == (3, 1)
    with pytest.raises(ValueError, match=pattern) as info:
        R.load_csv(_bad(tmp_path, "bad.csv", text), ["p"], 3)
    assert "\n" not in str(info.value)


def test_a_real_series_of_the_same_shape_runs_through_the_replay(tmp_path):
    r = R.REPLAYS["black-thursday"]
    frame = pd.read_csv(r.csv_path)
    frame["eth_usd"] = frame["eth_usd"] * 1.02  # any series of the same shape
    path = tmp_path / "mine.csv"
    frame.to_csv(path, index=False)
    mine = r.run(path=path)
    assert mine.result.market_t[0] == pytest.approx(194.97 * 1.02, rel=1e-3)
    with pytest.raises(ValueError, match="mine.csv: must hold 1800 rows"):
        frame.iloc[:100].to_csv(path, index=False)
        r.run(path=path)


def test_unknown_settings_and_keys_are_refused():
    with pytest.raises(ValueError, match=r"settings of 'luna' must be among"):
        R.REPLAYS["luna"].run(osm_hop=60)
    with pytest.raises(ValueError, match=r"key must be one of"):
        R.run_replay("tulips-1637")


# --------------------------------------------------------------------------- the runs and the bands
def test_every_replay_runs_and_keeps_the_engine_invariants(runs):
    for k, run in runs.items():
        res = run.result
        assert res.n_steps == R.REPLAYS[k].n_steps
        for j, book in enumerate(res.world.books):
            if getattr(res.world.platforms[j], "kind", "") != "lending":
                continue
            assert book.debt.sum() == pytest.approx(res.debt_k[j].sum() + res.repaid_tk[:, j].sum()
                                                    + res.bad_debt_tk[:, j].sum(), rel=1e-9)
        for f in run.figures:
            assert np.isfinite(f.model), (k, f.label)


def test_black_thursday_bad_debt_is_millions_and_vanishes_with_working_keepers(runs):
    run = runs["black-thursday"]
    assert 1e6 <= run.headline.model <= 10e6  # prose: "a few million DAI", the order of 5.67 M
    assert run.headline.reported == 5.67e6
    assert R.REPLAYS["black-thursday"].run(outage_end_h=0.0).headline.model == 0.0
    no_osm = R.REPLAYS["black-thursday"].run(osm_hop=0).headline.model
    assert no_osm < run.headline.model  # the OSM delay adds to the loss
    assert run.notes["book_debt"] == pytest.approx(100e6, rel=0.05)


def test_compound_anchor_lets_the_spike_through_and_a_median_does_not(runs):
    run = runs["compound-dai"]
    assert 30e6 <= run.headline.model <= 300e6  # prose: the order of the reported 85.2 M
    no_anchor = R.REPLAYS["compound-dai"].run(band=0.0).headline.model
    assert no_anchor == pytest.approx(run.headline.model, rel=0.01)  # the anchor stopped nothing
    assert run.notes["minutes_guarded"] == 0
    assert R.REPLAYS["compound-dai"].run(n_sources=3).headline.model < 0.2 * run.headline.model
    assert 0.25 <= run.figure("Deepest fall of ETH in DAI as the platform read it").model <= 0.35
    fast = R.REPLAYS["compound-dai"].run(twap_minutes=240).headline.model  # a slow anchor does hold it back
    assert fast < run.headline.model


def test_luna_feed_sticks_at_the_floor_for_both_platforms(runs):
    run = runs["luna"]
    assert 0.107 <= run.headline.model <= 0.115
    assert 8 <= run.figures[1].model <= 12  # about ten times
    assert run.notes["liquidations_after_stuck"] == 0
    assert run.notes["last_liquidation"] == (run.notes["last_publication_step"],) * 2
    assert run.figures[4].model < 1e3 and run.figures[5].model < 1e3  # the starting books lose ~nothing
    free = R.REPLAYS["luna"].run(min_answer=0.0)
    assert free.figures[1].model == pytest.approx(1.0, abs=0.05)


def test_october_2025_lending_and_adl_have_the_reported_order_of_magnitude(runs):
    run = runs["october-2025"]
    liq, deficit, adl, span = (f.model for f in run.figures)
    assert 100e6 <= liq <= 1e9
    assert 0.1e6 <= deficit <= 10e6
    assert 0.1e9 <= adl <= 3e9
    assert 5 <= span <= 20
    assert run.notes["fund_empty_step"] > 0
    assert R.REPLAYS["october-2025"].run(insurance_fund=5e8).figures[2].model == 0.0


# --------------------------------------------------------------------------- the record
# every reported figure, and the words FACTS-mechanisms.md gives it in
RECORD = {
    ("black-thursday", "Bad debt (unbacked DAI)"): (5.67e6, "**5.67M DAI** unbacked"),
    ("compound-dai", "DAI liquidated"): (85.2e6, "**85.2M DAI** of borrows were liquidated"),
    ("compound-dai", "Liquidation incentive paid"): (6.8e6, "Proposed compensation ≈ 6.8M DAI"),
    ("luna", "Feed price when the market reached 0.01 USD"): (0.107, "feed stopped at **$0.107**"),
    ("luna", "Overvaluation by the feed at that step"): (10.7, "while the market was about **$0.01**"),
    ("luna", "Venus-like platform: loss on its starting book at the market"): (11.2e6, "**Venus (BSC) lost $11.2M**"),
    ("luna", "Blizz-like platform: loss on its starting book at the market"): (8.3e6, "drained of about $8.3M"),
    ("october-2025", "Lending: debt liquidated"): (180e6, "about **$180M** of liquidations"),
    ("october-2025", "Lending: deficit (bad debt)"): (0.4e6, "about **$400k** of deficit"),
    ("october-2025", "Perp venue: notional auto-deleveraged"): (2.1e9, "about **$2.1B of positions in ~12 min**"),
    ("october-2025", "Perp venue: minutes from first to last ADL"): (12.0, "about **$2.1B of positions in ~12 min**"),
}


def test_every_reported_figure_is_listed_with_its_words_in_the_record(runs):
    listed = {(k, f.label): f.reported for k, run in runs.items() for f in run.figures if f.reported is not None}
    assert set(listed) == set(RECORD)
    for key, (value, _) in RECORD.items():
        assert listed[key] == pytest.approx(value), key
        assert "FACTS-mechanisms.md" in runs[key[0]].figure(key[1]).source


@pytest.mark.skipif(not FACTS.is_file(), reason="FACTS-mechanisms.md is kept beside the repository, not in it")
def test_the_record_quotes_facts_mechanisms_word_for_word():
    facts = FACTS.read_text()
    for key, (_, words) in RECORD.items():
        assert words in facts, key
    for r in R.REPLAYS.values():
        for a in r.anchors:
            for number in re.findall(r"\d[\d,]*\.\d+|\d{2,}[\d,]*", a.source.split("FACTS")[0]):
                if "stylised" not in a.source and number not in ("2020", "2022", "2025", "10", "11", "12", "13",
                                                                 "14", "00", "01", "05", "20", "26", "50", "21"):
                    assert number.replace(",", "") in facts.replace(",", ""), (a.source, number)


# --------------------------------------------------------------------------- the lesson
def _prose():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return " ".join(text.split())  # markdown wraps lines anywhere: compare on single spaces


PHRASES = {
    "bt_bad": "writes off **{}**", "bt_book": "about {} of debt", "bt_working": "keepers working: **{}**",
    "bt_no_osm": "without the OSM delay, {}",
    "cd_liq": "liquidates **{}**", "cd_book": "of a book of {},", "cd_no_anchor": "without any anchor: {}", "cd_median": "three venues: **{}**",
    "cd_read_fall": "falls **{}** as the platform reads it",
    "lu_feed": "reads **{}**", "lu_ratio": "**{}** the market", "lu_borrow": "borrows {} what it paid",
    "lu_attack": "only {} of LUNA", "lu_stuck_h": "stuck for {}",
    "oc_liq": "liquidate **{}**", "oc_deficit": "deficit of **{}**", "oc_adl": "auto-deleverages **{}**",
    "oc_span": "within {}", "oc_fund_minute": "dry at {}", "oc_big_fund_adl": "100 times larger: {}",
}


def _revealed():
    """The texts the lesson shows only after its prediction is checked (the Compound replay's findings)."""
    return " ".join(R.compound_findings().source.split())


def test_every_number_the_lesson_quotes_is_the_models(quoted):
    prose, revealed = _prose(), _revealed()
    assert set(PHRASES) == set(quoted)
    missing = {k: PHRASES[k].format(v) for k, v in quoted.items()
               if PHRASES[k].format(v) not in (revealed if k.startswith("cd_") else prose)}
    assert not missing, missing
    # the Compound replay's figures answer the prediction: they wait for its Check, not in the notebook
    assert R.compound_findings(quoted).source == R.compound_findings().source
    for key in ("cd_liq", "cd_no_anchor", "cd_median"):
        assert quoted[key] not in prose, key


def test_the_table_beside_the_record_quotes_the_models_figures(quoted):
    table = R.how_close(quoted)
    rows = [line.split(" | ") for line in str(table).splitlines()]
    assert rows[0] == ["replay", "model", "reported", "verdict"] and len(rows) == 5
    assert rows[1][1:3] == [f"{quoted['bt_bad']} bad debt", "5.67 M DAI"]
    assert rows[2][1:] == [f"{quoted['cd_liq']} liquidated", "85.2 M DAI", "same order; the anchor changes nothing"]
    assert quoted["cd_liq"] == quoted["cd_no_anchor"]  # "the anchor changes nothing"
    assert quoted["bt_working"] == "0 DAI"  # "zero without the outage"
    assert rows[3][1] == f"feed {quoted['lu_feed']}, {quoted['lu_ratio']} the market"
    assert rows[4][1] == f"{quoted['oc_liq']}, {quoted['oc_deficit']}, {quoted['oc_adl']} ADL"
    assert "| replay | model |" not in _prose()  # the table waits for the prediction's Check


def test_the_ratios_and_settings_the_lesson_states(runs):
    """Prose: "within a factor of three of Aave's figures", "about a seventh of the 2.1 B USD",
    "within a factor of 3 to 7", the outage "from hour 10 to the low at hour 26", a "5 M USD insurance
    fund", "a book of 6 B USD", a buffer of "about 25 %", ETH in DAI "23 % cheaper"."""
    liq, deficit, adl, _ = (f.model for f in runs["october-2025"].figures)
    assert 2 <= liq / 180e6 <= 3 and 2 <= deficit / 0.4e6 <= 3
    assert 6.5 <= 2.1e9 / adl <= 7.5
    bt = R.REPLAYS["black-thursday"].settings
    assert (bt["outage_start_h"], bt["outage_end_h"], bt["osm_hop"]) == (10.0, 26.0, 60)
    assert R.REPLAYS["black-thursday"].anchors[2].step == 26 * 60
    oc = runs["october-2025"].result.world
    assert oc.platforms[2].insurance_fund == 5e6
    q, p0 = oc.books[2].position, np.exp(oc.paths_ta[0])
    assert np.abs(q * p0).sum() == pytest.approx(6e9)
    assert round(1 - 1.13 / 1.5, 2) == 0.25 and round(1 - 1 / 1.30, 2) == 0.23


def test_the_lesson_states_what_each_replay_reproduces_and_leaves_out():
    prose = _prose()
    for r in R.REPLAYS.values():
        assert r.title in prose
        for word in ("reproduces", "leaves out"):
            assert word in prose
        for doc in (r.reproduces, r.leaves_out, r.scaling, r.knobs):
            assert len(doc) > 40
    assert "stylised" in prose and "FACTS-mechanisms.md" in prose
    for figure in ("5.67 M DAI", "85.2 M DAI", "0.107 USD", "11.2 M USD", "8.3 M USD", "180 M USD",
                   "0.4 M USD", "2.1 B USD"):
        assert figure in prose, figure


def test_readout_rows_are_labelled_sentences_without_a_repr():
    repr_ = re.compile(r"np\.|array\(|float64|\(\d+(\.\d+)?, \d|\{'|e[+-]\d\d")
    for event in R.EVENTS:
        for setting in R.SETTINGS:
            for label, sentence in R.readout_rows(R.lesson_run(event, setting)):
                assert label and sentence.endswith(".")
                assert not repr_.search(sentence), sentence


def test_lesson_controls_refuse_values_outside_their_choices():
    with pytest.raises(ValueError, match="event must be one of"):
        R.lesson_run("Tulip mania, 1637")
    with pytest.raises(ValueError, match="setting must be one of"):
        R.lesson_run(R.CONTROLS["event"].default, "both")


def test_the_replay_module_imports_no_widgets_or_plotting():
    import subprocess

    code = ("import sys, coupling_lab.replays; bad = [m for m in ('ipywidgets', 'matplotlib', 'IPython') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_the_readme_replays_table_quotes_the_models_figures(quoted):
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("**Replays.**"):readme.index("## What the kit leaves out")]
    for key in ("bt_bad", "cd_liq", "lu_feed", "lu_ratio", "oc_liq", "oc_deficit", "oc_adl"):
        assert quoted[key] in section, key
    assert f"book {quoted['bt_book']}" in section
    assert "| 11 | Replays: the model against the record |" in readme
