"""Lesson 05, what helps.

Section 1, the mitigation lab: one design (five platforms on one shared oracle) with
protections picked from MODEL.md §9 at their production settings, against its
unprotected twin on the same seed; the costs of each (``protections.costs``);
a trade-off picture over many seeds. Section 3, the levers: two designs side by
side, same seed and path.
"""
from __future__ import annotations

import math

import numpy as np

from ..margin import PlatformParams
from ..market import MarketParams
from ..oracles import OracleParams, override
from ..scenarios import CrashScenario, GBMScenario
from ..simulation import Config, OracleRanges, simulate
from .controls import Control
from .text import Prose, Sentence, extra_fall, fmt_musd, fmt_number, fmt_pct, fmt_sync

__all__ = ["SCENARIOS", "SEED_MAX", "DESIGN_KNOBS", "CONTROLS", "design_config", "design_run", "measure_rows",
           "comparison_sentence", "LAB_SCENARIOS", "LAB_CONTROLS", "PROTECTIONS", "Protection", "lab_config",
           "lab_runs", "lab_costs", "cost_rows", "COST_HEAD", "picks_sentence", "describe_protections",
           "TRADEOFF_SETTINGS", "TRADEOFF_RATE_VARIANTS", "TRADEOFF_CONTROLS", "tradeoff_frame", "tradeoff_summary",
           "tradeoff_point", "tradeoff_table", "TRADEOFF_HEAD", "setting_label", "LIVE_SEEDS", "design_findings",
           "lab_quoted", "lab_findings", "fallback_switch_minute", "tradeoff_quoted", "tradeoff_findings",
           "TRADEOFF_QUOTED", "TRADEOFF_QUOTED_SEEDS"]

SCENARIOS = ("crash", "bad report")
SEED_MAX = 9999

#: Each design's knobs, declared once (both designs open with these defaults: today's coupled design).
DESIGN_KNOBS = {
    "topology": Control("topology", choices=("shared_fraction", "source_overlap"), default="shared_fraction",
                        kind="dropdown"),
    "sharing": Control("sharing", 0.0, 1.0, step=0.2, default=1.0),
    "theta": Control("threshold θ", 0.0, 5.0, step=0.25, default=0.5, unit="%"),
    "heartbeat": Control("heartbeat", 1, 1440, step=1, default=60, unit="min", integer=True),
    "delay": Control("oracle delay", 0, 120, step=1, default=1, unit="min", integer=True),
    "keepers": Control("keepers", 0, 500, step=5, default=0, unit="accounts/min, 0 = no limit", integer=True),
    "depth": Control("depth D", 50.0, 1000.0, step=10, default=200.0, unit="M USD"),
}
CONTROLS = {
    "scenario": Control("scenario", choices=SCENARIOS, default="crash"),
    "seed": Control("seed", 0, SEED_MAX, step=1, default=1, integer=True, kind="text"),
    **{f"{d}_{k}": c for d in "AB" for k, c in DESIGN_KNOBS.items()},
}


