"""The one place randomness enters: ``seed`` -> independent generators."""
from __future__ import annotations

from numbers import Integral

import numpy as np

# Named streams, so that adding a new random part never shifts the others:
# the same seed keeps the same path, noise and books across versions and
# across the sharing dial (common random numbers).
STREAMS = ("path", "venue_noise", "books", "oracle_params", "venue_noise_assets")


def as_seed_sequence(seed):
    """Normalise ``seed`` (int, None, SeedSequence or Generator) to a SeedSequence."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return seed.bit_generator.seed_seq.spawn(1)[0]
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, Integral):
        raise TypeError(f"seed must be a non-negative integer, None, a SeedSequence or a Generator; "
                        f"got {seed!r} of type {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, None, a SeedSequence or a Generator; got {seed!r}")
    return np.random.SeedSequence(int(seed))


def streams(seed):
    """One independent ``numpy.random.Generator`` per name in :data:`STREAMS`."""
    ss = as_seed_sequence(seed)
    return {name: np.random.default_rng(child) for name, child in zip(STREAMS, ss.spawn(len(STREAMS)))}


def as_generator(seed):
    """A ``numpy.random.Generator`` from an int, None, SeedSequence or Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(as_seed_sequence(seed))
