"""Bad input gets one clear sentence naming the field, the value and the allowed range.

Invalid values are generated from the same constraints the validators declare
(``_constraints`` on every params dataclass, ``Interval.invalid_examples``), and
every field named in issue 3, point 5 is also covered explicitly. Each check
also asserts that the exception was raised by coupling_lab itself (never from
numpy internals), that numpy emitted no warning on the way, and that the
message is a single line.
"""
from __future__ import annotations

import math
import os
import warnings
from numbers import Integral, Real

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import coupling_lab as cl
from coupling_lab import (
    Book,
    Config,
    CrashScenario,
    GBMScenario,
    JumpScenario,
    MarketParams,
    OracleFault,
    OracleParams,
    OracleRanges,
    PlatformParams,
    PopulationParams,
    ReplayScenario,
    VenueFault,
    World,
)
from coupling_lab.perps import PerpParams, PerpPopulation
from coupling_lab.protections import (
    AnchorBand, AnswerBounds, CircuitBreaker, Delay, Fallback, PlatformFault, RateLimit,
)
from coupling_lab._validation import Interval, Validated, check_array, check_index, check_scalar
from coupling_lab.measures import (
    excess_drawdown,
    fundamental_drawdown,
    liquidation_synchrony,
    peak_flow_share,
    twin_dispersion,
)

PKG_DIR = os.path.dirname(os.path.abspath(cl.__file__))

# One valid set of keyword arguments per params class; every Validated class
# must appear here (checked below), so a new class cannot escape these tests.
BASE = {
    MarketParams: {},
    PlatformParams: {},
    OracleParams: {},
    PopulationParams: {},
    CrashScenario: {},
    GBMScenario: {},
    JumpScenario: {},
    OracleRanges: {},
    Config: {},
    VenueFault: dict(kind="spike", venue=0, t0=0, t1=5, factor=2.0),
    OracleFault: dict(kind="override", oracle=0, t0=0, t1=5, factor=2.0),
    CircuitBreaker: {},
    RateLimit: {},
    AnswerBounds: {},
    Delay: {},
    AnchorBand: {},
    Fallback: {},
    PlatformFault: dict(kind="keeper_outage", platform=0, t0=0, t1=5),
    PerpParams: {},
    PerpPopulation: {},
}

# fields that a cross-field check ties to a partner (min <= max): an edge
# value is tried with the partner moved to the same edge
PARTNER = {"theta_min": "theta_max", "theta_max": "theta_min",
           "latency_min": "latency_max", "latency_max": "latency_min"}


def _all_validated(cls=Validated):
    out = set()
    for sub in cls.__subclasses__():
        out.add(sub)
        out |= _all_validated(sub)
    return out


def _value_text(value, interval):
    """How a rejected scalar is printed after 'got ' in the message."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if interval.kind is Integral:
        return repr(int(value)) if float(value).is_integer() else repr(value)
    return repr(float(value))


def expect(exc_type, fn, *fragments):
    """Call ``fn``; it must raise exactly ``exc_type`` from coupling_lab, with
    a one-line message containing every fragment, and with no numpy warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy RuntimeWarning on the way fails the test
        with pytest.raises(Exception) as info:
            fn()
    assert type(info.value) is exc_type, f"{type(info.value).__name__}: {info.value}"
    msg = str(info.value)
    assert "\n" not in msg and msg.strip() == msg and msg, repr(msg)
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"
    last = os.path.abspath(str(info.traceback[-1].path))
    assert last.startswith(PKG_DIR + os.sep), f"raised from {last}, not from coupling_lab"
    return msg


# --------------------------------------------------------------------------
# invalid values generated from the declared constraints
# --------------------------------------------------------------------------

def test_every_validated_class_is_covered():
    assert _all_validated() == set(BASE)


def test_base_kwargs_are_valid():
    for cls, kwargs in BASE.items():
        cls(**kwargs)


CONSTRAINT_CASES = [
    pytest.param(cls, name, interval, bad, id=f"{cls.__name__}.{name}={bad!r}")
    for cls in BASE
    for name, interval in cls._constraints.items()
    for bad in interval.invalid_examples()
]


@pytest.mark.parametrize("cls, name, interval, bad", CONSTRAINT_CASES)
def test_invalid_value_from_declared_constraint(cls, name, interval, bad):
    msg = expect(ValueError, lambda: cls(**{**BASE[cls], name: bad}), str(interval))
    assert msg.startswith(f"{name} must be "), msg
    assert msg.endswith(f"; got {_value_text(bad, interval)}"), msg


def test_constraint_cases_cover_every_declared_field():
    declared = {(cls, name) for cls in BASE for name in cls._constraints}
    generated = {(p.values[0], p.values[1]) for p in CONSTRAINT_CASES}
    assert declared == generated
    assert len(declared) >= 40


@pytest.mark.parametrize("cls, name, interval", [
    pytest.param(cls, name, interval, id=f"{cls.__name__}.{name}")
    for cls in BASE for name, interval in cls._constraints.items()
])
@pytest.mark.parametrize("bad", ["1", True, None, [1.0], 1 + 0j])
def test_wrong_kind_is_a_type_error(cls, name, interval, bad):
    if bad is None and name in cls._optional:
        cls(**{**BASE[cls], name: None})  # None means "unlimited" here
        return
    msg = expect(TypeError, lambda: cls(**{**BASE[cls], name: bad}), str(interval), repr(bad))
    assert msg.startswith(f"{name} must be "), msg


@pytest.mark.parametrize("cls, name, interval", [
    pytest.param(cls, name, interval, id=f"{cls.__name__}.{name}")
    for cls in BASE for name, interval in cls._constraints.items()
])
def test_closed_edges_are_accepted_and_normalised(cls, name, interval):
    """The constraints are not stricter than declared: closed edges pass."""
    edges = []
    if interval._left_closed:
        edges.append(interval.low)
    if interval._right_closed:
        edges.append(interval.high)
    if interval.low is None or interval.high is None:
        edges.append((interval.low if interval.low is not None else interval.high or 0) + 1)
    for edge in edges:
        kwargs = {**BASE[cls], name: edge}
        if name in PARTNER:
            kwargs[PARTNER[name]] = edge
        if cls in (VenueFault, OracleFault, PlatformFault) and name == "t0":
            kwargs["t1"] = edge + 1
        obj = cls(**kwargs)
        got = getattr(obj, name)
        assert type(got) is (int if interval.kind is Integral else float)
        assert got == edge


