r"""The perp venue (:class:`coupling_lab.perps.PerpEngine`) as numba functions, bit for bit.

:class:`~coupling_lab.perps.PerpEngine` keeps Python objects (lists, dicts,
tuples of sorted arrays) and pays a fixed Python cost per step. Here the same
venue is a tuple of NumPy arrays (:func:`perp_state`, built from a
constructed engine: its unit layout is reused as is) and one step is
:func:`_perp_step`, a numba function another numba function can call (the
compiled step loop calls it once per perp venue per step).

**Same numbers.** Every block does the reference's floating-point operations
in the reference's order: the products over assets as ``perps._dot`` sums
them (``Q[:, 0] x_0 + Q[:, 1] x_1 + ...``), NumPy's pairwise sums
(:func:`coupling_lab.compiled._pairwise_sum`) wherever the reference calls
``.sum()`` on a vector, the same tie groups of margin ratios and ADL scores
(``perps._tie_groups``), the same binary searches (``side="left"`` on the
liquidation-price keys, ``"right"`` on the group's screening keys), the same
stable sorts, dirty list and regroup thresholds. Tested against the engine on
random books and the lessons' venues (tests/test_compiled_perps.py).

**Limits.** Nothing of the engine is left out (:func:`supports_perp` only
refuses what is not a perp venue, or a book too large for the packed sort
keys, above about 3e8 accounts). Marks of 0 are covered (a zero requirement:
margin ratio ``-inf``; the group's screen is then never referenced), NaN
marks or market prices are not: the world never produces them (prices are
exponentials, oracle overrides multiply by a factor > 0), and the two paths
would handle a NaN differently in ``max`` and ``searchsorted``.

**The throttle** (keeper outages and the circuit breaker,
``protections.Throttle.capacity``) is compiled too: :func:`throttle_state`
and :func:`_perp_capacity`.

Calling it from a numba loop (tests/test_compiled_perps.py runs this with three venues)::

    # Python, once per venue k (a constructed, not yet stepped PerpEngine):
    states = tuple(perp_state(e) for e in engines)      # same array types: a homogeneous tuple
    ths = tuple(throttle_state(e) for e in engines)
    logs = numba.typed.List([new_log() for e in engines])
    rows = np.zeros((K, T, N_SERIES)); flows = np.zeros((K, T, S)); fills = np.zeros((K, T, N_FILL))
    # inside the njit loop, step t, venue k: P the marks it read (S,), f the market prices of its assets (S,)
    cap = _perp_capacity(ths[k], t, P, keeper_cap) if ths[k][0][TH_ACTIVE] else keeper_cap   # -1: unlimited
    logs[k] = _perp_step(states[k], logs[k], t, P, f, cap, rows[k], flows[k], fills[k, t])
    # fills[k, t, FILL_RETURNED] == 0: the engine's step returned None; else Fills(count, gross notional,
    # fees, bad debt, flows[k, t] (the nonzero entries), events = log rows FILL_EV0 .. FILL_EV0 + count,
    # waiting). Python, after the loop:
    out_k = perp_finish(states[k], logs[k], rows[k], flows[k])       # == PerpEngine.finish()
    fills_k = perp_fills(logs[k], fills[k], flows[k], engines[k].assets)   # == what each step returned

``_perp_capacity`` must be asked every step when the throttle is active (the
circuit breaker watches the reads), as ``PerpEngine.step`` asks it.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._numba import _pairwise_sum
from .perps import _SERIES, _INT_SERIES, _dot

__all__ = ["perp_state", "new_log", "throttle_state", "supports_perp", "perp_finish", "perp_events", "perp_fills",
           "run_perp_kernel", "N_SERIES", "N_FILL"]

_EPS = 1e-9          # perps._EPS
_REGROUP_DIV = 16    # perps.REGROUP_DIV
N_SERIES = len(_SERIES)

# sf: the engine's float scalars
SF_FUND, SF_BBAL, SF_HCASH, SF_BAD, SF_PHI, SF_INIT, SF_IDLE = range(7)
# si: its int scalars
SI_STARTED, SI_HEDGED, SI_NDIRTY, SI_GN, SI_REFPOS, SI_REGROUP_AT, SI_ADL, SI_NACC, SI_SPAN = range(9)
# fill: what the step's Fills carries
FILL_RETURNED, FILL_COUNT, FILL_GROSS, FILL_FEES, FILL_BAD, FILL_WAITING, FILL_EV0 = range(7)
N_FILL = 7
# log[4] (counters): events, ADL entries
# ev_i columns: t, account, asset, isolated; ev_f columns: the perp event fields below
EV_F = ("margin_ratio", "notional_usd", "equity_after_usd", "fee_usd", "fund_paid_usd", "shortfall_usd",
        "bad_debt_usd")
# throttle th_i: active, has breaker, window, pause, paused_until, history length, paused steps
TH_ACTIVE, TH_BREAKER, TH_WINDOW, TH_PAUSE, TH_PAUSED_UNTIL, TH_HN, TH_PAUSED_STEPS = range(7)


# ---------------------------------------------------------------------------------------- Python side
def supports_perp(engine_or_params, book=None):
    """``None`` when the compiled venue reproduces this engine, else the reason it does not (a sentence)."""
    from .perps import PerpEngine, PerpParams

    p = engine_or_params.params if isinstance(engine_or_params, PerpEngine) else engine_or_params
    if not isinstance(p, PerpParams):
        return f"the platform is not a perp venue (got {type(p).__name__})"
    if book is not None or isinstance(engine_or_params, PerpEngine):
        n = engine_or_params.n_accounts if book is None else book.n_accounts
        # tie-break keys pack (tie group, account, asset) into one int64
        if float(n) * float(n) * 64.0 > 9e18:
            return f"the venue has too many accounts ({n}) for the packed sort keys"
    return None


def perp_state(engine):
    """The arrays of a constructed (not yet stepped) :class:`~coupling_lab.perps.PerpEngine`, as a tuple.

    ``(Q, base, bal0, u_acc, u_iso, u_asset, mmr, assets, open, in_single, in_group, is_dirty, dirty,
    sg_idx, sg_key, sg_nh, g_idx, g_z, P_ref, P_prev, P0, b_q, h_units, sf, si, wi, wf, ws_i, ws_f)``:
    the engine's units and balances, its index structures (singles sorted by liquidation price,
    rows ``2s`` longs and ``2s + 1`` shorts of slot ``s``; the screened group), the backstop and
    its hedge, scalars ``sf``/``si`` (see ``SF_*``, ``SI_*``) and work space.
    """
    if engine.P_prev is not None:
        raise ValueError("engine must not have been stepped yet (perp_state copies its initial state)")
    U, S = engine.Q.shape
    span = max(engine.assets) + 2 if S else 2
    sf = np.zeros(7)
    sf[SF_FUND], sf[SF_PHI] = engine.fund, engine.params.phi
    sf[SF_INIT], sf[SF_IDLE] = engine.initial_cash, engine.idle_cash
    si = np.zeros(9, np.int64)
    si[SI_ADL] = engine.params.loss_rule == "adl"
    si[SI_NACC], si[SI_SPAN] = engine.n_accounts, span
    Q = np.ascontiguousarray(engine.Q, dtype=float).copy()
    return (Q, np.zeros(U), engine.bal0.astype(float).copy(), engine.u_acc.astype(np.int64).copy(),
            engine.u_iso.astype(np.bool_).copy(), engine.u_asset.astype(np.int64).copy(),
            engine.mmr.astype(float).copy(), np.array(engine.assets, dtype=np.int64),
            np.zeros(U, np.bool_), np.zeros(U, np.bool_), np.zeros(U, np.bool_), np.zeros(U, np.bool_),
            np.zeros(U, np.int64),
            np.zeros((2 * S, U), np.int64), np.zeros((2 * S, U)), np.zeros((2 * S, 2), np.int64),
            np.zeros(U, np.int64), np.zeros(U), np.zeros(S), np.zeros(S), np.zeros(S),
            engine.b_q.astype(float).copy(), engine.h_units.astype(float).copy(), sf, si,
            np.empty((4, max(U * S, 1)), np.int64), np.empty((4, max(U * S, 1))),
            np.empty((3, 64), np.int64), np.empty(64))


def new_log(cap=256):
    """Empty growable logs ``(ev_i, ev_f, adl_i, adl_f, counts)``: events (t, account, asset, isolated | the
    fields of ``EV_F``), ADL entries (t, account, asset | units, usd), ``counts = [n_events, n_adl]``."""
    return (np.zeros((cap, 4), np.int64), np.zeros((cap, len(EV_F))), np.zeros((cap, 3), np.int64),
            np.zeros((cap, 2)), np.zeros(2, np.int64))


def throttle_state(engine):
    """``(th_i, th_f, hist, outages)`` of the engine's ``protections.Throttle`` (keeper outages, breaker)."""
    th = engine.throttle
    S = len(engine.assets)
    b = th.breaker
    th_i = np.zeros(7, np.int64)
    th_i[TH_ACTIVE] = th.active
    th_i[TH_PAUSED_UNTIL] = th.paused_until
    th_f = np.zeros(1)
    if b is not None:
        th_i[TH_BREAKER], th_i[TH_WINDOW], th_i[TH_PAUSE] = 1, b.window, b.pause
        th_f[0] = b.drop
    hist = np.zeros((max(1, th_i[TH_WINDOW]), max(S, 1)))
    outages = np.array(th.outages, dtype=np.int64).reshape(len(th.outages), 2)
    return th_i, th_f, hist, outages