def design_config(scenario="crash", topology="shared_fraction", sharing=1.0, theta=0.5, heartbeat=60, delay=1,
                  keepers=0, depth=200.0):
    """One design as a :class:`~coupling_lab.Config`.

    ``theta`` (per cent), ``heartbeat`` and ``delay`` (minutes) set the shared
    oracle 0; every platform's own oracle keeps its drawn threshold
    (0.5-2 %) and heartbeat (1 h or 24 h) and gets the same ``delay`` added
    to its 0-3 minute latency. ``keepers = 0`` is no limit. ``"bad report"``
    is a calm path with the shared oracle reporting 10 % low for minutes
    100-109 (lesson 04).
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {list(SCENARIOS)}; got {scenario!r}")
    faults = ()
    path = CrashScenario()
    if scenario == "bad report":
        path = GBMScenario(n_steps=path.n_steps, sigma=0.001)
        faults = (override(0, 100, 110, 0.9),)
    return Config(
        scenario=path, sharing=sharing, topology=topology, oracle_faults=faults,
        shared_oracle=OracleParams(theta=theta / 100.0, heartbeat=int(heartbeat), latency=int(delay)),
        own_oracles=OracleRanges(latency_min=int(delay), latency_max=int(delay) + 3),
        platform=PlatformParams(keeper_capacity=int(keepers) if keepers else None),
        market=MarketParams(depth=depth * 1e6),
    )


def design_run(scenario="crash", seed=1, **knobs):
    return simulate(design_config(scenario, **knobs), seed=seed)


def measure_rows(m):
    """name -> (formatted value, meaning) for one design's measures."""
    return {
        "synchrony": ("n/a" if math.isnan(m.synchrony) else fmt_sync(m.synchrony),
                      "1 = platforms sell in lockstep"),
        "peak flow": (fmt_pct(m.peak_flow_share, 0), "of all selling in the busiest 10 minutes"),
        "excess drawdown": (fmt_pct(extra_fall(m.excess_drawdown)), "extra fall from forced selling"),
        "liquidated": (fmt_musd(m.liquidated_usd), "collateral sold"),
        "bad debt": (fmt_musd(m.bad_debt, 2), "debt left unpaid"),
    }


def comparison_sentence(a, b):
    """A sentence comparing designs A and B's extra fall and peak flow (two Measures)."""
    return Sentence(f"Extra fall from forced selling: design A {fmt_pct(extra_fall(a.excess_drawdown))}, design B "
                    f"{fmt_pct(extra_fall(b.excess_drawdown))}. Busiest ten minutes: A {fmt_pct(a.peak_flow_share, 0)} "
                    f"of the selling, B {fmt_pct(b.peak_flow_share, 0)}.")


def design_findings(seed=1):
    """What the two designs show with B's oracle delay at 60 minutes in the crash (the second
    prediction's reveal), computed from the two runs of ``seed``."""
    a = measure_rows(design_run("crash", seed).measures)
    b = measure_rows(design_run("crash", seed, delay=60).measures)
    return Prose(f"With seed {seed} the extra fall from forced selling drops from **{a['excess drawdown'][0]}** "
                 f"(design A) to **{b['excess drawdown'][0]}** (design B), and the busiest ten minutes carry "
                 f"{b['peak flow'][0]} of the selling instead of {a['peak flow'][0]}. The platforms of design B "
                 "see the impact of their sales an hour late, when resilience has healed it: the loop of lesson 03 "
                 "is cut.")



# =========================================================================== the mitigation lab (section 1)
#
# One design -- five platforms, all on the shared oracle 0 (each shares its oracle with four others) --
# with protections picked by the learner, against its unprotected twin on the same seed (the same
# world with every protection of MODEL.md §9 switched off: ``protections.without_protections``).

from dataclasses import dataclass  # noqa: E402

from ..config import build  # noqa: E402
from ..loop import run as run_world  # noqa: E402
from ..protections import (AnchorBand, AnswerBounds, CircuitBreaker, Delay, Fallback, RateLimit,  # noqa: E402
                           costs, keeper_outage, without_protections)
from ..sweep import summarize  # noqa: E402
from .faults import under_water  # noqa: E402

LAB_SCENARIOS = ("crash", "bad report")
LAB_PLATFORMS = 5
LAB_STEPS = 500
LAB_T0 = 100          # the crash starts, or the bad report begins (it lasts 10 minutes)
LAB_REPORT_MINUTES = 10
OUTAGE = (100, 160)   # the keeper outage: every platform, the first hour of the crash
FLOOR_LAB_USD = 1000.0


