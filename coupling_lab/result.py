r"""What a run returns (MODEL.md §6, §11): series, the event log, the measures.

Shapes: ``T`` steps, ``A`` assets, ``V`` venues, ``J`` feeds, ``K``
platforms, ``R`` reads (one per platform and asset it accepts, in platform
order; with one asset per platform ``R == K``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import measures as _m

__all__ = ["Result", "EVENT_FIELDS"]

EVENT_FIELDS = ("t", "platform", "account", "asset", "seized_units", "repaid_usd", "bad_debt_usd", "oracle_price")


class Recorder:
    """Per-step series and the event log while a run goes (step 5's output)."""

    def __init__(self, T, K, A, readers):
        self.count_tk = np.zeros((T, K), dtype=np.int64)
        self.notional_tk, self.repaid_tk, self.bad_tk = np.zeros((T, K)), np.zeros((T, K)), np.zeros((T, K))
        self.flow_ta = np.zeros((T, A))
        self.waiting_tk = np.zeros((T, K), dtype=np.int64)
        self.log = _EventPieces()
        self.other_logs = {}
        self.reads = {k: np.zeros((T, len(r.feeds_read))) for k, r in enumerate(readers) if r.guarded}

    def read(self, t, k, values):
        rows = self.reads.get(k)
        if rows is not None:
            rows[t] = values
        return values

    def fills(self, t, k, f):
        self.count_tk[t, k] = f.count
        self.notional_tk[t, k] = f.notional_usd
        self.repaid_tk[t, k] = f.repaid_usd
        self.bad_tk[t, k] = f.bad_debt_usd
        self.waiting_tk[t, k] = f.waiting
        for a, q in f.flows:
            self.flow_ta[t, a] += q
        if f.events is None:
            return
        if type(f.events) is tuple:
            self.log.add(t, k, f.events, f.bad_debt_usd > 0)
        else:
            self.other_logs.setdefault(kind_of(f), []).append((t, k, f.events))

    def other_events(self):
        """``{kind: {field: array}}`` for engine kinds other than lending, ``t`` and ``platform`` first."""
        out = {}
        for kind, pieces in self.other_logs.items():
            sizes = [max((np.size(v) for v in ev.values()), default=0) for _, _, ev in pieces]
            cols = {"t": np.repeat([t for t, _, _ in pieces], sizes).astype(np.int64),
                    "platform": np.repeat([k for _, k, _ in pieces], sizes).astype(np.int64)}
            for name in pieces[0][2]:
                cols[name] = np.concatenate([np.broadcast_to(np.asarray(ev[name]), (n,))
                                             for (_, _, ev), n in zip(pieces, sizes)])
            out[kind] = cols
        return out


def kind_of(fills):
    """The engine kind named in a non-lending event piece (its ``"kind"`` entry), else "other"."""
    return fills.events.get("kind", "other") if isinstance(fills.events, dict) else "lending"


class _EventPieces:
    """The event log while a run goes: one array piece per (step, platform) round.

    :meth:`arrays` joins the pieces into the arrays of ``Result.events`` one
    field at a time, dropping each field's pieces once joined, so that a run
    with millions of liquidations never holds the log twice over.
    """

    def __init__(self):
        self.t, self.platform = [], []
        self.account, self.asset, self.seized, self.repaid, self.bad, self.price = [], [], [], [], [], []
        self.per_event = False  # some round gave an asset and price per event (a platform with several assets)

    def add(self, t, k, piece, has_bad):
        idx, asset, seized, repaid, bad, price = piece
        if not self.per_event and isinstance(asset, np.ndarray):
            self.per_event = True
        self.t.append(t)
        self.platform.append(k)
        self.account.append(idx)
        self.asset.append(asset)
        self.seized.append(seized)
        self.repaid.append(repaid)
        self.bad.append(bad if has_bad else None)
        self.price.append(price)

    def arrays(self):
        sizes = np.array([a.size for a in self.account], dtype=np.int64)
        n = int(sizes.sum())

        def joined(pieces, dtype):
            out = np.concatenate(pieces).astype(dtype, copy=False) if pieces else np.empty(0, dtype)
            pieces.clear()
            return out

        def per_round(pieces, dtype):
            # a scalar per round (one asset, one price) or an array per event
            if not self.per_event:
                out = np.repeat(np.array(pieces, dtype=dtype), sizes)
            else:
                out = np.concatenate([np.full(s, p, dtype=dtype) if np.ndim(p) == 0 else np.asarray(p, dtype)
                                      for p, s in zip(pieces, sizes.tolist())]) if pieces else np.empty(0, dtype)
            pieces.clear()
            return out

        bad = np.zeros(n)
        ends = np.cumsum(sizes)
        for end, size, piece in zip(ends.tolist(), sizes.tolist(), self.bad):
            if piece is not None:
                bad[end - size:end] = piece
        self.bad.clear()
        return {
            "t": np.repeat(np.array(self.t, dtype=np.int64), sizes),
            "platform": np.repeat(np.array(self.platform, dtype=np.int64), sizes),
            "account": joined(self.account, np.int64),
            "asset": per_round(self.asset, np.int64),
            "seized_units": joined(self.seized, float),
            "repaid_usd": joined(self.repaid, float),
            "bad_debt_usd": bad,
            "oracle_price": per_round(self.price, float),
        }


def measures_of(w, price_tk, notional_tk, bad_debt_tk, kappa_ta, x_ta, flow_ta):
    """The :class:`~coupling_lab.measures.Measures` of a run from its series (MODEL.md §7, §11)."""
    lt_k = []
    for k, p in enumerate(w.platforms):
        a = w.assets_of(k)[0]
        lt_k.append(p.lt_of(a) if hasattr(p, "lt_of") else getattr(p, "lt", 1.0))
    thresholds = np.array([w.probe[1] / (w.probe[0] * lt) for lt in lt_k])
    disp, count = _m.twin_dispersion(price_tk, thresholds)
    bad_k = bad_debt_tk.sum(axis=0)
    excess_a = kappa_ta.max(axis=0).tolist()
    fundamental_a = (np.maximum.accumulate(x_ta, axis=0) - x_ta).max(axis=0).tolist()
    return _m.Measures(
        synchrony=_m.liquidation_synchrony(notional_tk, w.sync_window),
        twin_dispersion=disp,
        twin_count=count,
        peak_flow_share=_m.peak_flow_share(notional_tk, w.flow_window),
        excess_drawdown=excess_a[0],
        fundamental_drawdown=fundamental_a[0],
        bad_debt=float(bad_k.sum()),
        liquidated_usd=float(notional_tk.sum()),
        bad_debt_k=tuple(float(b) for b in bad_k),
        excess_drawdown_a=tuple(excess_a),
        fundamental_drawdown_a=tuple(fundamental_a),
        peak_flow_share_a=_m.peak_flow_share_by_column(np.abs(flow_ta), w.flow_window),
    )


@dataclass(eq=False)
class Result:
    """Everything one run produced (MODEL.md §6, §11).

    Attributes
    ----------
    world : World, the inputs
    x_ta : (T, A) log USD, fundamental log prices; ``x_t`` is asset 0's (T,)
    kappa_ta : (T, A) log units, impact state in force at step t; ``kappa_t`` asset 0's
    market_ta : (T, A) USD, market prices; ``market_t`` asset 0's
    flow_ta : (T, A) USD, signed net forced flow into each market (sales > 0)
    venue_tv : (T, V) USD, venue prices
    raw_tj : (T, J) USD, feeds' raw observations r_t (before latency)
    oracle_tj : (T, J) USD, published prices pi_t as platforms see them (overrides applied)
    read_tr : (T, R) USD, what each platform read per asset, after its guards;
        ``reads`` lists the (platform, asset, feed) of each column
    price_tk : (T, K) USD, what each platform read on its first asset (with
        one asset per platform: the price it read)
    count_tk : (T, K) int, accounts liquidated per step and platform
    notional_tk : (T, K) USD, collateral sold per step and platform, at the market price
    repaid_tk : (T, K) USD, debt repaid
    bad_debt_tk : (T, K) USD, bad debt written off
    events : dict of arrays, one entry per lending liquidation, keys
        EVENT_FIELDS (``t``, ``platform``, ``account``, ``asset``,
        ``seized_units``, ``repaid_usd``, ``bad_debt_usd``, ``oracle_price``),
        in step, platform, processing order
    events_by_kind : dict, for other engine kinds, ``{kind: {field: array}}``
    waiting_tk : (T, K) int, accounts liquidatable but not liquidated at each step
    collateral_k, debt_k : tuples of (n_accounts,) arrays, balances at the end
        (lending platforms; None for other kinds)
    engine_outputs : tuple of dicts, each engine's own outputs (``finish()``)
    measures : Measures
    """

    world: object
    x_ta: np.ndarray
    kappa_ta: np.ndarray
    market_ta: np.ndarray
    flow_ta: np.ndarray
    venue_tv: np.ndarray
    raw_tj: np.ndarray
    oracle_tj: np.ndarray
    read_tr: np.ndarray
    reads: tuple
    count_tk: np.ndarray
    notional_tk: np.ndarray
    repaid_tk: np.ndarray
    bad_debt_tk: np.ndarray
    events: dict
    collateral_k: tuple
    debt_k: tuple
    events_by_kind: dict = field(default_factory=dict)
    waiting_tk: np.ndarray = None
    engine_outputs: tuple = ()
    measures: _m.Measures = field(init=False)

    @classmethod
    def from_run(cls, world, kappa_ta, market_ta, venue_tv, feeds, record, engines):
        """The Result of :func:`coupling_lab.loop.run`, from its state at the end of the loop."""
        return cls.from_arrays(
            world, kappa_ta=kappa_ta, market_ta=market_ta, flow_ta=record.flow_ta, venue_tv=venue_tv,
            raw_tj=feeds.raw_tj, oracle_tj=feeds.price_tj, read_rows=record.reads, count_tk=record.count_tk,
            notional_tk=record.notional_tk, repaid_tk=record.repaid_tk, bad_debt_tk=record.bad_tk,
            events=record.log.arrays(),
            collateral_k=tuple(getattr(e, "collateral", None) for e in engines),
            debt_k=tuple(getattr(e, "debt", None) for e in engines),
            events_by_kind=record.other_events(), waiting_tk=record.waiting_tk,
            engine_outputs=tuple(e.finish() for e in engines))

    @classmethod
    def from_arrays(cls, world, *, oracle_tj, read_rows, **series):
        """A Result from a run's arrays (both step loops end here).

        ``read_rows`` maps a platform with read-side guards to its (T, slots)
        reads; every other platform read its feeds as published.
        """
        reads, cols = [], []
        for k in range(world.n_platforms):
            rows = read_rows.get(k)
            for slot, (j, a) in enumerate(zip(world.feeds_of(k), world.assets_of(k))):
                reads.append((k, a, j))
                cols.append(oracle_tj[:, j] if rows is None else rows[:, slot])
        return cls(world=world, x_ta=world.paths_ta, oracle_tj=oracle_tj, read_tr=np.column_stack(cols),
                   reads=tuple(reads), **series)

    def __post_init__(self):
        w = self.world
        first = [next(r for r, (k, _, _) in enumerate(self.reads) if k == kk) for kk in range(w.n_platforms)]
        self.price_tk = self.read_tr[:, first]
        self.measures = measures_of(w, self.price_tk, self.notional_tk, self.bad_debt_tk, self.kappa_ta, self.x_ta,
                                    self.flow_ta)

    # --- v1 names: asset 0 -------------------------------------------------
    x_t = property(lambda self: self.x_ta[:, 0], doc="(T,) log USD, asset 0's fundamental path")
    kappa_t = property(lambda self: self.kappa_ta[:, 0], doc="(T,) log units, asset 0's impact state")
    market_t = property(lambda self: self.market_ta[:, 0], doc="(T,) USD, asset 0's market price")

    @property
    def n_steps(self):
        return self.x_ta.shape[0]

    @property
    def n_assets(self):
        return self.x_ta.shape[1]

    @property
    def bad_debt_k(self):
        """(K,) USD, bad debt per platform."""
        return self.bad_debt_tk.sum(axis=0)

    @property
    def return_correlation(self):
        """(A, A): correlation of the assets' per-step fundamental log returns (a property of the path)."""
        return _m.return_correlation(self.x_ta)

    def platforms_on(self, asset=None, feed=None):
        """Platforms that read asset ``asset`` and/or feed ``feed`` (sorted tuple)."""
        out = set(range(self.world.n_platforms))
        if asset is not None:
            out &= {k for k, a, _ in self.reads if a == asset}
        if feed is not None:
            out &= {k for k, _, j in self.reads if j == feed}
        return tuple(sorted(out))

    def synchrony(self, asset=None, feed=None):
        """Liquidation synchrony restricted to the platforms on one asset and/or one feed (MODEL.md §11).

        With ``asset`` given, each platform's series is its notional sold of
        that asset (from the event log); otherwise its whole notional. NaN
        when fewer than two of those platforms liquidate.
        """
        ks = list(self.platforms_on(asset, feed))
        if asset is None:
            q = self.notional_tk[:, ks]
        else:
            ev = self.events
            sel = ev["asset"] == asset
            q_all = np.zeros_like(self.notional_tk)
            np.add.at(q_all, (ev["t"][sel], ev["platform"][sel]),
                      ev["seized_units"][sel] * self.market_ta[ev["t"][sel], asset])
            q = q_all[:, ks]
        return _m.liquidation_synchrony(q, self.world.sync_window) if len(ks) else float("nan")

    def events_frame(self):
        """The event log as a pandas DataFrame, one row per liquidation (columns EVENT_FIELDS)."""
        import pandas as pd

        return pd.DataFrame({k: self.events[k] for k in EVENT_FIELDS})

    def series_frame(self):
        """Every per-step series in tidy long form, for pandas users.

        Columns: ``step``, ``kind`` ("asset", "feed", "platform" or
        "read"), ``index`` (the asset, feed, platform or read index),
        ``quantity`` (e.g. "market", "kappa", "flow", "published", "count",
        "notional"), ``value``.
        """
        import pandas as pd

        T = self.n_steps
        blocks = []

        def add(kind, quantity, arr):
            arr = np.asarray(arr, dtype=float)
            n = arr.shape[1]
            blocks.append(pd.DataFrame({
                "step": np.repeat(np.arange(T), n), "kind": kind, "index": np.tile(np.arange(n), T),
                "quantity": quantity, "value": arr.reshape(-1)}))

        add("asset", "fundamental", np.exp(self.x_ta))
        add("asset", "market", self.market_ta)
        add("asset", "kappa", self.kappa_ta)
        add("asset", "flow", self.flow_ta)
        add("feed", "raw", self.raw_tj)
        add("feed", "published", self.oracle_tj)
        add("read", "read", self.read_tr)
        add("platform", "count", self.count_tk)
        add("platform", "notional", self.notional_tk)
        add("platform", "repaid", self.repaid_tk)
        add("platform", "bad_debt", self.bad_debt_tk)
        out = pd.concat(blocks, ignore_index=True)
        out["kind"] = out["kind"].astype("category")
        out["quantity"] = out["quantity"].astype("category")
        return out

    def __repr__(self):
        m = self.measures
        return (f"Result(n_steps={self.n_steps}, n_assets={self.n_assets}, n_platforms={self.world.n_platforms}, "
                f"liquidations={self.events['t'].size}, synchrony={m.synchrony:.3f}, "
                f"twin_dispersion={m.twin_dispersion:.2f} steps over {m.twin_count}, "
                f"peak_flow_share={m.peak_flow_share:.3f}, excess_drawdown={m.excess_drawdown:.4f}, "
                f"bad_debt={m.bad_debt:,.0f} USD)")
