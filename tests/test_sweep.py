"""Sweeps: grid building and validation, rows, summaries, persistence, dask parity."""
import importlib
import threading
import time

import numpy as np
import pandas as pd
import pytest

import coupling_lab as cl
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
    assert str(frame["platform.keeper_capacity"].dtype) == "Int64"
    for _, row in frame.iterrows():
        cap = row["platform.keeper_capacity"]
        cap = None if cap is pd.NA else cap
        config = SMALL.replace(shared_oracle=SMALL.shared_oracle.replace(theta=row["shared_oracle.theta"]),
                               platform=SMALL.platform.replace(keeper_capacity=cap))
        expected = simulate(config, seed=int(row["seed"])).measures.as_dict()
        for name, value in expected.items():
            np.testing.assert_equal(row[name], value)


@pytest.mark.parametrize("base", [
    SMALL,
    SMALL.replace(collateral_sharing=0.5),
    SMALL.replace(platform=SMALL.platform.replace(keeper_capacity=20)),
    SMALL.replace(read_guards=(cl.Delay(hop=5),)),
    SMALL.replace(topology="source_overlap"),
], ids=["one asset", "two channels", "keeper capacity", "read guard", "source overlap"])
def test_a_batch_along_the_dial_gives_each_runs_own_measures(base):
    """Runs of one seed along the dial share draws and sorted books in a batch: rows as if run alone."""
    # 0.1 and 0.15 round to the same dial step (one platform shared; one common source of three: 0.3, 0.45)
    grid = {"sharing": [0.0, 0.1, 0.15, 0.4, 1.0], "market.depth": [5e7, 2e8]}
    frame = sweep(base, grid, seeds=[2, 9], progress=False)
    points, configs = grid_configs(base, grid)
    expected = [simulate(c, seed=s).measures.as_dict() for c in configs for s in (2, 9)]
    for (_, row), want in zip(frame.iterrows(), expected):
        for name, value in want.items():
            np.testing.assert_equal(row[name], value, err_msg=name)
    with cl.using_kernel("reference"):
        pd.testing.assert_frame_equal(sweep(base, grid, seeds=[2, 9], progress=False), frame)


def test_dial_values_that_build_the_same_world_are_run_once(monkeypatch):
    """21 dial values on 5 platforms are 6 worlds per seed: 6 runs, and every row is its own simulate()."""
    runs = []
    original = sw.run_measures

    def counting(world, orders=None):
        runs.append(world.platform_oracle)
        return original(world, orders)

    monkeypatch.setattr(sw, "run_measures", counting)
    dial = [round(float(s), 2) for s in np.linspace(0.0, 1.0, 21)]
    frame = sweep(SMALL, {"sharing": dial}, seeds=[4, 7], progress=False)
    assert len(frame) == 42
    assert len(runs) == 12 and len(set(runs)) == 6  # each seed's six worlds, once each
    for (_, row) in frame.iloc[::5].iterrows():
        want = simulate(SMALL.replace(sharing=row["sharing"]), seed=int(row["seed"])).measures.as_dict()
        for name, value in want.items():
            np.testing.assert_equal(row[name], value, err_msg=name)
    by_step = frame.groupby([frame["sharing"].map(lambda s: cl.topology.dial_step("shared_fraction", s, 5)),
                             "seed"])["peak_flow_share"].nunique()
    assert (by_step == 1).all() and frame.groupby("seed")["peak_flow_share"].nunique().min() > 1