def perp_events(log, assets=None):
    """The logged events as one dict of arrays (``t`` and the fields of a perp event piece, ``mode`` as text)."""
    ev_i, ev_f, _, _, n = log
    k = int(n[0])
    out = {"t": ev_i[:k, 0].copy(), "account": ev_i[:k, 1].copy(), "asset": ev_i[:k, 2].copy(),
           "mode": np.where(ev_i[:k, 3] != 0, "isolated", "cross")}
    for c, name in enumerate(EV_F):
        out[name] = ev_f[:k, c].copy()
    return out


def perp_fills(log, fills_t, flows_tS, assets):
    """What ``PerpEngine.step`` returned at each step: a list of ``Fills`` (events as the engine's dict of
    arrays) or None, from the kernel's log, ``fills_t`` (T, N_FILL) and flows (T, S)."""
    from .engines import Fills

    ev_i, ev_f = log[0], log[1]
    assets = tuple(int(a) for a in assets)
    out = []
    for t in range(fills_t.shape[0]):
        row = fills_t[t]
        if not row[FILL_RETURNED]:
            out.append(None)
            continue
        n, waiting = int(row[FILL_COUNT]), int(row[FILL_WAITING])
        if n == 0:
            out.append(Fills(0, 0.0, 0.0, 0.0, (), None, waiting))
            continue
        lo = int(row[FILL_EV0])
        sl = slice(lo, lo + n)
        events = {"kind": "perp", "account": ev_i[sl, 1].copy(), "asset": ev_i[sl, 2].copy(),
                  "mode": np.where(ev_i[sl, 3] != 0, "isolated", "cross")}
        for c, name in enumerate(EV_F):
            events[name] = ev_f[sl, c].copy()
        flows = tuple((assets[s], float(flows_tS[t, s])) for s in range(len(assets)) if flows_tS[t, s] != 0.0)
        out.append(Fills(n, float(row[FILL_GROSS]), float(row[FILL_FEES]), float(row[FILL_BAD]), flows, events,
                         waiting))
    return out