@dataclass(frozen=True)
class Protection:
    """One protection of the lab: its name, production setting and source (prose), and what it sets."""

    key: str
    name: str
    setting: str
    source: str

    def apply(self, config):
        """``config`` with this protection switched on (added to any already on)."""
        if self.key == "osm":
            return config.replace(read_guards=_ordered(config.read_guards + (Delay(hop=60),)))
        if self.key == "anchor":
            return config.replace(read_guards=_ordered(config.read_guards + (AnchorBand(band=0.2, window=30),)))
        if self.key == "fallback":
            return config.replace(read_guards=_ordered(config.read_guards
                                                       + (Fallback(timeout=240, max_jump=0.5, agree=0.05),)))
        if self.key == "rate":
            return config.replace(platform=config.platform.replace(rate_limit=RateLimit(limit_usd=4.5e6, window=30)))
        if self.key == "breaker":
            return config.replace(platform=config.platform.replace(breaker=CircuitBreaker(drop=0.5, window=60,
                                                                                           pause=60)))
        if self.key == "outage":
            return config.replace(platform_faults=config.platform_faults + tuple(
                keeper_outage(k, *OUTAGE) for k in range(config.n_platforms)))
        if self.key == "bounds":
            return config.replace(feed_rules=config.feed_rules + (AnswerBounds(min_answer=FLOOR_LAB_USD),))
        raise ValueError(f"protection must be one of {list(PROTECTIONS)}; got {self.key!r}")


def _ordered(guards):
    """Read guards in MODEL.md §9's order: delay -> anchor -> fallback."""
    rank = {Delay: 0, AnchorBand: 1, Fallback: 2}
    return tuple(sorted(guards, key=lambda g: rank.get(type(g), 3)))


#: The lab's protections, each at its production setting (FACTS.md, FACTS-mechanisms.md), in display order.
PROTECTIONS = {p.key: p for p in (
    Protection("osm", "Oracle security module (delay)",
               "one value per hour, each read one hour late (hop 1 h)",
               "Maker OSM, hop = ONE_HOUR (makerdao/osm; FACTS-mechanisms.md 2.3)"),
    Protection("anchor", "Anchored view (anchor band)",
               "a price more than 20 % away from a 30-minute TWAP is rejected",
               "Compound's UniswapAnchoredView, 2020 (Open Price Feed; FACTS-mechanisms.md 2.2)"),
    Protection("fallback", "Fallback oracle",
               "switch to the platform's own oracle after 4 h without an update or a 50 % jump; "
               "back once within 5 %",
               "Liquity PriceFeed.sol (liquity/dev; FACTS-mechanisms.md 2.4)"),
    Protection("rate", "Rate limit",
               "at most 4.5 M USD of debt repaid per 30 minutes per platform (about 11 % of its 40 M USD of debt)",
               "Maker's hole: ETH-A 65 M DAI against about 580 M DAI of debt, one auction cycle about "
               "30 min (Nov 2021; FACTS-mechanisms.md 1.1, scaled to the model)"),
    Protection("breaker", "Circuit breaker",
               "a fall of more than 50 % within an hour pauses liquidations for an hour",
               "Maker's ClipperMom breaker tolerance 50 % (FACTS-mechanisms.md 1.1); the one-hour pause is "
               "a teaching value (Maker's breaker holds until governance resets it)"),
    Protection("outage", "Keeper outage (a fault, not a protection)",
               "every platform's keepers liquidate nothing for the first hour of the crash (minutes 100-159)",
               "Black Thursday, 12 March 2020: Maker auctions won at 0 DAI as keepers failed "
               "(FACTS-mechanisms.md 4.1); the hour is a teaching value"),
    Protection("bounds", "Answer bounds (feed floor)",
               "a report below 1,000 USD (half the opening price) is not published: the feed sticks",
               "Chainlink minAnswer (OffchainAggregator.sol; FACTS-mechanisms.md 2.1); the floor is a "
               "teaching value"),
)}

LAB_CONTROLS = {
    "scenario": Control("scenario", choices=LAB_SCENARIOS, default="crash"),
    "size": Control("crash depth / bad report", 0.0, 60.0, step=5, default=30.0, unit="%", fmt=".0f"),
    "seed": Control("seed", 0, SEED_MAX, step=1, default=1, integer=True, kind="text"),
    **{key: Control(p.name, choices=("off", "on"), default="off") for key, p in PROTECTIONS.items()},
}


