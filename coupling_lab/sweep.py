r"""Research sweeps: a cartesian grid of configurations x seeds, one tidy row per run.

A sweep runs :func:`~coupling_lab.simulate` for every point of a parameter grid
and every seed, and gathers the scalar measures (MODEL.md §7,
:meth:`Measures.as_dict`) into a pandas DataFrame with one row per run:

    grid columns (named as given) | ``seed`` | synchrony | twin_dispersion | ...

Runs are independent and each is a pure function of its configuration and
seed, so a sweep gives the same rows in process or on a ``dask.distributed``
cluster, in any order of completion (rows are always returned in grid order,
seeds innermost). Because every seed splits into named random streams, the same
seed keeps the same price path, venue noise and books at every grid point
(common random numbers): differences along the grid are not sampling noise
between different worlds.

:func:`summarize` reduces a sweep to a mean, standard deviation, count and
Student-t confidence interval per grid point; :func:`save_sweep` and
:func:`load_sweep` keep a sweep in Parquet together with the base
configuration and grid, so a figure can be rebuilt later.

The core never imports dask: it is imported only when a client (or a scheduler
address) is given.
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import math
import time
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd

from .measures import Measures
from .compiled import default_kernel, run_measures, supports
from .simulation import Config, build, run, simulate
from .topology import dial_step

__all__ = ["sweep", "summarize", "save_sweep", "load_sweep", "grid_configs", "MEASURES", "t_quantile"]

#: The scalar measures of a run, in column order (the keys of ``Measures.as_dict()``).
MEASURES = tuple(Measures(**{f.name: 0 for f in dataclasses.fields(Measures)}).as_dict())

#: Target wall time of one dask task, seconds (the default batch size aims for it).
TASK_SECONDS = 0.5
#: Runs per batch in process (a batch shares the draws of each seed along the dial).
LOCAL_BATCH = 64

_META_KEY = b"coupling_lab.sweep"


# --------------------------------------------------------------------------- grid


def _split_key(key, base_config):
    """Check a grid key against the dataclass tree of ``base_config``; return its parts."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"grid keys must be non-empty strings (Config field names or dotted paths); got {key!r}")
    if key == "seed" or key in MEASURES:
        raise ValueError(f"grid key {key!r} would clash with the result column of the same name")
    parts = key.split(".")
    node = base_config
    for depth, part in enumerate(parts):
        if not dataclasses.is_dataclass(node) or isinstance(node, type):
            where = ".".join(parts[:depth])
            raise ValueError(f"grid key {key!r}: {where!r} is a {type(node).__name__}, not a parameter group, "
                             f"so it has no field {part!r}")
        names = [f.name for f in dataclasses.fields(node) if f.init]
        if part not in names:
            raise ValueError(f"grid key {key!r}: {type(node).__name__} has no field {part!r} "
                             f"(fields: {', '.join(names)})")
        node = getattr(node, part)
    return tuple(parts)


def _set(node, parts, value):
    if len(parts) == 1:
        return dataclasses.replace(node, **{parts[0]: value})
    return dataclasses.replace(node, **{parts[0]: _set(getattr(node, parts[0]), parts[1:], value)})


def _apply(base_config, settings):
    """``base_config`` with each ``(key, parts, value)`` of ``settings`` set (validated by Config)."""
    config = base_config
    for _, parts, value in settings:
        config = _set(config, parts, value)
    return config


def _normalise_grid(base_config, grid):
    if grid is None:
        return {}
    if not hasattr(grid, "items"):
        raise TypeError(f"grid must be a mapping of parameter names to lists of values; got {type(grid).__name__}")
    out = {}
    for key, values in grid.items():
        parts = _split_key(key, base_config)
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise ValueError(f"grid key {key!r}: values must be a list of values; got {values!r}")
        values = list(values)
        if not values:
            raise ValueError(f"grid key {key!r}: the list of values is empty")
        out[key] = (parts, values)
    keys = list(out)
    for a in keys:
        for b in keys:
            if a != b and b.startswith(a + "."):
                raise ValueError(f"grid keys {a!r} and {b!r} overlap: {b!r} is inside {a!r}; keep one of them")
    return out