def test_kept_venues_are_only_reused_for_the_same_path_and_noise():
    """The venues a batch keeps (one per path, noise and feeds) never leak into another seed's run."""
    from coupling_lab.compiled import run_measures

    kept = {}
    for seed in (1, 2):
        for s in (0.0, 1.0):
            world = cl.build(SMALL.replace(sharing=s), seed)
            assert run_measures(world, kept).as_dict() == pytest.approx(
                run_measures(world).as_dict(), nan_ok=True, rel=0, abs=0)
    assert sum(1 for k in kept if k[0] == "venues") == 1  # same feeds' sources: one slot, replaced per seed


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

    def run_and_cancel(config, seed, shared=None):
        done.append(seed)
        if len(done) == 3:
            cancel.set()
        return original(config, seed, shared)

    monkeypatch.setattr(sw, "_run_one", run_and_cancel)
    frame = sw.sweep(SMALL, {"sharing": [0.0, 1.0]}, seeds=range(4), progress=False, cancel=cancel)
    monkeypatch.undo()
    # runs go seed by seed: both dial positions of seed 0, then seed 1's first; rows in grid order
    assert len(frame) == 3
    assert frame["sharing"].tolist() == [0.0, 0.0, 1.0] and frame["seed"].tolist() == [0, 1, 0]
    assert frame.attrs["sweep"]["complete"] is False
    full = sweep(SMALL, {"sharing": [0.0, 1.0]}, seeds=range(2), progress=False)
    pd.testing.assert_frame_equal(frame, full.iloc[[0, 1, 2]].reset_index(drop=True), check_like=False)


def test_keyboard_interrupt_keeps_rows_with_a_warning(monkeypatch):
    original = sw._run_one
    count = []

    def interrupt(config, seed, shared=None):
        count.append(1)
        if len(count) == 4:
            raise KeyboardInterrupt
        return original(config, seed, shared)

    monkeypatch.setattr(sw, "_run_one", interrupt)
    with pytest.warns(RuntimeWarning, match="3 of 6"):
        frame = sw.sweep(SMALL, {"sharing": [0.0, 0.5, 1.0]}, seeds=range(2), progress=False)
    assert len(frame) == 3  # seed 0 at every dial position
    assert frame["sharing"].tolist() == [0.0, 0.5, 1.0] and frame["seed"].tolist() == [0, 0, 0]


def test_progress_bar_counts_runs(capsys):
    sweep(SMALL, {"sharing": [0.0, 1.0]}, seeds=range(2), progress=True)
    err = capsys.readouterr().err
    assert "4/4" in err


# --------------------------------------------------------------------------- summaries