def lab_config(scenario="crash", size_pct=30.0, picks=()):
    """The lab's design with the protections ``picks`` (keys of :data:`PROTECTIONS`) switched on.

    ``"crash"``: the fundamental falls ``size_pct`` per cent over two hours from minute 100 (the
    classroom crash at 30 %). ``"bad report"``: a calm path, the shared oracle publishing
    ``size_pct`` per cent below the market for minutes 100-109 (``override(0, ...)``, lesson 04).
    Five platforms, every one on the shared oracle 0; the rest is the kit's classroom default.
    """
    if scenario not in LAB_SCENARIOS:
        raise ValueError(f"scenario must be one of {list(LAB_SCENARIOS)}; got {scenario!r}")
    size = LAB_CONTROLS["size"].read("size", size_pct) / 100.0
    faults = ()
    if scenario == "crash":
        path = CrashScenario(n_steps=LAB_STEPS, depth=size, start=LAB_T0)
    else:
        path = GBMScenario(n_steps=LAB_STEPS, sigma=0.001)
        if size > 0:
            faults = (override(0, LAB_T0, LAB_T0 + LAB_REPORT_MINUTES, 1.0 - size),)
    config = Config(scenario=path, n_platforms=LAB_PLATFORMS, sharing=1.0, oracle_faults=faults)
    for key in picks:
        if key not in PROTECTIONS:
            raise ValueError(f"protection must be one of {list(PROTECTIONS)}; got {key!r}")
        config = PROTECTIONS[key].apply(config)
    return config


def lab_runs(scenario="crash", size_pct=30.0, seed=1, picks=()):
    """The protected design and its unprotected twin on one seed: ``{"on": Result, "off": Result}``.

    The twin is :func:`~coupling_lab.protections.without_protections` of the same built world
    (what :func:`~coupling_lab.protections.compare` runs).
    """
    world = build(lab_config(scenario, size_pct, picks), seed)
    return {"on": run_world(world), "off": run_world(without_protections(world))}


def lab_costs(result):
    """:func:`~coupling_lab.protections.costs` of one run, with ``under_water`` (USD) added."""
    out = costs(result)
    out["under_water"] = under_water(result)
    return out


def _signed(text, value):
    """``text`` with a "+" in front when ``value`` is positive and the text is not zero."""
    return "+" + text if value > 0 and any(ch in "123456789" for ch in text.split(" ")[0]) else text


def cost_rows(on, off):
    """The costs table, protected vs unprotected, as formatted text.

    ``on``/``off`` are :func:`lab_costs` dicts. Returns rows ``(name, protected, unprotected,
    difference, meaning)``; the extra fall's difference is in percentage points.
    """
    rows = []

    def add(name, key, fmt, meaning, diff_fmt=None, diff_of=None):
        a, b = on[key], off[key]
        d = (diff_of(a) - diff_of(b)) if diff_of else a - b
        dtext = (diff_fmt or fmt)(d)
        rows.append((name, fmt(a), fmt(b), _signed(dtext, d), meaning))

    add("waiting", "waiting_account_steps", lambda x: f"{fmt_number(x, 0)} account-min",
        "minutes accounts stayed liquidatable but unliquidated, summed over accounts")
    add("mean delay", "mean_delay_steps", lambda x: f"{fmt_number(x, 1)} min",
        "from an account becoming liquidatable to its liquidation, mean over liquidations")
    add("longest delay", "max_delay_steps", lambda x: f"{fmt_number(x, 0)} min", "the longest such wait")
    add("bad debt", "bad_debt", lambda x: fmt_musd(x, 2), "debt written off at liquidation")
    add("under water at the end", "under_water", lambda x: fmt_musd(x, 2),
        "debt the collateral no longer covers at the market price, not yet written off")
    add("extra fall", "excess_drawdown", lambda x: fmt_pct(extra_fall(x)), "extra fall from forced selling",
        diff_fmt=lambda d: f"{fmt_number(100 * d, 1)} pp", diff_of=extra_fall)
    add("peak flow", "peak_flow_share", lambda x: fmt_pct(x, 0), "of all selling in the busiest 10 minutes",
        diff_fmt=lambda d: f"{fmt_number(100 * d, 0)} pp")
    add("sold", "liquidated_usd", lambda x: fmt_musd(x, 1), "collateral sold")
    return rows