def grid_configs(base_config, grid=None):
    """Build and validate every configuration of ``grid`` before anything runs.

    Parameters
    ----------
    base_config : Config
    grid : mapping of str to list, optional
        Config field names (``"sharing"``) or dotted paths into nested
        parameters (``"market.depth"``, ``"shared_oracle.theta"``,
        ``"platform.keeper_capacity"``) mapped to the values to try.

    Returns
    -------
    points : list of dict
        The grid points in cartesian order (last key varies fastest), each
        ``{key: value}``.
    configs : list of Config, same length

    Raises
    ------
    ValueError
        Naming the key (and value) for an unknown field, an empty list or a
        value Config's own validators reject.

    Examples
    --------
    >>> points, configs = grid_configs(Config(), {"market.depth": [1e8, 2e8], "sharing": [0.0, 1.0]})
    >>> points[1], configs[1].market.depth, configs[1].sharing
    ({'market.depth': 100000000.0, 'sharing': 1.0}, 100000000.0, 1.0)
    """
    if not isinstance(base_config, Config):
        raise TypeError(f"base_config must be a Config; got {type(base_config).__name__}")
    norm = _normalise_grid(base_config, grid)
    # Each value alone first, so the message names the one key at fault.
    for key, (parts, values) in norm.items():
        for value in values:
            try:
                _apply(base_config, [(key, parts, value)])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"grid key {key!r}: value {value!r} is invalid: {exc}") from None
    keys = list(norm)
    points, configs = [], []
    for combo in itertools.product(*(norm[k][1] for k in keys)):
        settings = [(k, norm[k][0], v) for k, v in zip(keys, combo)]
        try:
            config = _apply(base_config, settings)
        except (TypeError, ValueError) as exc:
            where = ", ".join(f"{k}={v!r}" for k, v in zip(keys, combo))
            raise ValueError(f"grid point ({where}) is invalid: {exc}") from None
        points.append(dict(zip(keys, combo)))
        configs.append(config)
    return points, configs


def _check_seeds(seeds):
    if isinstance(seeds, (Integral, str, bytes)) or not hasattr(seeds, "__iter__"):
        raise TypeError(f"seeds must be an iterable of non-negative integers (e.g. range(10)); got {seeds!r}")
    out = []
    for s in seeds:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, Integral) or s < 0:
            raise ValueError(f"seeds must hold non-negative integers; got {s!r}")
        out.append(int(s))
    if not out:
        raise ValueError("seeds must hold at least one seed; got none")
    return out


# --------------------------------------------------------------------------- running


def _run_one(config, seed, shared=None):
    """The measures of one run (a dict).

    ``shared`` (a dict kept over a batch) lets runs of one seed that differ
    only in ``sharing`` share what the dial leaves unchanged (MODEL.md §5:
    a seed's path, venue noise and books are the same at every dial
    position): the first run's world is drawn, the others are built on its
    path, noise and books, and each book is sorted into the ledger's order
    once. The topology rounds the dial to a whole number
    (:func:`~coupling_lab.topology.dial_step`: with 5 platforms, 21 dial
    values are 6 worlds), so a dial value that builds a world already run
    for this seed takes that run's row. The measures are those of
    :func:`simulate` (tested).
    """
    if shared is None:
        return simulate(config, seed=seed).measures.as_dict()
    drawn, orders, keys = shared.setdefault("worlds", {}), shared.setdefault("orders", {}), shared.setdefault("keys", {})
    done = shared.setdefault("measures", {})
    off = keys.get(id(config))
    if off is None or off[0] is not config:  # the config with its dial at 0, and the whole number the dial makes
        off = keys[id(config)] = (config, config.replace(sharing=0.0),
                                  dial_step(config.topology, config.sharing, config.n_platforms, config.n_sources))
    key = (seed, off[1])
    row = done.get(key + (off[2],))
    if row is not None:  # another dial value of this seed that builds the same world: its row
        return dict(row)
    first = drawn.get(key)
    if first is None:
        world = drawn[key] = build(config, seed)
    else:
        path = {"x_t": first.x_t} if config.collateral_sharing is None else {"x_ta": first.x_ta}
        world = build(config, seed, venue_noise_tv=first.venue_noise_tv, books=first.books, **path)
    if default_kernel() != "reference" and supports(world) is None:
        row = run_measures(world, orders).as_dict()
    else:
        row = run(world).measures.as_dict()
    done[key + (off[2],)] = row
    return dict(row)


def _iter_batch(batch):
    shared = {}
    for task_id, config, seed in batch:
        yield task_id, _run_one(config, seed, shared)


def run_batch(batch):
    """Run a list of ``(task_id, config, seed)``; return ``[(task_id, measures dict), ...]``.

    The unit of work, in process and on a dask worker (module level, so it
    pickles by name). Runs of one seed along the ``sharing`` dial share their
    draws and sorted books (see :func:`_run_one`).
    """
    return list(_iter_batch(batch))


def _batches(tasks, size):
    """``tasks`` in batches of ``size``, each seed's grid points together (so a batch shares its draws)."""
    ordered = sorted(tasks, key=lambda task: (task[2], task[0]))
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]