@pytest.mark.parametrize("df, table", [(1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (29, 2.045), (5000, 1.960)])
def test_t_quantile_matches_tables(df, table):
    assert t_quantile(0.95, df) == pytest.approx(table, abs=5e-4)


def test_t_quantile_other_levels():
    assert t_quantile(0.99, 10) == pytest.approx(3.169, abs=5e-4)
    assert t_quantile(0.90, 3) == pytest.approx(2.353, abs=5e-4)
    with pytest.raises(ValueError, match="level"):
        t_quantile(1.0, 3)


def test_summarize_by_hand_with_nan_rows_excluded_and_counted():
    frame = pd.DataFrame({
        "sharing": [0.0] * 4 + [1.0] * 4,
        "seed": list(range(4)) * 2,
        "synchrony": [0.2, np.nan, 0.4, 0.3, 0.9, 0.8, np.nan, np.nan],
        "excess_drawdown": [0.01, 0.02, 0.03, 0.04, 0.05, 0.07, 0.06, 0.08],
    })
    s = summarize(frame).set_index(["sharing", "measure"])
    row = s.loc[(0.0, "synchrony")]
    vals = np.array([0.2, 0.4, 0.3])
    assert row["n"] == 3 and row["n_nan"] == 1
    assert row["mean"] == pytest.approx(vals.mean())
    assert row["std"] == pytest.approx(vals.std(ddof=1))
    half = 4.303 * vals.std(ddof=1) / np.sqrt(3)
    assert row["ci_low"] == pytest.approx(vals.mean() - half, rel=1e-3)
    assert row["ci_high"] == pytest.approx(vals.mean() + half, rel=1e-3)
    assert s.loc[(1.0, "synchrony"), "n_nan"] == 2
    assert s.loc[(1.0, "excess_drawdown"), "n"] == 4 and s.loc[(1.0, "excess_drawdown"), "n_nan"] == 0
    assert s.loc[(1.0, "excess_drawdown"), "mean"] == pytest.approx(0.065)


def test_summarize_single_run_has_no_interval_and_pools_unlisted_columns():
    frame = pd.DataFrame({"a": [1, 1, 2], "b": [0, 1, 0], "seed": [0, 0, 0], "bad_debt": [1.0, 3.0, 5.0]})
    s = summarize(frame, by=["a"], measures=["bad_debt"])
    assert s["n"].tolist() == [2, 1]
    assert s["mean"].tolist() == [2.0, 5.0]
    assert np.isnan(s["ci_low"].iloc[1]) and np.isnan(s["std"].iloc[1])
    with pytest.raises(ValueError, match="'nope'"):
        summarize(frame, by=["nope"])


def test_summary_intervals_narrow_with_more_seeds():
    frame = sweep(SMALL, {"sharing": [1.0]}, seeds=range(12), progress=False)
    few = summarize(frame.iloc[:4], measures=["excess_drawdown"])
    many = summarize(frame, measures=["excess_drawdown"])
    width = lambda s: float(s["ci_high"].iloc[0] - s["ci_low"].iloc[0])
    assert width(many) < width(few)
    assert many["ci_low"].iloc[0] <= many["mean"].iloc[0] <= many["ci_high"].iloc[0]


# --------------------------------------------------------------------------- persistence


def test_save_and_load_round_trip(tmp_path):
    grid = {"sharing": [0.0, 1.0], "platform.keeper_capacity": [None, 5], "scenario.depth": [0.0, 0.3]}
    frame = sweep(SMALL, grid, seeds=range(2), progress=False)
    path = tmp_path / "dial.parquet"
    save_sweep(frame, path, SMALL, grid)
    back, meta = load_sweep(path)
    pd.testing.assert_frame_equal(back, frame)
    assert meta["base_config_repr"] == repr(SMALL)
    assert meta["base_config"]["population"]["n_accounts"] == 200
    assert meta["base_config"]["scenario"]["__type__"] == "CrashScenario"
    assert meta["grid"] == {"sharing": [0.0, 1.0], "platform.keeper_capacity": [None, 5], "scenario.depth": [0.0, 0.3]}
    assert meta["seeds"] == [0, 1]
    # the figure's numbers come back from the file alone
    pd.testing.assert_frame_equal(summarize(back), summarize(frame))
    # and the saved grid re-runs to the same rows
    pd.testing.assert_frame_equal(sweep(SMALL, meta["grid"], seeds=meta["seeds"], progress=False), frame)


def test_load_rejects_a_foreign_parquet(tmp_path):
    path = tmp_path / "other.parquet"
    pd.DataFrame({"x": [1, 2]}).to_parquet(path)
    with pytest.raises(ValueError, match="not a coupling_lab sweep"):
        load_sweep(path)


def test_save_rejects_object_columns(tmp_path):
    frame = sweep(SMALL, {"market": [SMALL.market, SMALL.market.replace(depth=1e9)]}, seeds=[0], progress=False)
    with pytest.raises(ValueError, match="'market'"):
        save_sweep(frame, tmp_path / "x.parquet", SMALL, {"market": []})


# --------------------------------------------------------------------------- dask


@pytest.fixture(scope="module")
def cluster():
    from dask.distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    yield cluster
    cluster.close()


@pytest.fixture(scope="module")
def client(cluster):
    from dask.distributed import Client

    client = Client(cluster)
    yield client
    client.close()


# scenario.depth 0 (no crash): few or no liquidations, so NaN synchrony rows are in the comparison
PARITY_GRID = {"sharing": [0.0, 0.6, 1.0], "scenario.depth": [0.0, 0.3]}


@pytest.mark.parametrize("batch_size", [None, 1, 4, 100])
def test_same_rows_in_process_and_on_dask(client, batch_size):
    local = sweep(SMALL, PARITY_GRID, seeds=range(4), progress=False)
    remote = sweep(SMALL, PARITY_GRID, seeds=range(4), progress=False, client=client, batch_size=batch_size)
    assert local["synchrony"].isna().any()
    keys = [*PARITY_GRID, "seed"]
    pd.testing.assert_frame_equal(remote.sort_values(keys, ignore_index=True),
                                  local.sort_values(keys, ignore_index=True), check_exact=True)
    # rows are returned in grid order whatever order the tasks finished in
    pd.testing.assert_frame_equal(remote, local, check_exact=True)


def test_dask_by_scheduler_address(cluster):
    local = sweep(SMALL, {"sharing": [0.0, 1.0]}, seeds=range(2), progress=False)
    remote = sweep(SMALL, {"sharing": [0.0, 1.0]}, seeds=range(2), progress=True, client=cluster.scheduler_address)
    pd.testing.assert_frame_equal(remote, local, check_exact=True)


@pytest.mark.parametrize("batch_size", [None, 4])
def test_dask_by_scheduler_address_two_keys(cluster, batch_size):
    # the README's form for an existing cluster: a scheduler address string, a grid of two keys;
    # batches of 4 cut across seeds and the second key, so draws are shared only where they may be
    grid = {"sharing": [0.0, 0.5, 1.0], "market.depth": [1e8, 3e8]}
    local = sweep(SMALL, grid, seeds=range(3), progress=False)
    clients_before = set(cluster.scheduler.clients)
    remote = sweep(SMALL, grid, seeds=range(3), progress=False, client=cluster.scheduler_address,
                   batch_size=batch_size)
    pd.testing.assert_frame_equal(remote, local, check_exact=True)
    assert list(remote.columns[:3]) == ["sharing", "market.depth", "seed"] and len(remote) == 18
    assert remote.attrs["sweep"] == {"n_planned": 18, "n_done": 18, "complete": True}
    # the client sweep made for the address is closed afterwards
    deadline = time.monotonic() + 10
    while set(cluster.scheduler.clients) != clients_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(cluster.scheduler.clients) == clients_before


def test_dask_cancel_keeps_finished_rows(client):
    class CancelAfter:
        """Reports 'set' from the second look on: the sweep stops while tasks are in flight."""

        def __init__(self):
            self.looks = 0

        def is_set(self):
            self.looks += 1
            return self.looks > 1

    # the classroom config (about 20 ms a run): 24 runs outlast the first 20 ms poll
    grid = {"sharing": [0.0, 0.5, 1.0]}
    partial = sweep(Config(), grid, seeds=range(8), progress=False, client=client, batch_size=1, cancel=CancelAfter())
    assert len(partial) < 24 and partial.attrs["sweep"]["complete"] is False
    full = sweep(Config(), grid, seeds=range(8), progress=False)
    merged = partial.merge(full, on=["sharing", "seed"], suffixes=("", "_full"))
    assert len(merged) == len(partial)
    for name in MEASURES:
        np.testing.assert_array_equal(merged[name].to_numpy(), merged[name + "_full"].to_numpy())


def test_dask_cancel_before_start_returns_no_rows(client):
    cancel = threading.Event()
    cancel.set()
    frame = sweep(SMALL, {"sharing": [0.0, 1.0]}, seeds=range(3), progress=False, client=client, cancel=cancel)
    assert len(frame) == 0
    assert list(frame.columns) == ["sharing", "seed", *MEASURES]
    assert frame["sharing"].dtype == np.float64


def test_default_batch_size_aims_for_task_seconds():
    # 20 ms runs: 25 per task, unless that leaves fewer than ~4 tasks per thread
    assert sw._default_batch_size(0.02, 4200, 2) == 25
    assert sw._default_batch_size(0.02, 40, 2) == 5
    assert sw._default_batch_size(2.0, 4200, 2) == 1


# --------------------------------------------------------------------------- plots


@pytest.fixture(scope="module")
def two_way():
    grid = {"sharing": [0.0, 0.5, 1.0], "market.depth": [1e8, 1e9]}
    return sweep(SMALL, grid, seeds=range(3), progress=False)


@pytest.fixture(autouse=False)
def agg():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    yield
    plt.close("all")


def test_plot_measure_lines_bands_and_labels(two_way, agg):
    from matplotlib.colors import to_hex
    from coupling_lab.ui._common import PALETTE
    from coupling_lab.ui.sweep_plots import plot_measure

    ax = plot_measure(two_way, "synchrony", x="sharing", by="market.depth")
    assert len(ax.lines) == 2 and len(ax.collections) == 2
    assert [to_hex(line.get_color()).upper() for line in ax.lines] == [c.upper() for c in PALETTE[:2]]
    assert "sharing" in ax.get_xlabel() and "synchrony" in ax.get_ylabel()
    assert ax.get_legend().get_title().get_text() == "market depth D (USD)"
    expected = summarize(two_way[two_way["market.depth"] == 1e9], by=["sharing"], measures=["synchrony"])
    np.testing.assert_allclose(ax.lines[1].get_ydata(), expected["mean"].to_numpy())
    band = ax.collections[1].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(np.nanmin(expected["ci_low"]))
    assert band.max() == pytest.approx(np.nanmax(expected["ci_high"]))


def test_plot_measure_shows_percent_units(two_way, agg):
    from coupling_lab.ui.sweep_plots import plot_measure

    ax = plot_measure(two_way[two_way["market.depth"] == 1e8], "excess_drawdown")
    kappa = two_way[(two_way["market.depth"] == 1e8) & (two_way["sharing"] == 1.0)]["excess_drawdown"]
    assert ax.lines[0].get_ydata()[-1] == pytest.approx(np.mean(100 * (1 - np.exp(-kappa))))
    assert "%" in ax.get_ylabel()


def test_plots_refuse_to_pool_a_varying_parameter(two_way, agg):
    from coupling_lab.ui.sweep_plots import plot_heatmap, plot_measure

    with pytest.raises(ValueError, match="market.depth"):
        plot_measure(two_way, "synchrony", x="sharing")
    with pytest.raises(ValueError, match="'nope'"):
        plot_heatmap(two_way, "nope")


def test_heatmap_cells_are_the_grid_means(two_way, agg):
    from coupling_lab.ui.sweep_plots import plot_heatmap

    ax = plot_heatmap(two_way, "peak_flow_share", x="sharing", y="market.depth")
    cells = np.asarray(ax.images[0].get_array())
    assert cells.shape == (2, 3)
    sel = two_way[(two_way["market.depth"] == 1e9) & (two_way["sharing"] == 0.5)]
    assert cells[1, 1] == pytest.approx(100 * sel["peak_flow_share"].mean())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "0.5", "1"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1e+08", "1e+09"]
    assert "%" in ax.figure.axes[-1].get_ylabel()  # the colour bar
    assert len(ax.texts) == 6


def test_plot_dial_has_three_labelled_panels(two_way, agg):
    from coupling_lab.ui.sweep_plots import plot_dial

    fig = plot_dial(two_way, by="market.depth")
    assert len(fig.axes) == 3
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes)
    assert all(len(ax.lines) == 2 for ax in fig.axes)