def _numbers_around(interval):
    """Floats near and far from the interval's edges, and integers for integer fields."""
    edges = [v for v in (interval.low, interval.high) if v is not None] or [0.0]
    near = st.sampled_from(edges).flatmap(
        lambda e: st.floats(e - 2.0, e + 2.0) | st.just(float(e)) | st.just(math.nextafter(e, -math.inf))
        | st.just(math.nextafter(e, math.inf)))
    values = near | st.floats(allow_nan=True, allow_infinity=True)
    if interval.kind is Integral:
        values = values | st.integers(-10**6, 10**6)
    return values


@pytest.mark.parametrize("cls, name, interval", [
    pytest.param(cls, name, interval, id=f"{cls.__name__}.{name}")
    for cls in BASE for name, interval in cls._constraints.items()
])
def test_any_number_is_accepted_exactly_when_the_constraint_allows_it(cls, name, interval):
    """The validator and its declared constraint agree on every number hypothesis tries."""

    @settings(max_examples=40, deadline=None, derandomize=True)
    @given(_numbers_around(interval))
    def check(value):
        kwargs = {**BASE[cls], name: value}
        allowed = math.isfinite(value) and value in interval and (
            interval.kind is not Integral or float(value).is_integer())
        if allowed and name in PARTNER:
            kwargs[PARTNER[name]] = value  # keep min <= max
        if allowed and cls in (VenueFault, OracleFault, PlatformFault) and name == "t0":
            kwargs["t1"] = int(value) + 1  # keep t0 < t1
        if allowed:
            assert getattr(cls(**kwargs), name) == value
        else:
            msg = expect(ValueError, lambda: cls(**kwargs), str(interval))
            assert msg.startswith(f"{name} must be "), msg

    check()


# --------------------------------------------------------------------------
# the helper itself
# --------------------------------------------------------------------------

def test_interval_membership_and_text():
    iv = Interval(Real, 0, 1, closed="right")
    assert 0.5 in iv and 1 in iv and 0 not in iv and 1.0000001 not in iv and -1 not in iv
    assert str(iv) == "(0, 1]"
    assert str(Interval(Real, 0, 1, closed="both")) == "[0, 1]"
    assert str(Interval(Real, 0, None, closed="neither")) == "(0, inf)"
    assert str(Interval(Real, None, 2.5, closed="both")) == "(-inf, 2.5]"
    assert str(Interval(Integral, 1, None)) == "[1, inf)"
    assert Interval(Integral, 1, None).describe() == "an integer in [1, inf)"
    assert Interval(Real, 0, 1).describe() == "a number in [0, 1]"
    unbounded = Interval(Real, None, None)
    assert 1e300 in unbounded and -1e300 in unbounded
    assert "Interval(" in repr(iv)
    with pytest.raises(ValueError, match="closed must be one of"):
        Interval(Real, 0, 1, closed="half")


@pytest.mark.parametrize("iv", [
    Interval(Real, 0, 1, "both"), Interval(Real, 0, 1, "neither"), Interval(Real, 0, None, "left"),
    Interval(Real, -1, 1, "right"), Interval(Integral, 1, None), Interval(Integral, 0, 10, "neither"),
    Interval(Real, None, None),
])
def test_invalid_examples_are_rejected_and_cover_both_edges(iv):
    bad = iv.invalid_examples()
    assert any(isinstance(v, float) and math.isnan(v) for v in bad)
    for v in bad:
        with pytest.raises(ValueError):
            check_scalar("x", v, iv)
        if isinstance(v, float) and math.isfinite(v):
            assert v not in iv or (iv.kind is Integral and not float(v).is_integer())
    if iv.low is not None:
        assert any(math.isfinite(v) and v < iv.low for v in bad)
        if not iv._left_closed:
            assert iv.low in bad
    if iv.high is not None:
        assert any(math.isfinite(v) and v > iv.high for v in bad)
        if not iv._right_closed:
            assert iv.high in bad


def test_check_scalar_messages_and_normalisation():
    assert check_scalar("x", np.float64(0.25), Interval(Real, 0, 1)) == 0.25
    assert type(check_scalar("x", np.float64(0.25), Interval(Real, 0, 1))) is float
    assert check_scalar("n", 3.0, Interval(Integral, 1, None)) == 3
    assert type(check_scalar("n", np.int64(3), Interval(Integral, 1, None))) is int
    assert expect(ValueError, lambda: check_scalar("lt", 1.2, Interval(Real, 0, 1, "right"))) == \
        "lt must be in (0, 1]; got 1.2"
    assert expect(ValueError, lambda: check_scalar("n", 0, Interval(Integral, 1, None))) == \
        "n must be an integer in [1, inf); got 0"
    assert expect(ValueError, lambda: check_scalar("n", 2.5, Interval(Integral, 1, None))) == \
        "n must be an integer in [1, inf); got 2.5"
    assert expect(ValueError, lambda: check_scalar("x", np.float64("nan"), Interval(Real, 0, 1))) == \
        "x must be a finite number in [0, 1]; got nan"
    expect(TypeError, lambda: check_scalar("x", True, Interval(Real, 0, 1)), "x must be", "True", "bool")
    expect(TypeError, lambda: check_scalar("x", np.bool_(True), Interval(Real, 0, 1)), "x must be")
    expect(TypeError, lambda: check_scalar("x", "0.5", Interval(Real, 0, 1)), "'0.5'", "str", "[0, 1]")


def test_check_array_messages():
    out = check_array("a", [1, 2, 3], shape=(3,))
    assert out.dtype == float and out.flags.c_contiguous
    src = np.array([1.0, 2.0])
    got = check_array("a", src)
    got[0] = 99.0
    assert src[0] == 1.0  # a copy, never a view of the caller's array
    assert expect(ValueError, lambda: check_array("a", [[1.0, 2.0]], shape=(None,))) == \
        "a must have shape (any,); got (1, 2)"
    assert expect(ValueError, lambda: check_array("a", np.ones((2, 3)), shape=(2, 4))) == \
        "a must have shape (2, 4); got (2, 3)"
    assert expect(ValueError, lambda: check_array("a", [1.0, np.inf], shape=(2,))) == \
        "a must hold finite numbers; got inf at index 1"
    assert expect(ValueError, lambda: check_array("a", [1.0, np.nan], interval=Interval(Real, 0, None, "neither"))) == \
        "a must hold finite numbers in (0, inf); got nan at index 1"
    assert expect(ValueError, lambda: check_array("a", [[1.0, 2.0], [3.0, -1.0]], interval=Interval(Real, 0, None))) == \
        "a must be in [0, inf); got -1.0 at index (1, 1)"
    expect(TypeError, lambda: check_array("a", ["x", "y"]), "a must be an array of numbers", "list")
    expect(TypeError, lambda: check_array("a", {"x": 1}), "a must be an array of numbers", "dict")
    assert check_array("a", np.empty(0), shape=(None,), interval=Interval(Real, 0, 1)).size == 0


