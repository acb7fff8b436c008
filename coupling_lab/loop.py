r"""The step loop (MODEL.md, order of work; §8 for several assets).

Inside step :math:`t`, for every asset :math:`a`, feed :math:`j` and platform :math:`k`:

1. **markets**: :math:`m^a_t = e^{x^a_t - \kappa^a_t}`;
2. **venues**: :math:`p^v_t = m^{a(v)}_t e^{\varepsilon^v_t}` (faults applied);
3. **feeds**: raw observation :math:`r^j_t`, then publication :math:`\pi^j_t`
   (deviation, heartbeat, latency, faults, feed-side rules);
4. **reads**: what each platform reads, through its read-side guards;
5. **margin engines**: each platform's round against what it read;
6. **flows**: the signed net forced flow :math:`Q^a_t` of every asset;
7. **impact**: :math:`\kappa^a_{t+1}` from :math:`Q^a_t`.

Platforms act simultaneously: no engine sees another's step-t sales before
step t+1, so the order in which platforms are listed never matters. The loop
knows no rule of any engine or guard: each is a module of its own, called
through its protocol (:mod:`coupling_lab.engines`, :mod:`coupling_lab.guards`,
``FeedRule`` in :mod:`coupling_lab.oracles`).

Everything that does not depend on the impact state is computed for all
steps before the loop (venue factors, raw observations at ``kappa = 0``): the
raw observations scale with :math:`e^{-\kappa^a_t}` exactly (a median of
positive prices times a positive number), so only steps with a frozen venue
need the per-venue path.
"""
from __future__ import annotations

import numpy as np

from .compiled import KERNELS, default_kernel, run_compiled, supports
from .guards import Reader
from .market import Markets
from .oracles import Publisher
from .result import Recorder, Result
from .venues import venue_factors
from .world import World

__all__ = ["run"]


def _median_rows(a):
    """Median of each row of ``a`` (shape (T, S)), as ``np.median(a, axis=1)`` but cheaper for small S."""
    s = np.sort(a, axis=1)
    mid = s.shape[1] // 2
    return s[:, mid] if s.shape[1] % 2 else 0.5 * (s[:, mid - 1] + s[:, mid])


class _Venues:
    """Steps 2-3a: venue prices and the feeds' raw observations for a step."""

    def __init__(self, world, lists=True):
        va = world.venue_asset_v()
        ex_ta = np.exp(world.paths_ta)
        factor_tv, self.frozen_tv = venue_factors(world.venue_noise_tv, world.venue_faults)
        self.venue_asset = va
        self.unit_tv = (ex_ta[:, :1] if world.n_assets == 1 else ex_ta[:, va]) * factor_tv
        self.unit_raw_tj = np.column_stack([_median_rows(self.unit_tv[:, list(o.sources)]) for o in world.oracles])
        self.frozen_t = self.frozen_tv.any(axis=1)
        if lists:  # the Python loop reads plain floats, faster than numpy scalars
            self.unit_raw_rows = self.unit_raw_tj.tolist()
            self.frozen_t = self.frozen_t.tolist()
        self.sources = [list(o.sources) for o in world.oracles]
        self.feed_asset = world.feed_asset
        self.one_asset = world.n_assets == 1
        self.held_rows = {}
        self._last_scale = None

    def observe(self, t, scale_a):
        """Raw observations ``r^j_t`` (a list) given ``exp(-kappa^a_t)`` per asset."""
        if not self.frozen_t[t] and self.one_asset:  # the common case: one scale for every feed
            s0 = scale_a[0]
            self._last_scale = scale_a
            return [u * s0 for u in self.unit_raw_rows[t]]
        if self.frozen_t[t]:
            scale_v = np.array(scale_a)[self.venue_asset]
            prev = self.held_rows.get(t - 1)
            if prev is None:
                prev = self.unit_tv[t - 1] * np.array(self._last_scale)[self.venue_asset]
            row = np.where(self.frozen_tv[t], prev, self.unit_tv[t] * scale_v)
            self.held_rows[t] = row
            raw = [float(np.median(row[s])) for s in self.sources]
        elif self.one_asset:
            s0 = scale_a[0]
            raw = [u * s0 for u in self.unit_raw_rows[t]]
        else:
            raw = [u * scale_a[a] for u, a in zip(self.unit_raw_rows[t], self.feed_asset)]
        self._last_scale = scale_a
        return raw

    def prices_tv(self, kappa_ta):
        """(T, V) USD venue prices after the run."""
        scale = np.exp(-kappa_ta)
        venue_tv = self.unit_tv * (scale if scale.shape[1] == 1 else scale[:, self.venue_asset])
        for t, row in self.held_rows.items():
            venue_tv[t] = row
        return venue_tv