def perp_finish(st, log, rows, flow):
    """What ``PerpEngine.finish()`` returns, from the kernel's state, logs, rows ``(T, N_SERIES)`` and flows."""
    Q, base, u_acc, assets, P_prev, b_q, h_units, sf, si = (st[0], st[1], st[3], st[7], st[19], st[21], st[22],
                                                            st[23], st[24])
    out = {name: (rows[:, c].astype(np.int64) if name in _INT_SERIES else rows[:, c].copy())
           for c, name in enumerate(_SERIES)}
    out["flow"] = np.array(flow, dtype=float).copy()
    _, _, adl_i, adl_f, n = log
    k = int(n[1])
    cols = (("t", adl_i[:k, 0]), ("account", adl_i[:k, 1]), ("asset", adl_i[:k, 2]), ("units", adl_f[:k, 0]),
            ("usd", adl_f[:k, 1]))
    # np.array of the engine's empty lists is float64
    out["adl_events"] = {name: (v.copy() if k else np.array([])) for name, v in cols}
    if not si[SI_STARTED]:
        return out
    n_acc = int(si[SI_NACC])
    bal_u = base + _dot(Q, P_prev)                 # PerpEngine.balance(arange(U), P)
    bal = np.bincount(u_acc, weights=bal_u, minlength=n_acc)
    pos = np.zeros((n_acc, assets.size))
    np.add.at(pos, u_acc, Q)
    out.update(balance=bal, position=pos, assets=tuple(int(a) for a in assets), backstop_position=b_q.copy(),
               backstop_balance=float(sf[SF_BBAL]), fund_final=float(sf[SF_FUND]), bad_debt_total=float(sf[SF_BAD]),
               initial_cash=float(sf[SF_INIT]), idle_cash=float(sf[SF_IDLE]),
               hedge_units=h_units.copy(), hedge_cash=float(sf[SF_HCASH]))
    return out


# ---------------------------------------------------------------------------------------- numba side
@njit(cache=True)
def _grow2(a, n):
    """``a`` with at least ``n`` rows (doubling), the first rows kept."""
    out = np.zeros((max(2 * a.shape[0], n), a.shape[1]), a.dtype)
    out[:a.shape[0]] = a
    return out


@njit(cache=True, inline="always")
def _rowdot(Q, u, x):
    """``perps._dot(Q[u], x)``: ``Q[u, 0] x_0 + Q[u, 1] x_1 + ...`` in order."""
    r = Q[u, 0] * x[0]
    for s in range(1, x.shape[0]):
        r = r + Q[u, s] * x[s]
    return r


@njit(cache=True, inline="always")
def _rowdot_abs(Q, u, x):
    """``perps._dot(np.abs(Q[u]), x)``."""
    r = abs(Q[u, 0]) * x[0]
    for s in range(1, x.shape[0]):
        r = r + abs(Q[u, s]) * x[s]
    return r