def test_check_index_messages():
    assert check_index("k", np.int64(2), 3) == 2
    assert expect(ValueError, lambda: check_index("platform_oracle[0]", 3, 3, "oracle index")) == \
        "platform_oracle[0] must be an oracle index in [0, 2]; got 3"
    assert expect(ValueError, lambda: check_index("src", -1, 4, "venue index")) == \
        "src must be a venue index in [0, 3]; got -1"
    expect(TypeError, lambda: check_index("src", 1.0, 4, "venue index"), "src must be an integer venue index in [0, 3]", "1.0")
    expect(TypeError, lambda: check_index("src", True, 4, "venue index"), "True")


# --------------------------------------------------------------------------
# every field named in issue 3, point 5, explicitly
# --------------------------------------------------------------------------

def small_world(**changes):
    """A valid 6-step world: 2 venues, 2 oracles, 2 platforms."""
    kwargs = dict(
        x_t=np.log(2000.0) + np.linspace(0.0, -0.2, 6),
        venue_noise_tv=np.zeros((6, 2)),
        oracles=(OracleParams(sources=(0,)), OracleParams(sources=(0, 1), latency=1)),
        platforms=(PlatformParams(), PlatformParams(lt=0.7)),
        platform_oracle=(0, 1),
        books=(Book([1.0, 2.0], [1500.0, 1000.0]), Book([3.0], [4000.0])),
    )
    kwargs.update(changes)
    return World(**kwargs)


def test_small_world_is_valid_and_runs():
    res = cl.run(small_world())
    assert res.kappa_t.shape == (6,)
    assert res.count_tk.sum() > 0


@pytest.mark.parametrize("depth", [0, 0.0, -5.0, -1e-12])
def test_depth_non_positive(depth):
    expect(ValueError, lambda: MarketParams(depth=depth), "depth must be in (0, inf)", f"got {float(depth)!r}")


@pytest.mark.parametrize("resilience", [-0.1, 1.5, math.nan])
def test_resilience_outside_unit_interval(resilience):
    expect(ValueError, lambda: MarketParams(resilience=resilience), "resilience", "[0, 1]", repr(resilience))


@pytest.mark.parametrize("field, value, interval", [
    ("lt", 1.2, "(0, 1]"), ("lt", 0.0, "(0, 1]"), ("lt", -0.3, "(0, 1]"),
    ("h_full", 1.01, "[0, 1]"), ("h_full", -0.5, "[0, 1]"),
    ("close_factor", 0.0, "(0, 1]"), ("close_factor", 1.5, "(0, 1]"), ("close_factor", -0.5, "(0, 1]"),
    ("bonus", -0.05, "[0, 1]"), ("bonus", -1e-9, "[0, 1]"),
    ("keeper_capacity", 0, "an integer in [1, inf)"), ("keeper_capacity", -3, "an integer in [1, inf)"),
])
def test_platform_fields(field, value, interval):
    msg = expect(ValueError, lambda: PlatformParams(**{field: value}), interval)
    assert msg.startswith(f"{field} must be") and msg.endswith(f"got {value!r}")


@pytest.mark.parametrize("value", [1.5, -0.01, math.inf])
def test_oracle_threshold_outside_unit_interval(value):
    expect(ValueError, lambda: OracleParams(theta=value), "theta", "[0, 1]", repr(value))
    expect(ValueError, lambda: OracleRanges(theta_min=value, theta_max=max(value, 0.02)), "theta_min", "[0, 1]")


def test_oracle_ranges_cross_checks():
    expect(ValueError, lambda: OracleRanges(theta_min=0.02, theta_max=0.01), "theta_max", "0.02", "0.01")
    expect(ValueError, lambda: OracleRanges(latency_min=3, latency_max=1), "latency_max", "3", "1")
    expect(ValueError, lambda: OracleRanges(heartbeats=()), "heartbeats", "[1, inf)")
    expect(ValueError, lambda: OracleRanges(heartbeats=(60, 0)), "heartbeats", "[1, inf)", "got 0")
    expect(ValueError, lambda: OracleRanges(heartbeats=60), "heartbeats", "60")


@pytest.mark.parametrize("sharing", [-0.1, 1.1, math.nan, math.inf])
def test_sharing_outside_unit_interval(sharing):
    expect(ValueError, lambda: Config(sharing=sharing), "sharing", "[0, 1]", repr(sharing))
    expect(ValueError, lambda: cl.shared_fraction(sharing, OracleParams(), [OracleParams()] * 3), "sharing", "[0, 1]")
    expect(ValueError, lambda: cl.source_overlap(sharing, OracleParams(), [OracleParams()] * 3), "sharing", "[0, 1]")


@pytest.mark.parametrize("n", [0, -1])
def test_non_positive_steps_and_platforms(n):
    expect(ValueError, lambda: Config(n_platforms=n), "n_platforms", "[1, inf)", f"got {n}")
    expect(ValueError, lambda: CrashScenario(n_steps=n), "n_steps", "[1, inf)", f"got {n}")
    expect(ValueError, lambda: GBMScenario(n_steps=n), "n_steps", "[1, inf)", f"got {n}")
    expect(ValueError, lambda: JumpScenario(n_steps=n), "n_steps", "[1, inf)", f"got {n}")
    expect(ValueError, lambda: PopulationParams(n_accounts=n), "n_accounts", "[1, inf)", f"got {n}")