def run(world, kernel=None):
    """Run one scenario with fully explicit inputs. See :class:`~coupling_lab.result.Result`.

    ``kernel`` chooses the step loop: ``"reference"`` (this module's Python
    pipeline), ``"compiled"`` (:mod:`coupling_lab.compiled`, the same
    numbers, for the worlds it covers) or ``"auto"`` (compiled when it covers
    the world). ``None`` takes :func:`~coupling_lab.compiled.default_kernel`
    (``"auto"`` unless changed with ``using_kernel`` or ``$COUPLING_LAB_KERNEL``).
    """
    if not isinstance(world, World):
        raise TypeError(f"world must be a World; got {type(world).__name__}")
    kernel = default_kernel() if kernel is None else kernel
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}; got {kernel!r}")
    if kernel == "compiled" or (kernel == "auto" and supports(world) is None):
        return run_compiled(world)
    return _run_reference(world)


def _run_reference(world):
    """The reference step loop: each part of the pipeline called through its protocol."""
    T, A, K = world.n_steps, world.n_assets, world.n_platforms
    markets = Markets(world.markets, np.exp(world.paths_ta).tolist())
    venues = _Venues(world)
    rules = None
    if world.feed_rules:
        rules = [[r.bind(j, world) for r in world.feed_rules[j]] for j in range(world.n_oracles)]
    feeds = Publisher(world.oracles, T, world.oracle_faults, rules, world.provider_of_feed)
    guards = world.read_guards or ((),) * K
    readers = [Reader(k, world.assets_of(k), world.feeds_of(k), guards[k], world) for k in range(K)]
    engines = [p.make_engine(k, b, world.assets_of(k), world) for k, (p, b) in enumerate(zip(world.platforms, world.books))]
    record = Recorder(T, K, A, readers)
    plain = [r.feeds_read[0] if r.single and not r.guarded else None for r in readers]
    idle = [e.idle_above for e in engines]

    prices_at, observe, publish, absorb = markets.prices, venues.observe, feeds.publish_step, markets.absorb
    for t in range(T):
        market_a, scale_a = prices_at(t)                            # 1. markets
        price_j = publish(t, observe(t, scale_a))                   # 2-3. venues, feeds
        flow_a = [0.0] * A
        for k in range(K):
            j = plain[k]
            if j is not None:                                        # 4. reads (no guard: the feed itself)
                price = price_j[j]
                if price >= idle[k][0]:
                    continue
                prices = [price]
            else:
                prices = record.read(t, k, readers[k].read(t, price_j, feeds))
            fills = engines[k].step(t, prices, market_a)             # 5. margin engines
            if fills is None:
                continue
            record.fills(t, k, fills)
            for a, q in fills.flows:                                 # 6. flows
                flow_a[a] += q
        absorb(flow_a)                                              # 7. impact

    kappa_ta = np.array(markets.kappa_rows).reshape(T, A)
    market_ta = np.array(markets.market_rows).reshape(T, A)
    return Result.from_run(world, kappa_ta, market_ta, venues.prices_tv(kappa_ta), feeds, record, engines)