def _frame(points, seeds, results, keys):
    """Rows for the finished ``results`` ({task_id: measures}), in task order."""
    n_seeds = len(seeds)
    ids = sorted(results)
    data = {}
    for key in keys:
        # dtype from every grid value, so partial and full sweeps agree
        dtype = _column_dtype([p[key] for p in points])
        data[key] = pd.Series([points[i // n_seeds][key] for i in ids], dtype=dtype)
    data["seed"] = np.array([seeds[i % n_seeds] for i in ids], dtype=np.int64)
    for name in MEASURES:
        col = [results[i][name] for i in ids]
        data[name] = np.array(col, dtype=np.int64 if name == "twin_count" else np.float64)
    return pd.DataFrame(data, index=pd.RangeIndex(len(ids)))


def _column_dtype(values):
    # whole numbers with None (e.g. keeper_capacity: unlimited or 3) stay
    # integers: pandas' nullable Int64, which Parquet keeps as it is
    numbers = [v for v in values if v is not None]
    if len(numbers) < len(values) and numbers and all(
            isinstance(v, Integral) and not isinstance(v, (bool, np.bool_)) for v in numbers):
        return "Int64"
    return pd.Series(values).dtype


def _progress(enabled, total):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="sweep", unit="run")


def _default_batch_size(seconds_per_run, n_tasks, n_threads):
    """Runs per dask task: about :data:`TASK_SECONDS` of work, yet at least ~4 tasks per thread."""
    by_time = max(1, int(round(TASK_SECONDS / max(seconds_per_run, 1e-6))))
    by_balance = max(1, math.ceil(n_tasks / (4 * max(n_threads, 1))))
    return max(1, min(by_time, by_balance))


def sweep(base_config, grid=None, seeds=range(10), *, client=None, progress=True, cancel=None, batch_size=None):
    """Run every grid point x every seed; one row per run.

    Parameters
    ----------
    base_config : Config
        The configuration every grid point starts from.
    grid : mapping of str to list, optional
        Config field names or dotted paths into nested parameters (e.g.
        ``"sharing"``, ``"market.depth"``, ``"shared_oracle.theta"``,
        ``"shared_oracle.latency"``, ``"platform.keeper_capacity"``) mapped
        to the values to try; the cartesian product is run. ``None`` or ``{}``
        runs the base configuration alone.
    seeds : iterable of int, default ``range(10)``
    client : dask.distributed.Client or str, optional
        Run on this cluster (a string is a scheduler address; the client made
        for it is closed afterwards). ``None`` runs in this process.
    progress : bool, default True
        Show a ``tqdm.auto`` progress bar (runs done).
    cancel : threading.Event, optional
        When set (e.g. from another thread or a widget), the sweep stops early
        and returns the rows finished so far. Runs go seed by seed (all grid
        points of the first seed, then the next), so the rows of a sweep
        stopped early cover the whole grid with fewer seeds.
    batch_size : int, optional
        Runs per dask task. The default times one run here and aims for about
        0.5 s of work per task, while keeping at least ~4 tasks per worker
        thread. Ignored in process.

    Returns
    -------
    pandas.DataFrame
        One row per finished run, in grid order with seeds innermost: one
        column per grid key (named as given), ``seed`` and every measure in
        :data:`MEASURES`. ``frame.attrs["sweep"]`` holds ``n_planned``,
        ``n_done`` and ``complete``. ``synchrony`` is NaN when fewer than two
        platforms liquidated (MODEL.md §7).

    Raises
    ------
    ValueError
        Before anything runs, naming the grid key of an invalid key or value.

    Notes
    -----
    A ``KeyboardInterrupt`` (the notebook's stop button) keeps the finished
    rows: they are returned with a warning. On dask, batches still running
    when the sweep stops are cancelled and their rows dropped. Workers of a
    remote cluster need ``coupling_lab`` installed (the same version), since
    tasks refer to :func:`run_batch` by name.

    Examples
    --------
    >>> from coupling_lab import Config, sweep
    >>> small = Config(population=Config().population.replace(n_accounts=200))
    >>> frame = sweep(small, {"sharing": [0.0, 1.0]}, seeds=range(2), progress=False)
    >>> list(frame.columns[:3]), len(frame)
    (['sharing', 'seed', 'synchrony'], 4)
    """
    points, configs = grid_configs(base_config, grid)
    keys = list(points[0])
    seeds = _check_seeds(seeds)
    if batch_size is not None:
        if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer in [1, inf); got {batch_size!r}")
        batch_size = int(batch_size)
    if cancel is not None and not hasattr(cancel, "is_set"):
        raise TypeError(f"cancel must be a threading.Event (or have .is_set()); got {type(cancel).__name__}")
    n_seeds = len(seeds)
    tasks = [(i, configs[i // n_seeds], seeds[i % n_seeds]) for i in range(len(configs) * n_seeds)]
    results = {}
    bar = _progress(progress, len(tasks))
    interrupted = False
    try:
        if client is None:
            interrupted = _run_local(tasks, results, bar, cancel)
        else:
            interrupted = _run_dask(tasks, results, bar, cancel, client, batch_size)
    finally:
        if bar is not None:
            bar.close()
    frame = _frame(points, seeds, results, keys)
    frame.attrs["sweep"] = {"n_planned": len(tasks), "n_done": len(results), "complete": len(results) == len(tasks)}
    if interrupted:
        warnings.warn(f"sweep interrupted: returning the {len(results)} of {len(tasks)} runs that finished",
                      RuntimeWarning, stacklevel=2)
    return frame


def _run_local(tasks, results, bar, cancel):
    try:
        if cancel is not None and cancel.is_set():
            return False
        for batch in _batches(tasks, LOCAL_BATCH):
            for task_id, measures in _iter_batch(batch):  # lazily: the next run starts after the check
                results[task_id] = measures
                if bar is not None:
                    bar.update(1)
                if cancel is not None and cancel.is_set():
                    return False
    except KeyboardInterrupt:
        return True
    return False


def _run_dask(tasks, results, bar, cancel, client, batch_size):
    from dask.distributed import Client, as_completed

    own_client = isinstance(client, str)
    if own_client:
        client = Client(client)
    pending = set()
    try:
        if batch_size is None:
            # Time a run here to size the batches; its row is kept (a run is a
            # pure function of config and seed, so it is the same row). In a
            # fresh process the first run also loads the compiled loop from
            # numba's cache (~0.5 s), so the second one is the one timed.
            elapsed = None
            for _ in range(2):
                if cancel is not None and cancel.is_set():
                    return False
                if not tasks:
                    break
                start = time.perf_counter()
                task_id, config, seed = tasks[0]
                results[task_id] = _run_one(config, seed)
                elapsed = time.perf_counter() - start
                if bar is not None:
                    bar.update(1)
                tasks = tasks[1:]
            n_threads = sum(client.nthreads().values()) or 1
            batch_size = _default_batch_size(elapsed, len(tasks), n_threads)
        futures = [client.submit(run_batch, b, pure=False) for b in _batches(tasks, batch_size)]
        pending = set(futures)
        done = as_completed(futures)
        del futures  # each future is dropped once its rows are in, so the cluster forgets its task and result
        while not done.is_empty():
            if cancel is not None and cancel.is_set():
                break
            if not done.has_ready():
                time.sleep(0.02)
                continue
            ready = done.next_batch(block=False)
            for rows in client.gather(ready):  # one round trip for every batch ready
                for task_id, measures in rows:
                    results[task_id] = measures
                if bar is not None:
                    bar.update(len(rows))
            pending.difference_update(ready)
            for future in ready:
                future.release()
            del ready
    except KeyboardInterrupt:
        return True
    finally:
        if pending:
            client.cancel(list(pending))
        if own_client:
            client.close()
    return False


# --------------------------------------------------------------------------- summaries


@functools.lru_cache(maxsize=256)
def t_quantile(level, df):
    """Half-width multiplier ``t`` with ``P(|T_df| < t) = level`` (Student's t, two-sided).

    Examples
    --------
    >>> round(t_quantile(0.95, 9), 3)
    2.262
    """
    from scipy.special import stdtrit  # Student's t quantile; scipy.stats would add ~0.5 s to a fresh kernel

    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level!r}")
    df = int(df)
    if df < 1:
        raise ValueError(f"df must be an integer in [1, inf); got {df!r}")
    return float(stdtrit(df, 0.5 + level / 2))


def _grid_columns(frame):
    return [c for c in frame.columns if c != "seed" and c not in MEASURES]


def summarize(frame, by=None, measures=None, level=0.95):
    """Mean, standard deviation, count and confidence interval per grid point.

    Parameters
    ----------
    frame : DataFrame from :func:`sweep`
    by : list of str, optional
        Columns to group by (default: every grid column). Columns left out
        are pooled.
    measures : list of str, optional
        Measures to summarise (default: every measure in ``frame``).
    level : float in (0, 1), default 0.95
        Confidence level of the interval ``mean +- t * std / sqrt(n)``
        (Student's t with ``n - 1`` degrees of freedom; NaN when ``n < 2``).

    Returns
    -------
    DataFrame, one row per (grid point, measure):
        ``*by, measure, mean, std, n, n_nan, ci_low, ci_high``. Runs where a
        measure is NaN (``synchrony`` when fewer than two platforms
        liquidated) are left out of that measure's statistics and counted in
        ``n_nan``.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"sharing": [0, 0, 1, 1], "seed": [0, 1, 0, 1],
    ...                   "synchrony": [0.1, float("nan"), 0.8, 0.9]})
    >>> s = summarize(f)
    >>> s[["sharing", "mean", "n", "n_nan"]].to_string(index=False)
    ' sharing  mean  n  n_nan\\n       0  0.10  1      1\\n       1  0.85  2      0'
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame; got {type(frame).__name__}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level!r}")
    by = _grid_columns(frame) if by is None else ([by] if isinstance(by, str) else list(by))
    if measures is None:
        measures = [m for m in MEASURES if m in frame.columns]
    else:
        measures = [measures] if isinstance(measures, str) else list(measures)
    for col in [*by, *measures]:
        if col not in frame.columns:
            raise ValueError(f"column {col!r} is not in the sweep (columns: {', '.join(map(str, frame.columns))})")
    if not measures:
        raise ValueError("no measure to summarise")
    parts = []
    grouped = frame.groupby(by, sort=True, dropna=False) if by else [((), frame)]
    for name, group in grouped:
        name = name if isinstance(name, tuple) else (name,)
        for m in measures:
            values = group[m].to_numpy(dtype=float)
            ok = values[~np.isnan(values)]
            n = ok.size
            mean = float(ok.mean()) if n else math.nan
            std = float(ok.std(ddof=1)) if n > 1 else math.nan
            half = t_quantile(level, n - 1) * std / math.sqrt(n) if n > 1 else math.nan
            parts.append((*name, m, mean, std, n, int(values.size - n), mean - half, mean + half))
    out = pd.DataFrame(parts, columns=[*by, "measure", "mean", "std", "n", "n_nan", "ci_low", "ci_high"])
    out["n"] = out["n"].astype(np.int64)
    out["n_nan"] = out["n_nan"].astype(np.int64)
    out.attrs["level"] = level
    return out


# --------------------------------------------------------------------------- persistence


def _jsonable(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__type__": type(value).__name__,
                **{f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def save_sweep(frame, path, base_config, grid=None):
    """Save a sweep to Parquet with its base configuration and grid.

    The Parquet schema metadata (key ``coupling_lab.sweep``) holds JSON with
    ``base_config`` (the full parameter tree, and its ``repr``), ``grid``,
    the ``seeds`` present and the package version, so a figure can be
    rebuilt from the file alone. Needs ``pyarrow``.

    Parameters
    ----------
    frame : DataFrame from :func:`sweep`
    path : str or path-like
    base_config : Config
    grid : mapping, as given to :func:`sweep`
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from . import __version__

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame; got {type(frame).__name__}")
    if not isinstance(base_config, Config):
        raise TypeError(f"base_config must be a Config; got {type(base_config).__name__}")
    for col in frame.columns:
        if frame[col].dtype == object and not all(isinstance(v, (str, bool, int, float, type(None)))
                                                  or isinstance(v, (np.integer, np.floating))
                                                  for v in frame[col]):
            raise ValueError(f"column {col!r} holds non-scalar values, which Parquet cannot store; "
                             f"sweep over scalar parameters (e.g. a dotted path such as 'scenario.depth')")
    meta = {
        "version": __version__,
        "base_config": _jsonable(base_config),
        "base_config_repr": repr(base_config),
        "grid": _jsonable(dict(grid or {})),
        "seeds": sorted({int(s) for s in frame["seed"]}) if "seed" in frame.columns else [],
        "attrs": _jsonable(frame.attrs.get("sweep", {})),
    }
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _META_KEY: json.dumps(meta).encode()})
    pq.write_table(table, path)


def load_sweep(path):
    """Load a sweep saved by :func:`save_sweep`.

    Returns
    -------
    frame : DataFrame, the rows as saved
    meta : dict
        ``base_config`` (a JSON tree of the parameters; ``base_config_repr``
        its repr), ``grid``, ``seeds``, ``version``. ``frame.attrs["sweep"]``
        holds the same dict.
    """
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(_META_KEY)
    if raw is None:
        raise ValueError(f"{path} is not a coupling_lab sweep (no {_META_KEY.decode()!r} metadata)")
    meta = json.loads(raw)
    frame = table.to_pandas()
    frame.attrs["sweep"] = meta
    return frame, meta
