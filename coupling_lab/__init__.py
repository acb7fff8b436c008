"""coupling-lab: see margin engines liquidate together when they share price oracles.

The model (``MODEL.md``): one collateral asset with a fundamental path, a
market of finite depth, venues, push oracles and margin engines; platforms
that read the same oracle liquidate at the same price points, their forced
selling deepens the fall, and a fault in a shared oracle hits them all.

Examples
--------
>>> from coupling_lab import Config, simulate
>>> apart = simulate(Config(sharing=0.0), seed=7)
>>> together = simulate(Config(sharing=1.0), seed=7)
>>> together.measures.twin_dispersion
0.0
>>> bool(together.measures.synchrony > apart.measures.synchrony)
True
"""
from .accounts import Book, PopulationParams, draw_book
from .forecast import Forecast, LiquidationMap, forecast, liquidation_map
from .margin import PlatformParams, health, liquidation_price
from .market import MarketParams
from .measures import (
    Measures,
    excess_drawdown,
    fundamental_drawdown,
    liquidation_synchrony,
    peak_flow_share,
    twin_dispersion,
)
from .oracles import OracleFault, OracleParams, override, publish, stale
from .scenarios import CrashScenario, GBMScenario, JumpScenario, ReplayScenario
from .simulation import Config, OracleRanges, Result, World, build, run, simulate
from .sweep import load_sweep, save_sweep, summarize, sweep
from .topology import Topology, shared_fraction, source_overlap
from .venues import VenueFault, freeze, spike

__version__ = "0.1.0"

__all__ = [
    "Book", "PopulationParams", "draw_book",
    "Forecast", "LiquidationMap", "forecast", "liquidation_map",
    "PlatformParams", "health", "liquidation_price",
    "MarketParams",
    "Measures", "excess_drawdown", "fundamental_drawdown", "liquidation_synchrony", "peak_flow_share",
    "twin_dispersion",
    "OracleFault", "OracleParams", "override", "publish", "stale",
    "CrashScenario", "GBMScenario", "JumpScenario", "ReplayScenario",
    "Config", "OracleRanges", "Result", "World", "build", "run", "simulate",
    "load_sweep", "save_sweep", "summarize", "sweep",
    "Topology", "shared_fraction", "source_overlap",
    "VenueFault", "freeze", "spike",
]