def test_empty_world_axes():
    expect(ValueError, lambda: small_world(x_t=[], venue_noise_tv=np.zeros((0, 2))), "n_steps", "[1, inf)", "got 0")
    expect(ValueError, lambda: small_world(platforms=(), books=(), platform_oracle=()), "n_platforms", "[1, inf)", "got 0")
    expect(ValueError, lambda: small_world(oracles=(), platform_oracle=(0, 0)), "oracles", "got 0")
    expect(ValueError, lambda: small_world(venue_noise_tv=np.zeros((6, 0))), "venue_noise_tv", "got 0")
    expect(ValueError, lambda: ReplayScenario([]), "prices", "got 0")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_inf_in_path_noise_and_balances(bad):
    x = np.log(2000.0) * np.ones(6)
    x[3] = bad
    expect(ValueError, lambda: small_world(x_t=x), "x_t", repr(bad), "index 3")
    noise = np.zeros((6, 2))
    noise[4, 1] = bad
    expect(ValueError, lambda: small_world(venue_noise_tv=noise), "venue_noise_tv", repr(bad), "(4, 1)")
    expect(ValueError, lambda: Book([1.0, bad], [1.0, 1.0]), "collateral", "(0, inf)", repr(bad), "index 1")
    expect(ValueError, lambda: Book([1.0, 1.0], [bad, 1.0]), "debt", "[0, inf)", repr(bad), "index 0")
    expect(ValueError, lambda: ReplayScenario([2000.0, bad, 1990.0]), "prices", "(0, inf)", repr(bad), "index 1")
    expect(ValueError, lambda: small_world(probe=(1.0, bad)), "probe", "(0, inf)", repr(bad))
    expect(ValueError, lambda: CrashScenario(price0=bad), "price0", "(0, inf)", repr(bad))
    expect(ValueError, lambda: cl.publish([[100.0], [bad]], [OracleParams()]), "raw_tj", "(0, inf)", repr(bad))


def test_nan_in_explicit_inputs_to_simulate():
    cfg = Config(scenario=CrashScenario(n_steps=8), population=PopulationParams(n_accounts=5), n_platforms=2)
    x = np.full(8, np.log(2000.0))
    x[5] = np.nan
    expect(ValueError, lambda: cl.simulate(cfg, seed=1, x_t=x), "x_t", "nan", "index 5")
    V = cl.build(cfg, seed=1).n_venues
    noise = np.zeros((8, V))
    noise[2, 0] = np.inf
    expect(ValueError, lambda: cl.simulate(cfg, seed=1, venue_noise_tv=noise), "venue_noise_tv", "inf", "(2, 0)")
    expect(ValueError, lambda: cl.simulate(cfg, seed=1, books=Book([1.0, 2.0], [1.0, np.nan])), "debt", "nan")


def test_log_price_out_of_range():
    expect(ValueError, lambda: small_world(x_t=np.full(6, 800.0)), "x_t", "[-700, 700]", "800.0")
    noise = np.zeros((6, 2))
    noise[2, 1] = 900.0
    expect(ValueError, lambda: small_world(venue_noise_tv=noise), "venue_noise_tv", "[-700, 700]", "(2, 1)")


@pytest.mark.parametrize("cell, shown", [("abc", "'abc'"), ("", "nan"), ("-5", "-5"), ("inf", "inf")])
def test_replay_from_csv_with_a_bad_cell(tmp_path, cell, shown):
    path = tmp_path / "prices.csv"
    path.write_text(f"step,price\n0,2000\n1,1990\n2,{cell}\n3,1980\n")
    msg = expect(ValueError, lambda: ReplayScenario.from_csv(path), "price", "(0, inf)", "index 2")
    assert shown in msg
    good = tmp_path / "good.csv"
    good.write_text("step,price\n0,2000\n1,1990\n")
    assert ReplayScenario.from_csv(good).n_steps == 2
    expect(ValueError, lambda: ReplayScenario.from_csv(good, column="close"), "column", "'close'", "'price'")


def test_wrong_array_shapes_and_lengths():
    expect(ValueError, lambda: small_world(x_t=np.zeros((6, 1)) + 7.0), "x_t", "(any,)", "(6, 1)")
    expect(ValueError, lambda: small_world(venue_noise_tv=np.zeros((5, 2))), "venue_noise_tv", "(6, any)", "(5, 2)")
    expect(ValueError, lambda: small_world(venue_noise_tv=np.zeros(6)), "venue_noise_tv", "(6, any)", "(6,)")
    expect(ValueError, lambda: small_world(books=(Book([1.0], [1.0]),)), "books", "n_platforms=2", "got 1 and 2")
    expect(ValueError, lambda: small_world(platform_oracle=(0, 1, 1)), "platform_oracle", "n_platforms=2", "got 2 and 3")
    expect(ValueError, lambda: Book([1.0, 2.0, 3.0], [1.0, 2.0]), "debt", "(3,)", "(2,)")
    expect(ValueError, lambda: Book([[1.0, 2.0]], [[1.0, 2.0]]), "collateral", "(any,)", "(1, 2)")
    expect(ValueError, lambda: ReplayScenario(np.ones((3, 2))), "prices", "(any,)", "(3, 2)")
    expect(ValueError, lambda: small_world(probe=(1.0, 2.0, 3.0)), "probe", "(2,)", "(3,)")
    expect(TypeError, lambda: Book(["a", "b"], [1.0, 2.0]), "collateral", "array of numbers")


def test_wrong_shapes_of_explicit_inputs_to_simulate():
    cfg = Config(scenario=CrashScenario(n_steps=8), population=PopulationParams(n_accounts=5), n_platforms=2)
    V = cl.build(cfg, seed=1).n_venues
    expect(ValueError, lambda: cl.simulate(cfg, seed=1, x_t=np.zeros(7)), "x_t", "(8,)", "(7,)")
    expect(ValueError, lambda: cl.simulate(cfg, seed=1, x_t=np.zeros((8, 1))), "x_t", "(8,)", "(8, 1)")
    expect(ValueError, lambda: cl.simulate(cfg, seed=1, venue_noise_tv=np.zeros((8, V - 1))),
           "venue_noise_tv", f"(8, {V})", f"(8, {V - 1})")
    expect(ValueError, lambda: cl.simulate(cfg, seed=1, venue_noise_tv=np.zeros((7, V))),
           "venue_noise_tv", f"(8, {V})", f"(7, {V})")
    expect(ValueError, lambda: cl.simulate(cfg, seed=1, books=(Book([1.0], [1.0]),) * 3), "books", "n_platforms=2")


