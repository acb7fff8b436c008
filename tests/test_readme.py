"""The README's Python examples run as written, and its commands are the ones CI and make use."""
import pathlib
import re

import pandas as pd

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks, "README has no python example"
    namespace = {}
    for code in blocks:
        exec(compile(code, "README.md", "exec"), namespace)
    together = namespace["together"]
    assert together.measures.twin_dispersion == 0.0
    assert len(namespace["frame"]) == together.events["t"].size > 0
    # the two-channel example: one market is deeper hit than own markets; the hand-made world has two assets
    assert namespace["one_market"].measures.excess_drawdown_a[0] > max(namespace["own_markets"].measures.excess_drawdown_a)
    two = namespace["two"]
    assert two.market_ta.shape == (500, 2) and set(two.events["asset"].tolist()) == {0, 1}
    assert set(namespace["tidy"]["kind"]) == {"asset", "feed", "read", "platform"}
    # the protections example: the OSM delay deepens the crash, the rate limit makes accounts wait
    assert namespace["osm"].loc["difference", "excess_drawdown"] > 0
    assert namespace["hole"].loc["protected", "waiting_account_steps"] > 0
    venue = namespace["venue"]  # the perp venue beside the lending platforms
    assert len(venue) == 500 and venue["count_cross"].sum() + venue["count_isolated"].sum() > 0
    # the sweeps example: the same rows in process, on a LocalCluster, by scheduler address, after Parquet
    rows = namespace["rows"]
    assert len(rows) == 24 and list(rows.columns[:3]) == ["sharing", "market.depth", "seed"]
    for name in ("on_dask", "by_address", "partial", "again"):
        pd.testing.assert_frame_equal(namespace[name], rows, check_exact=True, obj=name)
    assert namespace["meta"]["seeds"] == [0, 1, 2, 3] and len(namespace["table"]) == 6 * 8


def test_ci_runs_the_readme_test_command():
    assert "make test" in README and "make serve" in README
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert ci[-1].strip() == "make test"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test:", makefile, flags=re.M) and re.search(r"^serve:", makefile, flags=re.M)