COST_HEAD = ("", "protected", "unprotected twin", "difference", "")


def picks_sentence(picks):
    """Which protections are on, as a sentence."""
    if not picks:
        return Sentence("No protection on: the protected design and its twin are the same run.")
    return Sentence("On: " + "; ".join(f"{PROTECTIONS[k].name} ({PROTECTIONS[k].setting})" for k in picks) + ".")


def describe_protections():
    """Each protection of the lab with its production setting and source, one paragraph each."""
    return Sentence("\n".join(f"{p.name}: {p.setting}. Source: {p.source}." for p in PROTECTIONS.values()))


def fallback_switch_minute(result):
    """Minutes after the bad report starts at which P1's read first leaves the shared oracle 0 (the
    fallback switched), or None if it never does."""
    moved = np.flatnonzero(np.abs(result.price_tk[:, 0] - result.oracle_tj[:, 0]) > 1e-9)
    return int(moved[0]) - LAB_T0 if moved.size else None


def _lab_table(scenario, size_pct, picks, seed):
    """The lab's costs table of one pick as ``{row name: (protected, unprotected)}`` (formatted text)."""
    r = lab_runs(scenario, size_pct, seed, picks)
    return {row[0]: row[1:3] for row in cost_rows(lab_costs(r["on"]), lab_costs(r["off"]))}, r["on"]


def lab_quoted(seed=1):
    """The numbers the lab's findings quote, formatted as its table shows them (runs of ``seed``)."""
    osm, _ = _lab_table("crash", 30, ("osm",), seed)
    rate, _ = _lab_table("crash", 30, ("rate",), seed)
    outage, _ = _lab_table("crash", 30, ("outage",), seed)
    none, _ = _lab_table("bad report", 30, (), seed)
    osm_b, _ = _lab_table("bad report", 30, ("osm",), seed)
    anchor_b, _ = _lab_table("bad report", 30, ("anchor",), seed)
    fb, fb_run = _lab_table("bad report", 30, ("fallback",), seed)
    fb60, fb60_run = _lab_table("bad report", 60, ("fallback",), seed)
    breaker, _ = _lab_table("bad report", 30, ("breaker",), seed)
    number = lambda text: text.split(" ")[0]  # noqa: E731  ("274,560 account-min" -> "274,560")
    return {
        "osm_fall": osm["extra fall"][0], "twin_fall": osm["extra fall"][1],
        "rate_fall": rate["extra fall"][0], "rate_waiting": number(rate["waiting"][0]),
        "rate_mean_delay": number(rate["mean delay"][0]), "rate_longest": number(rate["longest delay"][0]),
        "outage_bad": outage["bad debt"][0], "outage_fall": outage["extra fall"][0],
        "report_bad": none["bad debt"][0], "report_fall": none["extra fall"][0],
        "osm_sold": osm_b["sold"][0], "anchor_sold": anchor_b["sold"][0],
        "fallback_bad": fb["bad debt"][0], "fallback_minutes": fallback_switch_minute(fb_run),
        "fallback60_bad": fb60["bad debt"][0], "fallback60_minutes": fallback_switch_minute(fb60_run),
        "breaker_bad": breaker["bad debt"][0],
    }


def _later(minutes):
    if minutes is None:
        return "never"
    return "at once" if minutes == 0 else f"{minutes} minute{'s' if minutes != 1 else ''} later"