def test_index_out_of_range():
    expect(ValueError, lambda: small_world(platform_oracle=(0, 2)), "platform_oracle[1]", "[0, 1]", "got 2")
    expect(ValueError, lambda: small_world(platform_oracle=(-1, 0)), "platform_oracle[0]", "[0, 1]", "got -1")
    expect(TypeError, lambda: small_world(platform_oracle=(0, 1.0)), "platform_oracle[1]", "[0, 1]", "1.0")
    expect(ValueError, lambda: small_world(oracles=(OracleParams(sources=(0, 2)), OracleParams())),
           "oracles[0].sources", "venue index", "[0, 1]", "got 2")
    expect(ValueError, lambda: OracleParams(sources=(0, -1)), "sources", "venue indices", "-1")
    expect(ValueError, lambda: OracleParams(sources=(0, 1.5)), "sources", "1.5")
    expect(ValueError, lambda: OracleParams(sources=()), "sources", "non-empty", "()")
    expect(ValueError, lambda: OracleParams(sources=3), "sources", "3")
    expect(ValueError, lambda: small_world(oracle_faults=(cl.stale(2, 0, 3),)), "oracle fault oracle", "[0, 1]", "got 2")
    expect(ValueError, lambda: small_world(venue_faults=(cl.spike(2, 0, 3, 1.5),)), "venue fault venue", "[0, 1]", "got 2")
    cfg = dict(scenario=CrashScenario(n_steps=10), n_platforms=2, n_sources=3)  # 3 oracles, 9 venues
    expect(ValueError, lambda: Config(**cfg, oracle_faults=(cl.override(3, 0, 5, 2.0),)), "oracle", "[0, 2]", "got 3")
    expect(ValueError, lambda: Config(**cfg, venue_faults=(cl.freeze(9, 0, 5),)), "venue", "[0, 8]", "got 9")
    expect(ValueError, lambda: cl.stale(-1, 0, 5), "oracle", "[0, inf)", "got -1")
    expect(ValueError, lambda: cl.freeze(-2, 0, 5), "venue", "[0, inf)", "got -2")


def test_fault_window_outside_horizon():
    expect(ValueError, lambda: small_world(venue_faults=(cl.spike(0, 2, 7, 1.5),)), "venue fault window", "[0, 6]", "t1=7")
    expect(ValueError, lambda: small_world(oracle_faults=(cl.stale(0, 0, 100),)), "oracle fault window", "[0, 6]", "t1=100")
    expect(ValueError, lambda: Config(scenario=CrashScenario(n_steps=10), venue_faults=(cl.freeze(0, 5, 11),)),
           "window", "[0, 10]", "t1=11")
    expect(ValueError, lambda: Config(scenario=CrashScenario(n_steps=10), oracle_faults=(cl.stale(0, 9, 12),)),
           "window", "[0, 10]", "t1=12")
    expect(ValueError, lambda: cl.stale(0, 5, 5), "t0 < t1", "t0=5", "t1=5")
    expect(ValueError, lambda: cl.spike(0, 6, 2, 2.0), "t0 < t1", "t0=6", "t1=2")
    expect(ValueError, lambda: cl.stale(0, -1, 5), "t0", "[0, inf)", "got -1")
    expect(ValueError, lambda: cl.override(0, 0, 5, 0.0), "factor", "(0, inf)", "got 0.0")
    expect(ValueError, lambda: cl.spike(0, 0, 5, -2.0), "factor", "(0, inf)", "got -2.0")
    # a window that ends exactly at the horizon is inside it
    small_world(venue_faults=(cl.spike(0, 2, 6, 1.5),), oracle_faults=(cl.stale(1, 0, 6),))


def test_fault_kinds():
    expect(ValueError, lambda: VenueFault("explode", 0, 0, 5), "venue fault kind", "'spike'", "'explode'")
    expect(ValueError, lambda: OracleFault("lie", 0, 0, 5), "oracle fault kind", "'override'", "'lie'")
    expect(TypeError, lambda: small_world(venue_faults=(cl.stale(0, 0, 2),)), "venue_faults", "VenueFault", "OracleFault")
    expect(TypeError, lambda: Config(oracle_faults=(cl.spike(0, 0, 2, 2.0),)), "oracle_faults", "OracleFault", "VenueFault")


@pytest.mark.parametrize("c", [0.0, -1.0, -1e-300])
def test_non_positive_collateral(c):
    expect(ValueError, lambda: Book([1.0, c], [10.0, 10.0]), "collateral", "(0, inf)", f"got {c!r}", "index 1")


@pytest.mark.parametrize("d", [-1.0, -1e-12])
def test_negative_debt(d):
    expect(ValueError, lambda: Book([1.0, 1.0, 1.0], [10.0, 0.0, d]), "debt", "[0, inf)", f"got {d!r}", "index 2")


def test_zero_debt_is_valid():
    assert Book([1.0], [0.0]).n_accounts == 1


def test_world_member_kinds():
    expect(TypeError, lambda: small_world(platforms=(PlatformParams(), {"lt": 0.8})), "platforms[1]", "PlatformParams", "dict")
    expect(TypeError, lambda: small_world(books=(Book([1.0], [1.0]), ([1.0], [1.0]))), "books[1]", "Book", "tuple")
    expect(TypeError, lambda: small_world(oracles=(OracleParams(), "chainlink")), "oracles[1]", "OracleParams", "str")
    expect(ValueError, lambda: small_world(sync_window=0), "sync_window", "[1, inf)", "got 0")
    expect(ValueError, lambda: small_world(flow_window=2.5), "flow_window", "[1, inf)", "got 2.5")


def test_config_member_kinds():
    expect(TypeError, lambda: Config(platform={"lt": 0.8}), "platform", "PlatformParams", "dict")
    expect(TypeError, lambda: Config(market=2e8), "market", "MarketParams", "float")
    expect(TypeError, lambda: Config(population=None), "population", "PopulationParams", "NoneType")
    expect(TypeError, lambda: Config(shared_oracle=OracleRanges()), "shared_oracle", "OracleParams", "OracleRanges")
    expect(TypeError, lambda: Config(scenario=[2000.0, 1990.0]), "scenario", "list")
    expect(ValueError, lambda: Config(topology="ring"), "topology", "'shared_fraction'", "'ring'")


def test_simulate_rejects_a_non_config():
    expect(TypeError, lambda: cl.simulate({"sharing": 0.5}), "config", "Config", "dict")
    expect(TypeError, lambda: cl.simulate(PlatformParams()), "config", "Config", "PlatformParams")
    expect(TypeError, lambda: cl.build("classroom"), "config", "Config", "str")
    expect(TypeError, lambda: cl.run(Config()), "world", "World", "Config")


