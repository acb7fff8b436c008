"""Sweeps: grid building and validation, rows, summaries, persistence, dask parity."""
import importlib
import threading

import numpy as np
import pandas as pd
import pytest

from coupling_lab import Config, load_sweep, save_sweep, simulate, summarize, sweep
from coupling_lab.sweep import MEASURES, grid_configs, t_quantile

# ``coupling_lab.sweep`` the attribute is the function; the module is here
sw = importlib.import_module("coupling_lab.sweep")

# small books and a short run keep every test quick
SMALL = Config(population=Config().population.replace(n_accounts=200),
               scenario=Config().scenario.replace(n_steps=240, start=40, duration=100))


def test_rows_columns_and_order():
    grid = {"sharing": [0.0, 1.0], "market.depth": [1e8, 4e8, 1.6e9]}
    frame = sweep(SMALL, grid, seeds=[3, 5], progress=False)
    assert list(frame.columns) == ["sharing", "market.depth", "seed", *MEASURES]
    assert len(frame) == 2 * 3 * 2
    # cartesian order, last key fastest, seeds innermost
    assert frame["sharing"].tolist() == [0.0] * 6 + [1.0] * 6
    assert frame["market.depth"].tolist()[:6] == [1e8, 1e8, 4e8, 4e8, 1.6e9, 1.6e9]
    assert frame["seed"].tolist() == [3, 5] * 6
    assert frame["twin_count"].dtype == np.int64 and frame["seed"].dtype == np.int64
    assert frame.attrs["sweep"] == {"n_planned": 12, "n_done": 12, "complete": True}


def test_each_row_is_the_simulated_run():
    grid = {"shared_oracle.theta": [0.002, 0.02], "platform.keeper_capacity": [None, 3]}
    frame = sweep(SMALL, grid, seeds=[1], progress=False)
    for _, row in frame.iterrows():
        cap = row["platform.keeper_capacity"]
        cap = None if cap is None or (isinstance(cap, float) and np.isnan(cap)) else int(cap)
        config = SMALL.replace(shared_oracle=SMALL.shared_oracle.replace(theta=row["shared_oracle.theta"]),
                               platform=SMALL.platform.replace(keeper_capacity=cap))
        expected = simulate(config, seed=int(row["seed"])).measures.as_dict()
        for name, value in expected.items():
            np.testing.assert_equal(row[name], value)


def test_no_grid_runs_the_base_config():
    frame = sweep(SMALL, None, seeds=range(2), progress=False)
    assert list(frame.columns) == ["seed", *MEASURES]
    assert frame["excess_drawdown"].iloc[1] == simulate(SMALL, seed=1).measures.excess_drawdown


@pytest.mark.parametrize("grid, words", [
    ({"market.dept": [1e8]}, ["'market.dept'", "depth"]),
    ({"sharingg": [0.5]}, ["'sharingg'"]),
    ({"market.depth": [1e8, -1.0]}, ["'market.depth'", "-1.0", "(0, inf)"]),
    ({"sharing": [0.5, 1.5]}, ["'sharing'", "1.5"]),
    ({"shared_oracle.latency": [1, 2.5]}, ["'shared_oracle.latency'", "2.5"]),
    ({"platform.keeper_capacity": [0]}, ["'platform.keeper_capacity'"]),
    ({"topology": ["ring"]}, ["'topology'", "ring"]),
    ({"sharing": []}, ["'sharing'", "empty"]),
    ({"sharing": 0.5}, ["'sharing'"]),
    ({"sharing.x": [1]}, ["'sharing.x'"]),
    ({"seed": [1, 2]}, ["'seed'"]),
    ({"market": [None], "market.depth": [1e8]}, ["'market'", "'market.depth'"]),
])
def test_invalid_grid_names_the_key(grid, words):
    with pytest.raises(ValueError) as info:
        sweep(SMALL, grid, seeds=range(1), progress=False)
    for word in words:
        assert word in str(info.value)


def test_invalid_combination_is_caught_before_running(monkeypatch):
    calls = []
    monkeypatch.setattr(sw, "_run_one", lambda c, s: calls.append(1))
    # each value is valid alone; together theta_min > theta_max
    grid = {"own_oracles.theta_min": [0.005, 0.015], "own_oracles.theta_max": [0.01, 0.02]}
    with pytest.raises(ValueError, match=r"grid point \(own_oracles.theta_min=0.015, own_oracles.theta_max=0.01\)"):
        sw.sweep(SMALL, grid, seeds=range(1), progress=False)
    assert calls == []


@pytest.mark.parametrize("seeds", [[-1], [1.5], [], 3, ["a"]])
def test_invalid_seeds(seeds):
    with pytest.raises((TypeError, ValueError), match="seed"):
        sweep(SMALL, {"sharing": [0.0]}, seeds=seeds, progress=False)


def test_cancel_returns_finished_rows(monkeypatch):
    cancel = threading.Event()
    done = []
    original = sw._run_one

    def run_and_cancel(config, seed):
        done.append(seed)
        if len(done) == 3:
            cancel.set()
        return original(config, seed)

    monkeypatch.setattr(sw, "_run_one", run_and_cancel)
    frame = sw.sweep(SMALL, {"sharing": [0.0, 1.0]}, seeds=range(4), progress=False, cancel=cancel)
    monkeypatch.undo()
    assert len(frame) == 3
    assert frame["seed"].tolist() == [0, 1, 2]
    assert frame.attrs["sweep"]["complete"] is False
    full = sweep(SMALL, {"sharing": [0.0]}, seeds=range(3), progress=False)
    pd.testing.assert_frame_equal(frame, full, check_like=False)


def test_keyboard_interrupt_keeps_rows_with_a_warning(monkeypatch):
    original = sw._run_one
    count = []

    def interrupt(config, seed):
        count.append(1)
        if len(count) == 4:
            raise KeyboardInterrupt
        return original(config, seed)

    monkeypatch.setattr(sw, "_run_one", interrupt)
    with pytest.warns(RuntimeWarning, match="3 of 6"):
        frame = sw.sweep(SMALL, {"sharing": [0.0, 0.5, 1.0]}, seeds=range(2), progress=False)
    assert len(frame) == 3
    assert frame["sharing"].tolist() == [0.0, 0.0, 0.5]


def test_progress_bar_counts_runs(capsys):
    sweep(SMALL, {"sharing": [0.0, 1.0]}, seeds=range(2), progress=True)
    err = capsys.readouterr().err
    assert "4/4" in err