def lab_findings(seed=1):
    """What the lab shows with seed ``seed``, protection by protection (the first prediction's reveal)."""
    q = lab_quoted(seed)
    sold = (f"({q['osm_sold']})" if q["osm_sold"] == q["anchor_sold"]
            else f"({q['osm_sold']} and {q['anchor_sold']})")
    return Prose(
        f"**The crash, seed {seed}.** The **Oracle security module** raises the extra fall from {q['twin_fall']} "
        f"(unprotected twin) to **{q['osm_fall']}**: the price read by P1 moves in hourly steps, and each step "
        "sets off a burst of selling. The **Rate limit** alone brings the extra fall down to "
        f"**{q['rate_fall']}**, but accounts wait: {q['rate_waiting']} account-minutes liquidatable and "
        f"unliquidated, {q['rate_mean_delay']} minutes on average, {q['rate_longest']} at most. In this crash the "
        "waiting accounts stay covered (no bad debt); deepen the crash and they do not. The **Keeper outage** "
        f"pauses every platform for the first hour: {q['outage_bad']} of bad debt and an extra fall of "
        f"{q['outage_fall']}, as the accounts that crossed during the hour all sell when the keepers return."
        "\n\n"
        f"**The bad report, seed {seed}.** With every protection off: {q['report_bad']} of bad debt and an extra "
        f"fall of {q['report_fall']}, from ten minutes of a wrong price (lesson 04). With the **Oracle security "
        f"module** or the **Anchored view** almost nothing is sold {sold}. The **Fallback oracle** does not switch "
        "on the bad report itself (a 30 % jump is below its 50 % trigger); it switches "
        f"{_later(q['fallback_minutes'])}, when the cascade has halved the shared price in one minute, and "
        f"{q['fallback_bad']} of bad debt remain; at size 60 % it switches {_later(q['fallback60_minutes'])} "
        f"({q['fallback60_bad']} of bad debt). The **Circuit breaker** trips only once the cascade itself has "
        f"halved the price read: {q['breaker_bad']}.")


# --------------------------------------------------------------------------- the trade-off picture (section 2)

#: One point per setting: nothing, then each protection alone at its production setting, and the rate
#: limit at twice its budget (a curve along one protection's setting).
TRADEOFF_SETTINGS = {
    "none": (),
    **{key: (key,) for key in PROTECTIONS},
}
TRADEOFF_RATE_VARIANTS = {"rate x 2": 9e6}
TRADEOFF_MEASURES = ("unpaid_debt", "extra_fall", "waiting_account_steps")
LIVE_SEEDS = 3
TRADEOFF_CONTROLS = {"seeds": Control("seeds per point", 2, 20, step=1, default=LIVE_SEEDS, integer=True)}


def _tradeoff_config(scenario, setting, size_pct):
    if setting in TRADEOFF_RATE_VARIANTS:
        cfg = lab_config(scenario, size_pct)
        return cfg.replace(platform=cfg.platform.replace(
            rate_limit=RateLimit(limit_usd=TRADEOFF_RATE_VARIANTS[setting], window=30)))
    return lab_config(scenario, size_pct, TRADEOFF_SETTINGS[setting])


def tradeoff_frame(seeds=range(LIVE_SEEDS), scenarios=LAB_SCENARIOS, size_pct=30.0, progress=False):
    """Every trade-off setting x scenario x seed, one row per run (a DataFrame).

    Columns ``scenario, setting, seed`` and the measures ``unpaid_debt`` (bad debt written off +
    debt under water at the end, USD), ``extra_fall`` (fraction), ``waiting_account_steps``.
    ``progress=True`` shows a ``tqdm.auto`` bar (as :func:`coupling_lab.sweep` does).
    """
    import pandas as pd

    settings = (*TRADEOFF_SETTINGS, *TRADEOFF_RATE_VARIANTS)
    tasks = [(sc, st, int(s)) for sc in scenarios for st in settings for s in seeds]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tasks), desc="trade-off", unit="run")
    rows = []
    for sc, st, seed in tasks:
        r = simulate(_tradeoff_config(sc, st, size_pct), seed=seed)
        m = r.measures
        rows.append({"scenario": sc, "setting": st, "seed": seed, "unpaid_debt": m.bad_debt + under_water(r),
                     "extra_fall": extra_fall(m.excess_drawdown), "waiting_account_steps": float(r.waiting_tk.sum())})
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return pd.DataFrame(rows)