def test_simulate_rejects_a_bad_seed():
    cfg = Config(scenario=CrashScenario(n_steps=5), population=PopulationParams(n_accounts=3), n_platforms=1)
    expect(ValueError, lambda: cl.simulate(cfg, seed=-1), "seed", "non-negative", "-1")
    expect(TypeError, lambda: cl.simulate(cfg, seed="a"), "seed", "'a'", "str")
    expect(TypeError, lambda: cl.simulate(cfg, seed=1.5), "seed", "1.5", "float")
    expect(TypeError, lambda: cl.simulate(cfg, seed=True), "seed", "True")


def test_measures_reject_bad_windows_and_shapes():
    q = np.abs(np.random.default_rng(0).standard_normal((10, 3)))
    for fn in (liquidation_synchrony, peak_flow_share):
        expect(ValueError, lambda: fn(q, 0), "window", "[1, inf)", "got 0")
        expect(ValueError, lambda: fn(q, -3), "window", "[1, inf)", "got -3")
        expect(ValueError, lambda: fn(q, 2.5), "window", "[1, inf)", "got 2.5")
        expect(TypeError, lambda: fn(q, "5"), "window", "[1, inf)", "'5'")
        expect(ValueError, lambda: fn(q[:, 0], 1), "notional_tk", "(any, any)", "(10,)")
        expect(ValueError, lambda: fn(q[None], 1), "notional_tk", "(any, any)", "(1, 10, 3)")
        bad = q.copy()
        bad[4, 2] = np.nan
        expect(ValueError, lambda: fn(bad, 1), "notional_tk", "nan", "(4, 2)")
    p = np.full((5, 3), 100.0)
    expect(ValueError, lambda: twin_dispersion(p, [90.0, 90.0]), "threshold_k", "(3,)", "(2,)")
    expect(ValueError, lambda: twin_dispersion(p[:, 0], [90.0]), "price_tk", "(any, any)", "(5,)")
    expect(ValueError, lambda: twin_dispersion(p, [90.0, np.inf, 90.0]), "threshold_k", "inf", "index 1")
    expect(ValueError, lambda: excess_drawdown([0.0, np.nan]), "kappa_t", "nan", "index 1")
    expect(ValueError, lambda: excess_drawdown(np.zeros((2, 2))), "kappa_t", "(any,)", "(2, 2)")
    expect(ValueError, lambda: fundamental_drawdown([7.0, np.inf]), "x_t", "inf", "index 1")
    expect(TypeError, lambda: fundamental_drawdown("abc"), "x_t", "array of numbers", "str")


def test_measures_on_empty_records_give_documented_values():
    assert twin_dispersion(np.empty((0, 2)), [1.0, 1.0]) == (0.0, 0)
    assert peak_flow_share(np.empty((0, 2)), 3) == 0.0
    assert excess_drawdown([]) == 0.0
    assert fundamental_drawdown([]) == 0.0


def test_population_and_scenario_fields():
    expect(ValueError, lambda: PopulationParams(collateral_median=0.0), "collateral_median", "(0, inf)", "got 0.0")
    expect(ValueError, lambda: PopulationParams(health_sigma=-1.0), "health_sigma", "[0, inf)", "got -1.0")
    expect(ValueError, lambda: CrashScenario(depth=1.0), "depth", "[0, 1)", "got 1.0")
    expect(ValueError, lambda: CrashScenario(duration=0), "duration", "[1, inf)", "got 0")
    expect(ValueError, lambda: GBMScenario(sigma=-0.1), "sigma", "[0, inf)", "got -0.1")
    expect(ValueError, lambda: JumpScenario(jump_rate=1.5), "jump_rate", "[0, 1]", "got 1.5")
    expect(ValueError, lambda: Config(venue_sigma=-0.001), "venue_sigma", "[0, inf)", "got -0.001")
    expect(ValueError, lambda: Config(n_sources=0), "n_sources", "[1, inf)", "got 0")
    expect(ValueError, lambda: Config(probe_health=0.0), "probe_health", "(0, inf)", "got 0.0")


def test_replace_validates_again():
    p = PlatformParams()
    assert p.replace(lt=0.9).lt == 0.9
    expect(ValueError, lambda: p.replace(lt=2.0), "lt", "(0, 1]", "got 2.0")


def test_valid_inputs_are_not_mutated_or_aliased():
    c = np.array([1.0, 2.0])
    d = np.array([100.0, 200.0])
    book = Book(c, d)
    c[0] = -1.0
    assert book.collateral[0] == 1.0
    with pytest.raises(ValueError):
        book.collateral[0] = 5.0  # read-only: a Book cannot be changed after validation


def test_identical_books_must_be_a_bool():
    import pytest
    from coupling_lab import Config

    with pytest.raises(TypeError, match=r"identical_books must be True or False; got 'no'"):
        Config(identical_books="no")
    assert Config(identical_books=True).identical_books is True


# --------------------------------------------------------------------------
# several assets (MODEL.md §8; issue 10, point 6), explicitly
# --------------------------------------------------------------------------

def multi_world(**changes):
    """A valid 6-step world of 2 assets: venues 0, 1 quote asset 0 and venue 2 asset 1;
    provider 0 runs feed 0 (asset 0) and feed 1 (asset 1), provider 1 feed 2 (asset 0);
    platform 0 reads feeds (0, 1) and holds both assets, platform 1 reads feed 2."""
    kwargs = dict(
        x_ta=np.column_stack([np.log(2000.0) + np.linspace(0.0, -0.2, 6), np.log(30000.0) + np.linspace(0.0, -0.1, 6)]),
        venue_noise_tv=np.zeros((6, 3)),
        venue_asset=(0, 0, 1),
        oracles=(OracleParams(sources=(0,)), OracleParams(sources=(2,)), OracleParams(sources=(1,), theta=0.01)),
        oracle_provider=(0, 0, 1),
        platforms=(PlatformParams(lt_by_asset=(0.8, 0.75)), PlatformParams(lt=0.7)),
        platform_oracle=((0, 1), 2),
        books=(Book([1.0, 0.1], [1500.0, 2200.0], [0, 1]), Book([3.0], [4000.0])),
        market=(MarketParams(), MarketParams(depth=1e8)),
    )
    kwargs.update(changes)
    return World(**kwargs)


def two_channel_config(**changes):
    return Config(scenario=CrashScenario(n_steps=8), population=PopulationParams(n_accounts=5), n_platforms=2,
                  collateral_sharing=0.5, **changes)


def test_multi_world_is_valid_and_runs():
    res = cl.run(multi_world())
    assert res.kappa_ta.shape == (6, 2)
    assert set(res.events["asset"].tolist()) == {0, 1}


