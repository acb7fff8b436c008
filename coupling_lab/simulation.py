r"""One entry point, :func:`simulate` = :func:`run` of :func:`build` (MODEL.md, order of work).

The parts live by responsibility: :mod:`~coupling_lab.config` (a scenario's
settings and :func:`build`: config + seed -> World), :mod:`~coupling_lab.world`
(the explicit inputs), :mod:`~coupling_lab.loop` (the step loop, :func:`run`)
and :mod:`~coupling_lab.result` (series, event log, measures). Every random
input of a World can be given by hand instead.
"""
from __future__ import annotations

from .config import Config, OracleRanges, build
from .loop import run
from .result import EVENT_FIELDS, Result
from .world import World

__all__ = ["OracleRanges", "Config", "World", "Result", "build", "run", "simulate", "EVENT_FIELDS"]


def simulate(config=None, seed=0, **explicit):
    """Run a scenario: ``run(build(config, seed, **explicit))``.

    Parameters
    ----------
    config : Config, default ``Config()`` (the classroom scenario)
    seed : int, SeedSequence or Generator
    **explicit : ``x_t`` (or ``x_ta``), ``venue_noise_tv`` or ``books`` to use instead of drawing them

    Examples
    --------
    >>> from coupling_lab import Config, simulate
    >>> r = simulate(Config(sharing=1.0), seed=1)
    >>> r.measures.twin_count
    5
    """
    return run(build(config, seed, **explicit))