@njit(cache=True)
def _psum(a, n, ws_i, ws_f):
    """``a[:n].sum()`` as NumPy sums it (pairwise)."""
    if n == 0:
        return 0.0
    return _pairwise_sum(a, 0, n, ws_i, ws_f)


@njit(cache=True)
def _search_left(key, n, v):
    """``key[:n].searchsorted(v, side="left")``: how many keys are < v."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) >> 1
        if key[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _search_right(key, n, v):
    """``key[:n].searchsorted(v, side="right")``: how many keys are <= v."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) >> 1
        if key[mid] <= v:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _tie_order(val, acc, asset, n, span_acc, span_asset):
    """``np.lexsort((asset, acc, perps._tie_groups(val)))`` of the first ``n`` entries."""
    v = val[:n].copy()
    o = np.argsort(v, kind="mergesort")
    g = np.empty(n, np.int64)
    gid = 0
    for i in range(n):                       # _tie_groups: a new group where the sorted gap exceeds 1e-9 relative
        if i > 0:
            a, b = v[o[i]], v[o[i - 1]]
            if (a - b) > 1e-9 * (abs(a) + abs(b)):
                gid += 1
        g[o[i]] = gid
    key = np.empty(n, np.int64)              # (group, account, asset) packed: unique per unit, so any sort will do
    for i in range(n):
        key[i] = (g[i] * span_acc + acc[i]) * span_asset + (asset[i] + 1)
    return np.argsort(key, kind="mergesort")