def test_factor_scenario_betas_of_the_wrong_shape():
    base = CrashScenario()
    expect(ValueError, lambda: cl.FactorScenario(base, n_assets=3, beta=(1.0,)), "beta", "one value per asset",
           "(2)", "got 1")
    expect(ValueError, lambda: cl.FactorScenario(base, n_assets=3, beta=np.ones(3)), "beta", "(2)", "got 3")
    expect(ValueError, lambda: cl.FactorScenario(base, n_assets=3, sigma=(0.1,)), "sigma", "(2)", "got 1")
    expect(ValueError, lambda: cl.FactorScenario(base, n_assets=4, price0=(100.0, 200.0)), "price0", "(3)", "got 2")
    expect(ValueError, lambda: cl.FactorScenario(base, n_assets=1), "n_assets", "[2, inf)", "got 1")
    # a 2-D beta with the right number of rows is a shape error too, not a type error with an array repr
    msg = expect(ValueError, lambda: cl.FactorScenario(base, n_assets=3, beta=np.ones((2, 1))), "beta", "(2, 1)")
    assert "array(" not in msg


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_nan_in_betas_sigmas_and_prices(bad):
    base = CrashScenario()
    expect(ValueError, lambda: cl.FactorScenario(base, n_assets=3, beta=(1.0, bad)), "beta[1]", "[-10, 10]", repr(bad))
    expect(ValueError, lambda: cl.FactorScenario(base, n_assets=3, beta=bad), "beta", "[-10, 10]", repr(bad))
    expect(ValueError, lambda: cl.FactorScenario(base, n_assets=3, sigma=(bad, 0.1)), "sigma[0]", "[0, inf)", repr(bad))
    expect(ValueError, lambda: cl.FactorScenario(base, n_assets=2, price0=bad), "price0", "(0, inf)", repr(bad))
    expect(ValueError, lambda: Config(beta=bad), "beta", "[-10, 10]", repr(bad))
    prices = np.full((4, 2), 100.0)
    prices[2, 1] = bad
    expect(ValueError, lambda: cl.PathScenario(prices), "prices", "(0, inf)", repr(bad), "(2, 1)")
    x = np.array(multi_world().paths_ta)
    x[3, 1] = bad
    expect(ValueError, lambda: multi_world(x_ta=x), "x_ta", repr(bad), "(3, 1)")
    noise = np.zeros((6, 3))
    noise[1, 2] = bad
    expect(ValueError, lambda: multi_world(venue_noise_tv=noise), "venue_noise_tv", repr(bad), "(1, 2)")
    x8 = np.full((8, 3), np.log(2000.0))
    x8[5, 2] = bad
    expect(ValueError, lambda: cl.build(two_channel_config(), seed=1, x_ta=x8), "x_ta", repr(bad), "(5, 2)")
    expect(ValueError, lambda: PlatformParams(lt_by_asset=(0.8, bad)), "lt_by_asset[1]", "(0, 1]", repr(bad))
    expect(ValueError, lambda: PlatformParams(bonus_by_asset=(bad,)), "bonus_by_asset[0]", "[0, 1]", repr(bad))
    expect(ValueError, lambda: MarketParams(depth=bad), "depth", "(0, inf)", repr(bad))
    expect(ValueError, lambda: Book([1.0, 2.0], [1.0, 1.0], [0, bad]), "asset", "[0, inf)", repr(bad), "index 1")


def test_paths_of_the_wrong_shape():
    expect(ValueError, lambda: cl.PathScenario([2000.0, 1990.0]), "prices", "(any, any)", "(2,)")
    expect(ValueError, lambda: cl.PathScenario(np.ones((2, 2, 2))), "prices", "(any, any)", "(2, 2, 2)")
    expect(ValueError, lambda: cl.PathScenario(np.ones((0, 2))), "prices", "at least 1 step", "(0, 2)")
    expect(ValueError, lambda: multi_world(x_ta=np.full(6, 7.0)), "x_ta", "(any, any)", "(6,)")
    # x_ta and venue_noise_tv must have the same number of steps
    expect(ValueError, lambda: multi_world(venue_noise_tv=np.zeros((5, 3))), "venue_noise_tv", "(6, any)", "(5, 3)")
    expect(ValueError, lambda: multi_world(x_t=np.full(6, 7.0)), "x_t", "x_ta[:, 0]", "differ")
    cfg = two_channel_config()
    expect(ValueError, lambda: cl.build(cfg, seed=1, x_ta=np.zeros((8, 2))), "x_ta", "(8, 3)", "(8, 2)")
    expect(ValueError, lambda: cl.build(cfg, seed=1, x_ta=np.zeros((7, 3))), "x_ta", "(8, 3)", "(7, 3)")
    expect(ValueError, lambda: cl.build(cfg, seed=1, x_ta=np.zeros(8)), "x_ta", "(8, 3)", "(8,)")
    expect(ValueError, lambda: cl.build(cfg, seed=1, x_t=np.zeros(8)), "x_t", "x_ta", "(n_steps, n_assets)")
    expect(ValueError, lambda: cl.build(cfg.replace(collateral_sharing=None), seed=1, x_ta=np.zeros((8, 3))),
           "x_ta", "collateral_sharing", "x_t")
    expect(ValueError, lambda: Config(scenario=cl.PathScenario(np.ones((5, 3))), n_platforms=5, collateral_sharing=0.5),
           "scenario", "n_platforms + 1 = 6", "got 3")
    expect(ValueError, lambda: Config(scenario=cl.PathScenario(np.ones((5, 3)))), "scenario", "collateral_sharing",
           "got None")