def tradeoff_summary(frame, level=0.95):
    """Mean and confidence interval per (scenario, setting) and measure (:func:`coupling_lab.summarize`)."""
    return summarize(frame, by=["scenario", "setting"], measures=list(TRADEOFF_MEASURES), level=level)


def tradeoff_point(summary, scenario, setting, measure):
    """``(mean, ci_low, ci_high)`` of one point of the picture; the interval's lower end is clipped
    at 0 (every trade-off measure is >= 0); NaN ends with fewer than two seeds."""
    row = summary[(summary["scenario"] == scenario) & (summary["setting"] == setting)
                  & (summary["measure"] == measure)].iloc[0]
    lo = float(row["ci_low"])
    return float(row["mean"]), (lo if math.isnan(lo) else max(lo, 0.0)), float(row["ci_high"])


def setting_label(setting):
    """A setting's short label in the picture."""
    if setting == "none":
        return "no protection"
    if setting in TRADEOFF_RATE_VARIANTS:
        return f"rate limit {fmt_number(TRADEOFF_RATE_VARIANTS[setting] / 1e6, 2)} M USD / 30 min"
    return PROTECTIONS[setting].name


def tradeoff_table(summary):
    """Rows ``(scenario, setting, unpaid debt, extra fall)`` as text: mean [CI], per point."""
    rows = []
    for sc in LAB_SCENARIOS:
        for st in (*TRADEOFF_SETTINGS, *TRADEOFF_RATE_VARIANTS):
            if not ((summary["scenario"] == sc) & (summary["setting"] == st)).any():
                continue
            d = tradeoff_point(summary, sc, st, "unpaid_debt")
            x = tradeoff_point(summary, sc, st, "extra_fall")
            rows.append((sc, setting_label(st), _interval(d, lambda v: fmt_number(v / 1e6, 2)),
                         _interval(x, lambda v: fmt_number(100 * v, 1))))
    return rows


def _interval(point, fmt):
    mean, lo, hi = point
    if math.isnan(lo):
        return fmt(mean)
    return f"{fmt(mean)} [{fmt(lo)}, {fmt(hi)}]"


TRADEOFF_HEAD = ("scenario", "setting", "unpaid debt (M USD), mean [95 % CI]", "extra fall (%), mean [95 % CI]")


def _pct_ci(point):
    """An extra fall as "13.8 % [12.2, 15.5]" (mean and 95 % CI, per cent)."""
    mean, lo, hi = point
    text = f"{fmt_number(100 * mean, 1)} %"
    return text if math.isnan(lo) else f"{text} [{fmt_number(100 * lo, 1)}, {fmt_number(100 * hi, 1)}]"


def tradeoff_quoted(summary):
    """The numbers the trade-off findings quote (means, and intervals where the findings give them),
    formatted, from a :func:`tradeoff_summary`."""
    def fall(sc, st, ci=False):
        point = tradeoff_point(summary, sc, st, "extra_fall")
        return _pct_ci(point) if ci else fmt_pct(point[0])

    def unpaid(sc, st):
        return fmt_musd(tradeoff_point(summary, sc, st, "unpaid_debt")[0], 2)

    n = int(summary["n"].max()) if "n" in summary else None
    return {
        "seeds": n,
        "crash_none_fall": fall("crash", "none", ci=True), "crash_rate_fall": fall("crash", "rate", ci=True),
        "crash_rate_unpaid": unpaid("crash", "rate"), "crash_osm_fall": fall("crash", "osm", ci=True),
        "crash_outage_fall": fall("crash", "outage"), "crash_outage_unpaid": unpaid("crash", "outage"),
        "report_none_unpaid": unpaid("bad report", "none"), "report_none_fall": fall("bad report", "none"),
        "report_osm_unpaid": unpaid("bad report", "osm"), "report_anchor_unpaid": unpaid("bad report", "anchor"),
        "report_rate_unpaid": unpaid("bad report", "rate"), "report_rate_fall": fall("bad report", "rate"),
        "report_breaker_unpaid": unpaid("bad report", "breaker"),
        "report_fallback_unpaid": unpaid("bad report", "fallback"),
    }


