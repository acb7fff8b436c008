"""Lesson 10, when the insurance fund runs dry: who pays a perp venue's shortfall.

The world is :func:`coupling_lab.perp_scenarios.fund_world`: three perp venues
on one asset, 800 traders each (70 % long, leverage about 8x), a fast 25 % crash
over 30 minutes from minute 60 in a thin market (depth 300 M USD), each venue
with ``fund`` USD of insurance fund. ``shared`` of the three venues read one
shared oracle, the others their own slower feeds. The same world is run under
each loss rule (``"haircut"``, ``"adl"``) and every winner's payment is
reconstructed from the run:

- haircut: in a step with rate ``h_t > 0`` a trader still open whose
  variation margin ``v`` that step is positive pays ``h_t v``
  (the backstop pays the rest of the step's haircut);
- ADL: a cut of ``dq`` units at minute ``t`` forfeits ``dq (P_t - P_0)``
  (positions were entered at the first mark ``P_0``).

A winner is a trader never liquidated whose position would have ended in
profit (``q (P_T - P_0) > 0``); its gain is that profit. Runs are cached.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..loop import run
from ..perp_scenarios import fund_world
from ..perps import perp_outputs
from .controls import Control
from .text import Sentence, fmt_musd, fmt_pct

__all__ = ["CONTROLS", "RULES", "N_VENUES", "fund_runs", "Payments", "payments", "binned_share", "fund_paths",
           "fund_sentence",
           "payments_sentence", "prediction_rows"]

RULES = ("haircut", "adl")
N_VENUES = 3
CONTROLS = {
    "fund": Control("insurance fund per venue", 0, 1000, step=50, default=200, unit="k USD", integer=True),
    "shared": Control("venues on the shared oracle", 0, N_VENUES, step=1, default=N_VENUES, integer=True),
}


@functools.lru_cache(maxsize=32)  # about 1.2 MB per entry
def fund_runs(fund=200, shared=N_VENUES, seed=0):
    """``{rule: Result}``: the crash with ``fund`` k USD per venue and ``shared`` venues on the shared oracle."""
    CONTROLS["fund"].read("fund", fund)
    CONTROLS["shared"].read("shared", shared)
    return {rule: run(fund_world(rule, sharing=shared / N_VENUES, fund=fund * 1e3, n_venues=N_VENUES, seed=seed))
            for rule in RULES}


@dataclass(frozen=True)
class Payments:
    """Who paid a run's shortfall (all venues together).

    ``gain``, ``paid``, ``cut`` (share of the position closed by ADL, 0..1), ``score``
    (ADL's ranking score ``(u/M)(notional/M)`` at the venue's first shortfall, or at the end
    if it has none) and ``rank`` (the winner's place in its own venue's queue by that score,
    0 = top, as a fraction of the venue's winners): one entry per winner, sorted by ``rank``. ``backstop`` (USD the backstop paid under a haircut),
    ``shortfall`` (USD the funds could not pay), ``bad_debt`` (USD neither covered).
    """

    gain: np.ndarray
    paid: np.ndarray
    cut: np.ndarray
    score: np.ndarray
    rank: np.ndarray
    backstop: float
    shortfall: float
    bad_debt: float

    @property
    def n_winners(self):
        return int(self.gain.size)

    @property
    def share(self):
        """Each winner's payment as a fraction of its gain."""
        return np.divide(self.paid, self.gain, out=np.zeros_like(self.paid), where=self.gain > 0)

    @property
    def n_paying(self):
        return int((self.paid > 1e-9 * self.gain).sum())

    @property
    def n_cut(self):
        return int((self.cut > 0).sum())

    @property
    def n_closed(self):
        """Winners whose whole position ADL closed."""
        return int((self.cut >= 1.0 - 1e-9).sum())


def _venue_payments(result, k, rule):
    book = result.world.books[k]
    q = book.position[:, 0]
    m0 = book.margin.sum(axis=1)
    P = result.price_tk[:, k]
    T, n = P.size, q.size
    liq_t = np.full(n, T)
    ev = result.events_by_kind.get("perp", {})
    if ev:
        sel = ev["platform"] == k
        np.minimum.at(liq_t, ev["account"][sel], ev["t"][sel])
    paid = np.zeros(n)
    cut_units = np.zeros(n)
    frame = perp_outputs(result, k)
    if rule == "haircut":
        h = frame["haircut"]
        for t in np.flatnonzero(h > 0):
            v = q * (P[t] - P[t - 1])
            on = (liq_t > t) & (v > 0)
            paid[on] += h[t] * v[on]
    else:
        adl = result.engine_outputs[k]["adl_events"]
        if len(adl["t"]):
            acc, t, dq = adl["account"].astype(int), adl["t"].astype(int), adl["units"]
            np.add.at(paid, acc, dq * (P[t] - P[0]))
            np.add.at(cut_units, acc, np.abs(dq))
    u = q * (P[-1] - P[0])
    win = (liq_t >= T) & (u > 0)
    hit = np.flatnonzero(frame["shortfall"] > 0)
    ts = int(hit[0]) if hit.size else T - 1
    us = q * (P[ts] - P[0])
    Ms = m0 + us
    score = np.divide(us * np.abs(q) * P[ts], Ms * Ms, out=np.zeros(n), where=(Ms > 0) & (us > 0))[win]
    order = np.lexsort((np.flatnonzero(win), -score))
    rank = np.empty(score.size)
    rank[order] = np.arange(score.size) / max(score.size, 1)
    cut = np.divide(cut_units, np.abs(q), out=np.zeros(n), where=q != 0)
    return u[win], paid[win], np.minimum(cut[win], 1.0), score, rank, float(frame["covered"].sum())


def payments(result, rule):
    """The :class:`Payments` of one run under ``rule``."""
    parts = [_venue_payments(result, k, rule) for k in range(len(result.world.platforms))]
    gain, paid, cut, score, rank = (np.concatenate([p[i] for p in parts]) for i in range(5))
    covered = sum(p[5] for p in parts)
    frames = [perp_outputs(result, k) for k in range(len(result.world.platforms))]
    shortfall = float(sum(f["shortfall"].sum() for f in frames))
    bad = float(sum(f["bad_debt"].sum() for f in frames))
    backstop = max(covered - float(paid.sum()), 0.0) if rule == "haircut" else 0.0
    o = np.argsort(rank, kind="stable")
    return Payments(gain[o], paid[o], cut[o], score[o], rank[o], backstop, shortfall, bad)


def binned_share(p, n_bins=20):
    """Mean payment as a share of gain in ``n_bins`` equal slices of the winners by ``rank``
    (top of the ADL queue first): ``(edges, means)``, edges in per cent of winners."""
    edges = np.linspace(0.0, 100.0, n_bins + 1)
    if p.n_winners == 0:
        return edges, np.zeros(n_bins)
    b = np.minimum((p.rank * n_bins).astype(int), n_bins - 1)
    total = np.bincount(b, weights=p.share, minlength=n_bins)
    count = np.bincount(b, minlength=n_bins)
    return edges, np.divide(total, count, out=np.zeros(n_bins), where=count > 0)


def fund_paths(result):
    """USD, shape (T, venues): each venue's insurance fund at every step."""
    return np.column_stack([perp_outputs(result, k)["fund"] for k in range(len(result.world.platforms))])


def fund_sentence(result, fund):
    """When each venue's fund ran dry, and the shortfall left after it."""
    F = fund_paths(result)
    dry = [int(np.argmax(F[:, k] <= 0)) if (F[:, k] <= 0).any() else None for k in range(F.shape[1])]
    short = sum(float(perp_outputs(result, k)["shortfall"].sum()) for k in range(F.shape[1]))
    if fund <= 0:
        return Sentence(f"No venue has an insurance fund: every bankruptcy goes straight to the loss rule, a "
                        f"shortfall of {fmt_musd(short, 2)} in all.")
    if all(d is None for d in dry):
        return Sentence(f"With {fmt_musd(fund * 1e3, 2)} per venue no fund runs dry: the funds pay every bankrupt "
                        "account and nobody else pays.")
    when = ", ".join(f"V{k + 1} at minute {d}" if d is not None else f"V{k + 1} never" for k, d in enumerate(dry))
    return Sentence(f"Each venue starts with {fmt_musd(fund * 1e3, 2)}; the funds run dry ({when}) and leave a "
                    f"shortfall of {fmt_musd(short, 2)} that the loss rule must cover.")


def payments_sentence(rule, p):
    """Who paid under ``rule``, as one sentence."""
    if p.shortfall <= 0:
        return Sentence(f"{'Haircut' if rule == 'haircut' else 'ADL'}: no shortfall, no winner pays.")
    s = p.share
    if rule == "haircut":
        return Sentence(f"Haircut: {p.n_paying:,} of {p.n_winners:,} winners pay, a median {fmt_pct(np.median(s[s > 0]) if p.n_paying else 0)} "
                        f"of their gain and at most {fmt_pct(s.max())}; the backstop pays {fmt_musd(p.backstop, 2)}. "
                        "Nobody's position is touched.")
    return Sentence(f"ADL: {p.n_paying:,} of {p.n_winners:,} winners pay, the highest-ranked (most profitable, most "
                    f"leveraged) first, up to {fmt_pct(s.max())} of their gain; {p.n_cut:,} positions are cut, "
                    f"{p.n_closed:,} of them closed entirely, and the other {p.n_winners - p.n_paying:,} winners pay nothing.")


def prediction_rows(fund=200, shared=N_VENUES):
    """(rule, sentence) rows for the reveal after the prediction."""
    runs = fund_runs(fund, shared)
    return [(rule, str(payments_sentence(rule, payments(runs[rule], rule)))) for rule in RULES]