def test_asset_index_out_of_range_in_a_book_a_feed_or_a_venue():
    expect(ValueError, lambda: multi_world(books=(Book([1.0, 0.1], [1500.0, 2000.0], [0, 2]), Book([3.0], [4000.0]))),
           "books[0].asset", "[0, 1]", "got 2")
    expect(ValueError, lambda: Book([1.0, 0.1], [1500.0, 2000.0], [0, -1]), "asset", "[0, inf)", "-1", "index 1")
    msg = expect(ValueError, lambda: Book([1.0, 0.1], [1500.0, 2000.0], [0, 0.5]), "asset", "integers in [0, inf)",
                 "0.5", "index 1")
    assert "np.float64" not in msg
    expect(ValueError, lambda: Book([1.0, 0.1], [1500.0, 2000.0], [0, 1, 1]), "asset", "(2,)", "(3,)")
    expect(ValueError, lambda: multi_world(venue_asset=(0, 0, 2)), "venue_asset[2]", "[0, 1]", "got 2")
    expect(ValueError, lambda: multi_world(venue_asset=(0, -1, 1)), "venue_asset[1]", "[0, 1]", "got -1")
    expect(ValueError, lambda: multi_world(venue_asset=(0, 1)), "venue_asset", "n_venues=3", "got 2")
    expect(ValueError, lambda: multi_world(venue_asset=None), "venue_asset", "3 venues", "2 assets", "None")
    # a venue of an asset beyond the paths' columns
    expect(ValueError, lambda: multi_world(x_ta=np.full((6, 1), 7.0)), "venue_asset[2]", "[0, 0]", "got 1")
    # a feed: its sources must exist and quote one asset
    bad_src = (OracleParams(sources=(0,)), OracleParams(sources=(3,)), OracleParams(sources=(1,), theta=0.01))
    expect(ValueError, lambda: multi_world(oracles=bad_src), "oracles[1].sources", "[0, 2]", "got 3")
    mixed = (OracleParams(sources=(0, 2)), OracleParams(sources=(2,)), OracleParams(sources=(1,), theta=0.01))
    expect(ValueError, lambda: multi_world(oracles=mixed), "oracles[0].sources", "one asset", "(0, 1)")
    expect(ValueError, lambda: multi_world(platform_oracle=((0, 3), 2)), "platform_oracle[0][1]", "[0, 2]", "got 3")


def test_platform_reads_and_book_assets_must_match():
    # a platform reading a feed of an asset its book does not hold
    expect(ValueError, lambda: multi_world(platform_oracle=((0, 1), (2, 1))), "platform_oracle[1]", "feed 1",
           "asset 1", "books[1]", "(0,)")
    # a book account whose asset has no feed the platform reads
    expect(ValueError, lambda: multi_world(platform_oracle=(0, 2)), "platform_oracle[0]", "feed of asset 1",
           "books[0]", "feeds (0,)")
    books = (Book([1.0, 0.1], [1500.0, 2000.0], [0, 1]), Book([3.0, 1.0], [4000.0, 1.0], [0, 1]))
    expect(ValueError, lambda: multi_world(books=books), "platform_oracle[1]", "feed of asset 1", "books[1]")
    # two feeds of one asset
    expect(ValueError, lambda: multi_world(platform_oracle=((0, 2), 2)), "platform_oracle[0]", "one feed per asset",
           "(0, 2)", "(0, 0)")
    expect(ValueError, lambda: multi_world(platforms=(PlatformParams(lt_by_asset=(0.8,)), PlatformParams())),
           "platforms[0].lt_by_asset", "n_assets=2", "got 1")


def test_providers_and_provider_faults():
    expect(ValueError, lambda: multi_world(oracle_faults=(cl.stale_provider(2, 0, 3),)), "oracle fault provider",
           "[0, 1]", "got 2")
    expect(ValueError, lambda: multi_world(oracle_faults=(cl.override_provider(5, 0, 3, 0.9),)),
           "oracle fault provider", "[0, 1]", "got 5")
    expect(ValueError, lambda: multi_world(oracle_faults=(cl.stale(3, 0, 3),)), "oracle fault oracle", "[0, 2]", "got 3")
    expect(ValueError, lambda: multi_world(oracle_faults=(cl.stale_provider(1, 0, 7),)), "oracle fault window",
           "[0, 6]", "t1=7")
    expect(ValueError, lambda: cl.stale_provider(-1, 0, 3), "oracle", "[0, inf)", "got -1")
    expect(ValueError, lambda: OracleFault("stale", 0, 0, 3, scope="venue"), "scope", "'feed' or 'provider'", "'venue'")
    expect(ValueError, lambda: multi_world(oracle_provider=(0, 1)), "oracle_provider", "n_oracles=3", "got 2")
    expect(ValueError, lambda: multi_world(oracle_provider=(0, 0, -1)), "oracle_provider[2]", "[0, inf)", "got -1")
    expect(ValueError, lambda: multi_world(oracle_provider=(0, 0, 0)), "oracle_provider", "provider 0",
           "one feed per asset", "feeds 0 and 2")
    expect(ValueError, lambda: multi_world(oracle_provider=(0, 1, 1)), "oracle_provider", "provider 1",
           "theta, heartbeat and latency")
    # in a Config the providers are n_platforms + 1
    expect(ValueError, lambda: two_channel_config(oracle_faults=(cl.stale_provider(3, 0, 3),)),
           "oracle fault provider", "[0, 2]", "got 3")


@pytest.mark.parametrize("c", [-0.1, 1.5, -1e-12, 1 + 1e-12, math.nan, math.inf])
def test_collateral_sharing_outside_unit_interval(c):
    expect(ValueError, lambda: Config(collateral_sharing=c), "collateral_sharing", "[0, 1]", repr(c))
    expect(ValueError, lambda: cl.collateral_assets(c, 3), "collateral_sharing", "[0, 1]", repr(c))


def test_collateral_sharing_must_be_a_number_or_none():
    expect(TypeError, lambda: Config(collateral_sharing="half"), "collateral_sharing", "[0, 1]", "'half'")


def test_depth_or_resilience_per_asset_out_of_range():
    expect(ValueError, lambda: multi_world(market=(MarketParams(),)), "market", "one MarketParams per asset",
           "n_assets=2", "got 1")
    expect(ValueError, lambda: multi_world(market=(MarketParams(),) * 3), "market", "n_assets=2", "got 3")
    expect(TypeError, lambda: multi_world(market=(MarketParams(), 5)), "market[1]", "MarketParams", "int")
    expect(ValueError, lambda: multi_world(market=(MarketParams(), MarketParams(depth=-1.0))), "depth", "(0, inf)",
           "-1.0")
    expect(ValueError, lambda: multi_world(market=(MarketParams(resilience=1.5), MarketParams())), "resilience",
           "[0, 1]", "1.5")
    expect(ValueError, lambda: two_channel_config(own_market=MarketParams(depth=0.0)), "depth", "(0, inf)", "0.0")
    expect(TypeError, lambda: two_channel_config(own_market=5), "own_market", "MarketParams or None", "int")
    expect(ValueError, lambda: two_channel_config(asset_sigma=-1.0), "asset_sigma", "[0, inf)", "-1.0")
    expect(ValueError, lambda: two_channel_config(beta=11.0), "beta", "[-10, 10]", "11.0")
