"""coupling-lab: see margin engines liquidate together when they share price oracles.

The model (``MODEL.md``): collateral assets with fundamental paths, markets
of finite depth, venues, push oracles (feeds run by providers) and margin
engines; platforms that read the same oracle liquidate at the same price
points, platforms that hold the same collateral sell into the same market,
their forced selling deepens the fall, and a fault in a shared oracle hits
them all.

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
from .compiled import using_kernel
from .engines import Fills, MarginEngine
from .guards import ReadGuard
from .forecast import Forecast, LiquidationMap, forecast, liquidation_map
from .margin import PlatformParams, health, liquidate, liquidation_price
from .market import MarketParams
from .measures import (
    Measures,
    excess_drawdown,
    fundamental_drawdown,
    liquidation_synchrony,
    peak_flow_share,
    return_correlation,
    twin_dispersion,
)
from .perps import PerpBook, PerpParams, PerpPopulation, draw_perp_book, perp_frame
from .oracles import (
    FeedRule, OracleFault, OracleParams, override, override_provider, publish, stale, stale_provider,
)
from .protections import (
    AnchorBand, AnswerBounds, CircuitBreaker, Delay, Fallback, RateLimit, keeper_outage,
)
from .scenarios import CrashScenario, FactorScenario, GBMScenario, JumpScenario, PathScenario, ReplayScenario
from .simulation import Config, OracleRanges, Result, World, build, run, simulate
from .sweep import load_sweep, save_sweep, summarize, sweep
from .topology import Topology, collateral_assets, shared_fraction, source_overlap
from .venues import VenueFault, freeze, spike

__version__ = "0.1.0"

__all__ = [
    "Book", "PopulationParams", "draw_book",
    "Fills", "MarginEngine", "ReadGuard", "FeedRule",
    "AnswerBounds", "Delay", "AnchorBand", "Fallback", "RateLimit", "CircuitBreaker", "keeper_outage",
    "Forecast", "LiquidationMap", "forecast", "liquidation_map",
    "PlatformParams", "health", "liquidate", "liquidation_price",
    "MarketParams",
    "PerpParams", "PerpBook", "PerpPopulation", "draw_perp_book", "perp_frame",
    "Measures", "excess_drawdown", "fundamental_drawdown", "liquidation_synchrony", "peak_flow_share",
    "twin_dispersion", "return_correlation",
    "OracleFault", "OracleParams", "override", "publish", "stale", "stale_provider", "override_provider",
    "CrashScenario", "GBMScenario", "JumpScenario", "ReplayScenario", "FactorScenario", "PathScenario",
    "Config", "OracleRanges", "Result", "World", "build", "run", "simulate", "using_kernel",
    "load_sweep", "save_sweep", "summarize", "sweep",
    "Topology", "shared_fraction", "source_overlap", "collateral_assets",
    "VenueFault", "freeze", "spike",
]