@njit(cache=True)
def _rebuild_group(st, P, members, m):
    """``PerpEngine._rebuild_group(P, members[:m])``."""
    (Q, base, bal0, u_acc, u_iso, u_asset, mmr, assets, open_, in_single, in_group, is_dirty, dirty,
     sg_idx, sg_key, sg_nh, g_idx, g_z, P_ref, P_prev, P0, b_q, h_units, sf, si, wi, wf, ws_i, ws_f) = st
    U, S = Q.shape
    in_group[:] = False
    for j in range(m):
        in_group[members[j]] = True
    si[SI_NDIRTY] = 0
    is_dirty[:] = False
    P_ref[:] = P
    pos = 1
    for s in range(S):
        if not P[s] > 0:
            pos = 0
    si[SI_REFPOS] = pos
    si[SI_REGROUP_AT] = max(64, m // _REGROUP_DIV)
    si[SI_GN] = m
    if m == 0:
        return
    mP = mmr * P
    z = np.empty(m)
    for j in range(m):
        u = members[j]
        slack = base[u] + _rowdot(Q, u, P) - _rowdot_abs(Q, u, mP)
        w = abs(Q[u, 0] - mmr[0] * abs(Q[u, 0])) * P[0]
        for s in range(1, S):
            w = w + abs(Q[u, s] - mmr[s] * abs(Q[u, s])) * P[s]
        if w > 0:
            z[j] = slack / w
        elif slack > 0:
            z[j] = np.inf
        else:
            z[j] = -np.inf
    o = np.argsort(z, kind="mergesort")
    for j in range(m):
        g_idx[j] = members[o[j]]
        g_z[j] = z[o[j]]


@njit(cache=True)
def _rebuild(st, P):
    """``PerpEngine._rebuild(P)``: singles sorted by liquidation price, the others screened."""
    (Q, base, bal0, u_acc, u_iso, u_asset, mmr, assets, open_, in_single, in_group, is_dirty, dirty,
     sg_idx, sg_key, sg_nh, g_idx, g_z, P_ref, P_prev, P0, b_q, h_units, sf, si, wi, wf, ws_i, ws_f) = st
    U, S = Q.shape
    slot = wi[0]
    members = wi[1]
    m = 0
    for u in range(U):
        npos, first = 0, 0
        for s in range(S):
            if Q[u, s] != 0:
                if npos == 0:
                    first = s
                npos += 1
        open_[u] = npos > 0
        in_single[u] = npos == 1
        slot[u] = first if npos == 1 else -1
        if npos > 1:                             # open & ~single
            members[m] = u
            m += 1
    for s in range(S):
        mm = mmr[s]
        for side in range(2):
            r = 2 * s + side
            n = 0
            for u in range(U):
                if slot[u] == s and ((Q[u, s] > 0) if side == 0 else (Q[u, s] < 0)):
                    sg_idx[r, n] = u
                    if side == 0:
                        sg_key[r, n] = base[u] / (Q[u, s] * (1.0 - mm))     # -thr of a long
                    else:
                        sg_key[r, n] = base[u] / (-Q[u, s] * (1.0 + mm))    # thr of a short
                    n += 1
            o = np.argsort(sg_key[r, :n], kind="mergesort")
            idx = sg_idx[r, :n].copy()
            key = sg_key[r, :n].copy()
            for j in range(n):
                sg_idx[r, j] = idx[o[j]]
                sg_key[r, j] = key[o[j]]
            sg_nh[r, 0], sg_nh[r, 1] = n, 0
    _rebuild_group(st, P, members, m)


@njit(cache=True)
def _touch(st, units, n):
    """``PerpEngine._touch(units[:n])``."""
    open_, in_single, in_group, is_dirty, dirty, si = st[8], st[9], st[10], st[11], st[12], st[24]
    for j in range(n):
        u = units[j]
        in_single[u] = False
        in_group[u] = False
        if open_[u] and not is_dirty[u]:
            is_dirty[u] = True
            dirty[si[SI_NDIRTY]] = u
            si[SI_NDIRTY] += 1


@njit(cache=True)
def _adl(st, log, t, S_t, side_flag, P, res):
    """``PerpEngine._adl``: returns the log (grown); ``res`` gets (covered, n_cut, usd)."""
    (Q, base, bal0, u_acc, u_iso, u_asset, mmr, assets, open_, in_single, in_group, is_dirty, dirty,
     sg_idx, sg_key, sg_nh, g_idx, g_z, P_ref, P_prev, P0, b_q, h_units, sf, si, wi, wf, ws_i, ws_f) = st
    U, S = Q.shape
    e_unit, e_slot, e_acc, e_asset = wi[0], wi[1], wi[2], wi[3]
    e_u, e_sc = wf[0], wf[1]
    ne = 0
    for s in range(S):                            # sorted(sides): slot, then sign -1 before +1
        for k in range(2):
            if not side_flag[s, k]:
                continue
            sign = -1.0 if k == 0 else 1.0
            for uu in range(U):                   # opp = flatnonzero(col * sign < 0)
                q = Q[uu, s]
                if not q * sign < 0:
                    continue
                u = q * (P[s] - P0[s])
                M = base[uu] + _rowdot(Q, uu, P)
                if u > 0 and M > 0:
                    e_unit[ne], e_slot[ne], e_u[ne] = uu, s, u
                    e_sc[ne] = -((u / M) * (abs(q) * P[s] / M))    # ranked by -score
                    e_acc[ne], e_asset[ne] = u_acc[uu], assets[s]
                    ne += 1
    if ne == 0:
        res[0], res[1], res[2] = 0.0, 0.0, 0.0
        return log
    order = _tie_order(e_sc, e_acc, e_asset, ne, si[SI_NACC], si[SI_SPAN])
    ev_i, ev_f, adl_i, adl_f, cnt = log
    rem = S_t
    n_cut, usd = 0, 0.0
    touched = np.empty(ne, np.int64)
    for j in range(ne):
        if rem <= 0.0:
            break
        o = order[j]
        uu, s, u = e_unit[o], e_slot[o], e_u[o]
        Mcur = base[uu] + _rowdot(Q, uu, P)
        x = min(rem, u, Mcur)
        if x <= 0.0:
            continue
        frac = x / u
        dq = Q[uu, s] * frac if frac < 1.0 else Q[uu, s]
        Q[uu, s] -= dq
        b_q[s] += dq
        Mnew = Mcur - x
        base[uu] = Mnew - _rowdot(Q, uu, P)
        rem -= x
        touched[n_cut] = uu
        n_cut += 1
        usd += abs(dq) * P[s]
        na = cnt[1]
        if na >= adl_i.shape[0]:
            adl_i = _grow2(adl_i, na + 1)
            adl_f = _grow2(adl_f, na + 1)
        adl_i[na, 0], adl_i[na, 1], adl_i[na, 2] = t, u_acc[uu], assets[s]
        adl_f[na, 0], adl_f[na, 1] = dq, abs(dq) * P[s]
        cnt[1] = na + 1
        flat = True
        for s2 in range(S):
            if Q[uu, s2] != 0:
                flat = False
        if flat:
            open_[uu] = False
    _touch(st, touched, n_cut)
    res[0] = S_t - rem if rem > 0 else S_t
    res[1], res[2] = n_cut, usd
    return (ev_i, ev_f, adl_i, adl_f, cnt)


@njit(cache=True)
def _haircut(st, S_t, dP, vb, res):
    """``PerpEngine._haircut``: ``res`` gets (covered, h)."""
    Q, base, sf, wi, wf, ws_i, ws_f = st[0], st[1], st[23], st[25], st[26], st[27], st[28]
    U = Q.shape[0]
    win, vw = wi[0], wf[0]
    nw = 0
    for u in range(U):                             # v = Q @ dP; win = v > 0
        v = _rowdot(Q, u, dP)
        if v > 0:
            win[nw], vw[nw] = u, v
            nw += 1
    G = _psum(vw, nw, ws_i, ws_f) + (vb if vb > 0 else 0.0)
    if G <= 0.0:
        res[0], res[1] = 0.0, 1.0
        return
    h = min(1.0, S_t / G)
    for j in range(nw):
        base[win[j]] -= h * vw[j]
    if vb > 0:
        sf[SF_BBAL] -= h * vb
    res[0], res[1] = h * G, h


@njit(cache=True)
def _perp_step(st, log, t, P, f, cap, rows, flows, fill):
    """``PerpEngine.step(t, P, market)`` at marks ``P`` (S,), market prices ``f`` (S,), keeper capacity
    ``cap`` (-1: unlimited). Writes ``rows[t]`` (the ``_SERIES`` row), ``flows[t]`` (the spot hedge's flow
    per slot, USD, sales > 0) and ``fill`` (``FILL_*``: what ``Fills`` carries; ``FILL_RETURNED`` 0 when
    the step returns None); appends the step's events and ADL entries to ``log``; returns ``log``
    (its arrays may have grown)."""
    (Q, base, bal0, u_acc, u_iso, u_asset, mmr, assets, open_, in_single, in_group, is_dirty, dirty,
     sg_idx, sg_key, sg_nh, g_idx, g_z, P_ref, P_prev, P0, b_q, h_units, sf, si, wi, wf, ws_i, ws_f) = st
    U, S = Q.shape
    fill[:] = 0.0
    fill[FILL_EV0] = log[4][0]
    if si[SI_STARTED] == 0:                        # first step: positions entered at P_0
        for u in range(U):
            base[u] = bal0[u] - _rowdot(Q, u, P)
        P_prev[:] = P
        P0[:] = P
        si[SI_STARTED] = 1
        _rebuild(st, P)
    dP = P - P_prev
    vb = b_q[0] * dP[0]                             # 1. variation margin of the backstop
    for s in range(1, S):
        vb = vb + b_q[s] * dP[s]
    sf[SF_BBAL] += vb
    # 2. maintenance: _candidates (singles by liquidation price, long then short per slot; the group; dirty)
    cand = wi[0]
    nc = 0
    for s in range(S):
        p = P[s]
        for side in range(2):
            r = 2 * s + side
            n_r, h = sg_nh[r, 0], sg_nh[r, 1]
            thr = -p * (1.0 - _EPS) if side == 0 else p * (1.0 + _EPS)
            k = _search_left(sg_key[r], n_r, thr)
            if k > h:
                first = -1
                for j in range(h, k):
                    u = sg_idx[r, j]
                    if in_single[u]:
                        if first < 0:
                            first = j - h
                        cand[nc] = u
                        nc += 1
                sg_nh[r, 1] = h + (first if first >= 0 else k - h)
    n_group = 0
    gn = si[SI_GN]
    if gn:
        if si[SI_REFPOS]:
            R = abs(P[0] / P_ref[0] - 1.0)
            for s in range(1, S):
                R = max(R, abs(P[s] / P_ref[s] - 1.0))
        else:
            R = np.inf
        k = _search_right(g_z, gn, R * (1.0 + _EPS) + 1e-15)
        for j in range(k):
            u = g_idx[j]
            if in_group[u]:
                cand[nc] = u
                nc += 1
                n_group += 1
    for j in range(si[SI_NDIRTY]):
        u = dirty[j]
        if open_[u]:
            cand[nc] = u
            nc += 1
    # the candidates tested exactly; the liquidatable ones ordered by (ratio tie group, account, asset)
    liq0, l_acc, l_asset = wi[1], wi[2], wi[3]
    l_ratio = wf[0]
    mP = mmr * P
    nl = 0
    for j in range(nc):
        u = cand[j]
        M = base[u] + _rowdot(Q, u, P)
        req = _rowdot_abs(Q, u, mP)
        if M < req:
            liq0[nl] = u
            l_ratio[nl] = M / req if req > 0 else -np.inf
            l_acc[nl], l_asset[nl] = u_acc[u], u_asset[u]
            nl += 1
    if nl:
        order = _tie_order(l_ratio, l_acc, l_asset, nl, si[SI_NACC], si[SI_SPAN])
    else:
        order = np.empty(0, np.int64)
    waiting = 0
    if cap >= 0 and nl > cap:
        waiting = nl - cap
        nl = cap
    regroup = n_group > si[SI_REGROUP_AT] + 4 * nl
    shortfall = covered = bad = hh = 0.0
    adl_n, adl_usd = 0, 0.0
    cnt_c = cnt_i = 0
    loss_c = loss_i = bad_c = bad_i = 0.0
    gross = fees = 0.0
    res = np.zeros(3)
    if nl:
        # 3. _liquidate: close at market, the fund in processing order, the backstop takes over and hedges
        liq = np.empty(nl, np.int64)
        ratio = np.empty(nl)
        for n in range(nl):
            liq[n] = liq0[order[n]]
            ratio[n] = l_ratio[order[n]]
        E = np.empty(nl)
        fee = np.empty(nl)
        notional = np.empty(nl)
        close = np.empty(nl)
        paid = np.zeros(nl)
        deficit = np.zeros(nl)
        fmP = f - P
        side_flag = np.zeros((S, 2), np.bool_)
        net_q = np.empty(S)
        col = wf[1]
        for s in range(S):                          # net_q = _colsum(Qc): one pairwise sum per column
            for n in range(nl):
                col[n] = Q[liq[n], s]
            net_q[s] = _psum(col, nl, ws_i, ws_f)
        F = sf[SF_FUND]
        for n in range(nl):
            u = liq[n]
            M = base[u] + _rowdot(Q, u, P)
            close[n] = _rowdot(Q, u, fmP)
            E[n] = M + close[n]
            notional[n] = _rowdot_abs(Q, u, f)
            fee[n] = min(sf[SF_PHI] * notional[n], max(E[n], 0.0))
            e = E[n]
            if e < 0.0:                             # the fund, in processing order
                pp = min(F, -e)
                F -= pp
                paid[n] = pp
                deficit[n] = -e - pp
                if deficit[n] > 0:                  # sides of a bankruptcy the fund did not pay in full
                    for s in range(S):
                        if Q[u, s] != 0:
                            side_flag[s, 1 if Q[u, s] > 0 else 0] = True
            else:
                F += fee[n]
        sf[SF_FUND] = F
        for s in range(S):
            b_q[s] += net_q[s]                      # the backstop takes the positions over ...
        sf[SF_BBAL] -= _psum(close, nl, ws_i, ws_f)  # ... paying the close-out difference
        flow = np.empty(S)
        for s in range(S):
            h_units[s] -= net_q[s]                  # ... and hedges in spot at m^a_t
            flow[s] = net_q[s] * f[s]
        si[SI_HEDGED] = 1
        sf[SF_HCASH] += _psum(flow, S, ws_i, ws_f)
        for n in range(nl):
            u = liq[n]
            for s in range(S):
                Q[u, s] = 0.0
            base[u] = -deficit[n] if E[n] < 0.0 else E[n] - fee[n]
            open_[u] = False
            in_single[u] = False
            in_group[u] = False
        shortfall = _psum(deficit, nl, ws_i, ws_f)
        # the step's events
        ev_i, ev_f, adl_i, adl_f, lc = log
        ne0 = lc[0]
        if ne0 + nl > ev_i.shape[0]:
            ev_i = _grow2(ev_i, ne0 + nl)
            ev_f = _grow2(ev_f, ne0 + nl)
        for n in range(nl):
            u = liq[n]
            r = ne0 + n
            ev_i[r, 0], ev_i[r, 1], ev_i[r, 2], ev_i[r, 3] = t, u_acc[u], u_asset[u], u_iso[u]
            ev_f[r, 0], ev_f[r, 1], ev_f[r, 2], ev_f[r, 3] = ratio[n], notional[n], E[n], fee[n]
            ev_f[r, 4], ev_f[r, 5], ev_f[r, 6] = paid[n], deficit[n], 0.0
        lc[0] = ne0 + nl
        log = (ev_i, ev_f, adl_i, adl_f, lc)
        # counts and losses by margin mode (the step's row)
        lc_buf, li_buf = wf[2], wf[3]
        for n in range(nl):
            lv = max(-E[n], 0.0)
            if u_iso[liq[n]]:
                li_buf[cnt_i] = lv
                cnt_i += 1
            else:
                lc_buf[cnt_c] = lv
                cnt_c += 1
        loss_c = _psum(lc_buf, cnt_c, ws_i, ws_f)
        loss_i = _psum(li_buf, cnt_i, ws_i, ws_f)
        if shortfall > 0:                           # 4. the loss rule
            if si[SI_ADL]:
                log = _adl(st, log, t, shortfall, side_flag, P, res)
                covered, adl_n, adl_usd = res[0], int(res[1]), res[2]
                hh = 0.0
            else:
                _haircut(st, shortfall, dP, vb, res)
                covered, hh = res[0], res[1]
            bad = 0.0 if covered >= shortfall else shortfall - covered
            if hh < 1.0 and not si[SI_ADL]:
                bad = 0.0
            share = bad / shortfall
            ev_f = log[1]
            nb_c = nb_i = 0
            for n in range(nl):
                bd = deficit[n] * share
                ev_f[ne0 + n, 6] = bd
                if u_iso[liq[n]]:
                    li_buf[nb_i] = bd
                    nb_i += 1
                else:
                    lc_buf[nb_c] = bd
                    nb_c += 1
            bad_c = _psum(lc_buf, nb_c, ws_i, ws_f)
            bad_i = _psum(li_buf, nb_i, ws_i, ws_f)
            for n in range(nl):
                if E[n] < 0.0 and deficit[n] > 0:
                    base[liq[n]] = 0.0              # covered, or written off
            sf[SF_BAD] += bad
        gross = _psum(notional, nl, ws_i, ws_f)
        fees = _psum(fee, nl, ws_i, ws_f)
        for s in range(S):
            flows[t, s] = flow[s]
    if regroup or si[SI_NDIRTY] > 256:
        members = wi[1]
        m = 0
        for u in range(U):
            if open_[u] and not in_single[u]:
                members[m] = u
                m += 1
        _rebuild_group(st, P, members, m)
    if (not si[SI_ADL]) and shortfall > 0:
        _rebuild(st, P)
    P_prev[:] = P
    hedge = 0.0
    if si[SI_HEDGED]:
        hv = h_units[0] * f[0]
        for s in range(1, S):
            hv = hv + h_units[s] * f[s]
        hedge = sf[SF_HCASH] + hv
    row = rows[t]
    row[0], row[1], row[2], row[3], row[4] = sf[SF_FUND], shortfall, hh, covered, bad
    row[5], row[6], row[7], row[8] = adl_n, adl_usd, sf[SF_BBAL], hedge
    row[9], row[10], row[11], row[12], row[13], row[14], row[15] = cnt_c, cnt_i, loss_c, loss_i, bad_c, bad_i, waiting
    if nl or waiting:
        fill[FILL_RETURNED] = 1.0
        fill[FILL_COUNT], fill[FILL_GROSS], fill[FILL_FEES] = nl, gross, fees
        fill[FILL_BAD], fill[FILL_WAITING] = bad, waiting
    return log


@njit(cache=True)
def _perp_capacity(th, t, P, keeper_cap):
    """``protections.Throttle.capacity(t, P)``: 0 when paused (circuit breaker) or out (keeper outage),
    else ``keeper_cap`` (-1: unlimited). Call it every step, as the engine does, when ``th[0][TH_ACTIVE]``."""
    th_i, th_f, hist, outages = th
    stop = False
    if th_i[TH_BREAKER]:
        w, nb = th_i[TH_WINDOW], th_i[TH_HN]
        npast = min(nb, w)
        if npast > 0:
            for slot in range(P.shape[0]):
                peak = -np.inf
                for q in range(nb - npast, nb):
                    peak = max(peak, hist[q % w, slot])
                if P[slot] < (1.0 - th_f[0]) * peak:
                    th_i[TH_PAUSED_UNTIL] = max(th_i[TH_PAUSED_UNTIL], t + th_i[TH_PAUSE] - 1)
                    break
        for slot in range(P.shape[0]):
            hist[nb % w, slot] = P[slot]
        th_i[TH_HN] = nb + 1
        stop = t <= th_i[TH_PAUSED_UNTIL]
    if not stop:
        for j in range(outages.shape[0]):
            if outages[j, 0] <= t < outages[j, 1]:
                stop = True
    if stop:
        th_i[TH_PAUSED_STEPS] += 1
        return 0
    return keeper_cap


@njit(cache=True)
def _drive(st, log, th, keeper_cap, prices_tS, market_tS, cap_t, rows, flows, fills):
    """Every step of one venue: ``cap_t[t]`` if given (>= -1), else the compiled throttle."""
    for t in range(prices_tS.shape[0]):
        P = prices_tS[t].copy()
        if cap_t.size:
            cap = cap_t[t]
        elif th[0][TH_ACTIVE]:
            cap = _perp_capacity(th, t, P, keeper_cap)
        else:
            cap = keeper_cap
        log = _perp_step(st, log, t, P, market_tS[t].copy(), cap, rows, flows, fills[t])
    return log


def run_perp_kernel(engine, prices_tS, market_tS, cap_t=None):
    """Run a constructed (not stepped) ``engine``'s venue on the compiled path over ``T`` steps.

    ``prices_tS`` (T, S): the marks it reads per listed asset (slot order); ``market_tS`` (T, S): the
    market prices of those assets; ``cap_t`` (T,) keeper capacity per step (-1: unlimited), or None for
    the engine's own (its throttle compiled). Returns ``(finish, events, fills_t, log)``: what
    ``engine.finish()`` returns, the events of the run (:func:`perp_events`), ``fills_t`` (T, N_FILL) and
    the raw log; ``perp_fills(log, fills_t, finish["flow"], engine.assets)`` gives each step's ``Fills``.
    """
    P = np.ascontiguousarray(prices_tS, dtype=float)
    m = np.ascontiguousarray(market_tS, dtype=float)
    T, S = P.shape
    if S != len(engine.assets) or m.shape != P.shape:
        raise ValueError(f"prices_tS and market_tS must have shape (T, {len(engine.assets)}); "
                         f"got {P.shape} and {m.shape}")
    st = perp_state(engine)
    log = new_log()
    th = throttle_state(engine)
    kc = engine.params.keeper_capacity
    kc = -1 if kc is None else int(kc)
    caps = np.empty(0, np.int64) if cap_t is None else np.asarray(cap_t, dtype=np.int64)
    rows = np.zeros((T, N_SERIES))
    flows = np.zeros((T, S))
    fills = np.zeros((T, N_FILL))
    log = _drive(st, log, th, kc, P, m, caps, rows, flows, fills)
    return perp_finish(st, log, rows, flows), perp_events(log), fills, log
