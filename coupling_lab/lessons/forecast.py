"""Lesson 06, margin-call forecasting: the liquidation map and the cascade forecast
beside a simulated run of the same drop."""
from __future__ import annotations

import numpy as np

from ..forecast import forecast
from ..market import MarketParams
from ..scenarios import ReplayScenario
from ..simulation import Config, build, run
from .controls import Control
from .text import Sentence, fmt_number, fmt_usd

__all__ = ["PRICE0", "DROP_AT", "N_STEPS", "N_PLATFORMS", "SEED_MAX", "CONTROLS", "drop_config", "outcome",
           "readout_rows", "map_sentence", "cascade_sentence", "forecast_sentence"]

PRICE0 = 2000.0
DROP_AT = 10  # the minute the price drops
N_STEPS = 150
N_PLATFORMS = 5
SEED_MAX = 9999

#: The app opens at resilience 0.3: the quiz asks the learner to set it to 0.
CONTROLS = {
    "drop": Control("price drop", 0.0, 40.0, step=1, default=6.0, unit="%"),
    "depth": Control("depth D", 50.0, 1000.0, step=10, default=200.0, unit="M USD"),
    "resilience": Control("resilience ρ (sim)", 0.0, 1.0, step=0.05, default=0.3, unit="per min"),
    "seed": Control("seed", 0, SEED_MAX, step=1, default=1, integer=True, kind="text"),
}


def drop_config(drop=0.06, depth_musd=200.0, resilience=0.3, sharing=1.0):
    """A step drop of ``drop`` at minute 10 (a replayed path), default oracles and books."""
    prices = np.r_[np.full(DROP_AT, PRICE0), np.full(N_STEPS - DROP_AT, PRICE0 * (1.0 - drop))]
    return Config(scenario=ReplayScenario(prices), n_platforms=N_PLATFORMS, sharing=sharing,
                  market=MarketParams(depth=depth_musd * 1e6, resilience=resilience))


def outcome(drop, depth, rho, seed):
    """The two simulated runs and the two forecasts of one drop (``drop`` a fraction, ``depth`` M USD):
    ``(world, sim_shared, sim_indep, fc_shared, fc_indep)``."""
    if not 0 <= drop < 1:
        raise ValueError(f"drop must be in [0, 1) (a fraction of the price); got {drop}")
    world = build(drop_config(drop, depth, rho, 1.0), seed=seed)
    sim_shared = run(world)
    sim_indep = run(build(drop_config(drop, depth, rho, 0.0), seed=seed))
    args = (world.books, world.platforms, PRICE0, drop, depth * 1e6)
    return world, sim_shared, sim_indep, forecast(*args, shared=True), forecast(*args, shared=False)


READOUT_HEAD = ("", "sold (M USD)", "extra fall, 1 − e^(−max κ)", "")


def readout_rows(fc, fi, ss, si):
    """Formatted rows (columns :data:`READOUT_HEAD`): forecasts and simulations of one drop."""
    def pct(k):
        return "—" if k != k else f"{fmt_number(-100 * np.expm1(-k), 1)} %"

    return [
        ("first round only, no feedback", fmt_number(fc.first_round_usd / 1e6, 1), "—", "—"),
        ("forecast, one shared price", fmt_number(fc.liquidated_usd / 1e6, 1), pct(fc.kappa), f"{fc.n_rounds} rounds"),
        ("simulated, every platform on oracle 0", fmt_number(ss.measures.liquidated_usd / 1e6, 1),
         pct(ss.measures.excess_drawdown), "default oracle: 0.5 %, 1 min latency"),
        ("forecast, each platform alone", fmt_number(fi.liquidated_usd / 1e6, 1), pct(fi.kappa),
         f"{fi.n_rounds} rounds (longest)"),
        ("simulated, every platform on its own oracle", fmt_number(si.measures.liquidated_usd / 1e6, 1),
         pct(si.measures.excess_drawdown), "own oracles: 0.5-2 %, 0-3 min latency"),
    ]


def map_sentence(lmap):
    """The hand-worked one-account map as a sentence."""
    parts = [f"at {fmt_usd(p)}: {fmt_number(v, 1)} USD sold" for p, v in zip(lmap.price_p, lmap.total_p)]
    return Sentence("First-round sales of the one account, " + "; ".join(parts) + ".")


def cascade_sentence(alone, together):
    """The hand-worked two-platform cascade as a sentence."""
    rounds = "; ".join(f"round {n + 1}: " + ", ".join(f"P{k + 1} {fmt_number(v, 1)}" for k, v in enumerate(row))
                       for n, row in enumerate(np.asarray(together.sold_nk)))
    each = ", ".join(f"P{k + 1} {fmt_number(v, 1)}" for k, v in enumerate(np.asarray(alone.sold_nk).sum(axis=0)))
    return Sentence(f"Each platform's cascade alone: {each} USD ({fmt_number(alone.liquidated_usd, 1)} USD in all). "
                    f"Together: {fmt_number(together.liquidated_usd, 1)} USD ({rounds}, in USD).")


def forecast_sentence(fc, resilience=0.0):
    """One forecast (a :class:`~coupling_lab.Forecast` run with ``resilience``) as a sentence."""
    return Sentence(f"The forecast for a drop of {fmt_number(100 * fc.drop, 0)} % with resilience "
                    f"{fmt_number(resilience, 2)} applied per round: {fmt_number(fc.liquidated_usd / 1e6, 1)} M USD "
                    f"sold in {fc.n_rounds} rounds.")