#: The seeds of the trade-off findings, and what :func:`tradeoff_quoted` gives over them
#: (``tradeoff_quoted(tradeoff_summary(tradeoff_frame(seeds=TRADEOFF_QUOTED_SEEDS)))``, 360 runs, a few
#: seconds: too slow to run when a learner presses Check; ``tests/test_lessons_protections.py`` runs them
#: and compares).
TRADEOFF_QUOTED_SEEDS = range(20)
TRADEOFF_QUOTED = {
    "seeds": 20,
    "crash_none_fall": "13.8 % [12.2, 15.5]", "crash_rate_fall": "3.4 % [3.2, 3.7]",
    "crash_rate_unpaid": "0.00 M USD", "crash_osm_fall": "30.8 % [29.9, 31.7]",
    "crash_outage_fall": "51.2 %", "crash_outage_unpaid": "7.84 M USD",
    "report_none_unpaid": "31.88 M USD", "report_none_fall": "63.1 %",
    "report_osm_unpaid": "0.00 M USD", "report_anchor_unpaid": "0.00 M USD",
    "report_rate_unpaid": "2.51 M USD", "report_rate_fall": "15.5 %",
    "report_breaker_unpaid": "4.25 M USD", "report_fallback_unpaid": "16.76 M USD",
}


def tradeoff_findings(quoted=None):
    """What the trade-off picture shows over :data:`TRADEOFF_QUOTED_SEEDS` (revealed after the lab's
    prediction). ``quoted``: a :func:`tradeoff_quoted` dict (default :data:`TRADEOFF_QUOTED`)."""
    q = TRADEOFF_QUOTED if quoted is None else quoted
    rate_cost = ("with no unpaid debt" if q["crash_rate_unpaid"] == fmt_musd(0, 2)
                 else f"with {q['crash_rate_unpaid']} unpaid")
    same = q["report_osm_unpaid"] == q["report_anchor_unpaid"]
    stop = (f"leave {q['report_osm_unpaid']}" if same
            else f"leave {q['report_osm_unpaid']} and {q['report_anchor_unpaid']}")
    return Prose(
        f"**Over {q['seeds']} seeds per point.** In the **crash**, no protection leaves an extra fall of "
        f"{q['crash_none_fall']}; the rate limit brings it to {q['crash_rate_fall']} {rate_cost}, the oracle "
        f"security module raises it to {q['crash_osm_fall']}, and the keeper outage to "
        f"{q['crash_outage_fall']} with {q['crash_outage_unpaid']} unpaid. In the **bad report**, no protection "
        f"leaves {q['report_none_unpaid']} unpaid and an extra fall of {q['report_none_fall']}; the oracle "
        f"security module and the anchor band {stop}; the rate limit {q['report_rate_unpaid']} with an extra "
        f"fall of {q['report_rate_fall']}; the circuit breaker {q['report_breaker_unpaid']}; the fallback oracle "
        f"{q['report_fallback_unpaid']}."
        "\n\n"
        "No protection is best on both: the one that calms the crash most (the rate limit) does it by making "
        "accounts wait, a cost the picture's axes do not show (the waiting row of the lab's table does); the two "
        "that stop the bad report (the oracle security module, the anchor band) do nothing for the crash, or make "
        "it worse.")