def test_sweep_explorer_moves_the_curves_in_place(two_way, agg):
    from coupling_lab.ui.sweep_plots import SweepExplorer

    app = SweepExplorer(two_way, x="sharing", param="market.depth")
    slider = app.controls["value"]
    assert "cl-main-control" in slider._dom_classes
    line = app.lines["synchrony"]
    expected = summarize(two_way[two_way["market.depth"] == 1e8], by=["sharing"], measures=["synchrony"])
    np.testing.assert_allclose(line.get_ydata(), expected["mean"].to_numpy())
    ylim = app.axes[0].get_ylim()
    slider.value = 1e9
    assert app.lines["synchrony"] is line  # same artist, new data
    expected = summarize(two_way[two_way["market.depth"] == 1e9], by=["sharing"], measures=["synchrony"])
    np.testing.assert_allclose(line.get_ydata(), expected["mean"].to_numpy())
    assert app.axes[0].get_ylim() == ylim
    assert "1e+09" in app.title.get_text() and app.n_updates == 2
    # a value the page forged: ignored, one line, last good curves kept
    slider.value = 1e8
    good = line.get_ydata().copy()
    app.controls["value"].options = [("1e+08", 1e8), ("3", 3.0)]
    app.controls["value"].value = 3.0
    assert "Ignored" in app.status.message
    np.testing.assert_allclose(line.get_ydata(), good)
