"""The class server's settings and its kernel manager's rules (no server started here;
the served app itself is driven in tests/test_app_browser.py)."""
from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from tornado import web

from coupling_lab import serve
from coupling_lab.serve import ClassroomKernelManager, ClassSettings, redact, voila_argv


def test_defaults_are_safe_for_a_class():
    s = ClassSettings()
    assert s.host == "127.0.0.1"
    args = voila_argv(s)
    for flag in ("--VoilaConfiguration.show_tracebacks=False", "--VoilaConfiguration.strip_sources=True",
                 "--VoilaConfiguration.allow_template_override=NO", "--VoilaConfiguration.preheat_kernel=False",
                 f"--ClassroomKernelManager.max_kernels={s.max_kernels}", "--Voila.ip=127.0.0.1",
                 "--Voila.kernel_websocket_connection_class=coupling_lab.serve.ClassroomWebsocketConnection"):
        assert flag in args
    for flag in (f"--ClassroomKernelManager.kernel_memory_mb={s.kernel_memory_mb}",
                 f"--ClassroomKernelManager.connect_timeout={s.connect_timeout}",
                 "--ClassroomKernelManager.max_kernels_per_address=0",
                 "--ClassroomKernelManager.kernel_manager_class=coupling_lab.serve.LimitedKernelManager",
                 "--KernelRestarter.restart_limit=0"):
        assert flag in args
    assert serve.memory_bound_mb(s) == serve.SERVER_MB + s.max_kernels * s.kernel_memory_mb
    assert serve.typical_memory_mb(s) == serve.SERVER_MB + s.max_kernels * serve.MB_PER_KERNEL


def test_environment_overrides_and_bad_values():
    s = ClassSettings.from_env({"CL_MAX_KERNELS": "7", "CL_HOST": "0.0.0.0", "CL_CULL_IDLE_TIMEOUT": ""})
    assert (s.max_kernels, s.host, s.cull_idle_timeout) == (7, "0.0.0.0", ClassSettings().cull_idle_timeout)
    for field in ("max_kernels", "cull_idle_timeout", "port", "connect_timeout"):
        with pytest.raises(ValueError, match=field):
            ClassSettings(**{field: 0})
    with pytest.raises(ValueError, match="max_kernels_per_address"):
        ClassSettings(max_kernels_per_address=-1)
    with pytest.raises(ValueError, match="kernel_memory_mb"):
        ClassSettings(kernel_memory_mb=100)
    s = ClassSettings.from_env({"CL_MAX_KERNELS_PER_ADDRESS": "2", "CL_KERNEL_MEMORY_MB": "2048",
                                "CL_CONNECT_TIMEOUT": "45"})
    assert (s.max_kernels_per_address, s.kernel_memory_mb, s.connect_timeout) == (2, 2048, 45)


def test_redact_keeps_no_traceback_or_path():
    assert redact("Traceback (most recent call last):\n  File \"/srv/x.py\", line 1") == serve.HIDDEN_ERROR + "\n"
    out = redact("/home/teacher/lab/.venv/lib/python3.11/site-packages/a.py:3: UserWarning: x")
    assert "/home" not in out and "site-packages" not in out and "UserWarning: x" in out


class _Kernel(SimpleNamespace):
    pass


def _manager(max_kernels=2, idle=120, connected=1800):
    km = ClassroomKernelManager(max_kernels=max_kernels, cull_idle_timeout=idle, cull_connected_timeout=connected)
    km.shut = []

    async def shutdown_kernel(kernel_id, *a, **k):
        km.shut.append(kernel_id)
        km._kernels.pop(kernel_id, None)

    km.shutdown_kernel = shutdown_kernel
    return km


def _idle_kernel(seconds):
    return _Kernel(execution_state="idle", kernel_name="python3", kernel_spec=SimpleNamespace(metadata={}),
                   last_activity=datetime.now(timezone.utc) - timedelta(seconds=seconds))


@pytest.mark.parametrize("connections, idle_s, culled", [
    (0, 60, False),     # page closed a minute ago: kept until cull_idle_timeout (120 s)
    (0, 130, True),     # page closed, idle past 120 s: culled
    (1, 600, False),    # page open, untouched for 10 min: kept (cull_connected_timeout 1800 s)
    (1, 1900, True),    # page open but untouched past 30 min: culled
])
def test_two_idle_timeouts(connections, idle_s, culled):
    km = _manager()
    km._kernels["k"] = _idle_kernel(idle_s)
    km._kernel_connections["k"] = connections
    asyncio.run(km.cull_kernel_if_idle("k"))
    assert (km.shut == ["k"]) is culled


def test_a_kernel_kept_busy_by_a_script_is_culled_at_its_maximum_age():
    """A page that sends one message every half hour keeps no place for ever (issue 15, finding 5)."""
    km = _manager()
    km.max_kernel_age = 14400
    km._kernels["old"] = _idle_kernel(60)      # used a minute ago ...
    km._kernel_connections["old"] = 1          # ... by a connected page
    km._started["old"] = datetime.now(timezone.utc) - timedelta(seconds=14500)
    km._kernels["young"] = _idle_kernel(60)
    km._kernel_connections["young"] = 1
    km._started["young"] = datetime.now(timezone.utc) - timedelta(seconds=3600)
    asyncio.run(km.cull_kernel_if_idle("old"))
    asyncio.run(km.cull_kernel_if_idle("young"))
    assert km.shut == ["old"]


def test_cap_refuses_with_the_class_full_message():
    km = _manager(max_kernels=2)
    km._kernels.update(a=_idle_kernel(0), b=_idle_kernel(0))
    with pytest.raises(web.HTTPError) as refused:
        asyncio.run(km.start_kernel(kernel_name="python3"))
    assert refused.value.status_code == 503
    assert refused.value.reason == serve.class_full_message(2)
    assert km.live_kernel_count() == 2


class _StartingManager(ClassroomKernelManager):
    """The parent class's start, as jupyter_client does it: the kernel is in
    ``_kernels`` while the start still awaits further steps."""

    async def _parent_start(self, kernel_id, **kwargs):
        await asyncio.sleep(0.01)
        self._kernels[kernel_id] = _idle_kernel(0)
        await asyncio.sleep(0.05)  # jupyter_server's post-start steps
        return kernel_id


def _starting_manager(**kw):
    km = _StartingManager(**kw)

    async def parent(self, *, kernel_id=None, path=None, **kwargs):
        return await self._parent_start(kernel_id, **kwargs)

    km._watch_first_connection = lambda kernel_id: None
    return km, parent


def test_cap_counts_a_starting_kernel_once(monkeypatch):
    """30 simultaneous pages on a cap of 10: exactly 10 kernels (issue 15, finding 8)."""
    from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

    km, parent = _starting_manager(max_kernels=10)
    monkeypatch.setattr(AsyncMappingKernelManager, "start_kernel", parent)

    async def burst():
        return await asyncio.gather(*(km.start_kernel(kernel_name="python3") for _ in range(30)),
                                    return_exceptions=True)

    results = asyncio.run(burst())
    started = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, web.HTTPError)]
    assert len(started) == 10 and len(refused) == 20
    assert km.live_kernel_count() == 10


def test_per_address_cap(monkeypatch):
    from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

    km, parent = _starting_manager(max_kernels=10, max_kernels_per_address=2)
    monkeypatch.setattr(AsyncMappingKernelManager, "start_kernel", parent)

    async def visit(address, n):
        serve.client_address.set(address)
        return await asyncio.gather(*(km.start_kernel(kernel_name="python3") for _ in range(n)),
                                    return_exceptions=True)

    async def both():
        return await visit("10.0.0.1", 4), await visit("10.0.0.2", 1)

    a, b = asyncio.run(both())
    assert sum(isinstance(r, str) for r in a) == 2
    refusals = [r for r in a if isinstance(r, web.HTTPError)]
    assert len(refusals) == 2 and refusals[0].status_code == 503
    assert refusals[0].reason == serve.address_full_message(2)
    assert all(isinstance(r, str) for r in b)


def test_kernel_memory_ceiling_stops_a_large_allocation():
    """The launch wrapper's address-space limit: a 2 GB allocation fails, a small one works."""
    import subprocess
    import sys

    code = "import sys; x = bytearray(int(sys.argv[1]) * 2**20); print('allocated')"
    small = subprocess.run(serve.limit_command(700, [sys.executable, "-c", code, "50"]),
                           capture_output=True, text=True, timeout=60)
    big = subprocess.run(serve.limit_command(700, [sys.executable, "-c", code, "2000"]),
                         capture_output=True, text=True, timeout=60)
    assert small.returncode == 0 and "allocated" in small.stdout
    assert big.returncode != 0 and "MemoryError" in big.stderr
    with pytest.raises(ValueError, match="64 MB"):
        serve.kernel_limit_main(["10", "--", "true"])


def test_v1_frames_are_checked_before_parsing():
    from jupyter_server.services.kernels.connection.base import serialize_msg_to_ws_v1

    good = serialize_msg_to_ws_v1([b"{}", b"{}", b"{}", b"{}", b"buf"], "shell")
    assert serve.parse_v1_frame(good) == ("shell", [b"{}", b"{}", b"{}", b"{}", b"buf"])
    bad = [
        (16_000_000).to_bytes(8, "little") + bytes(8),     # issue 15 finding 2
        good[:-1],                                         # last offset past the end
        good[:8] + (3).to_bytes(8, "little") + good[16:],  # first offset inside the table
        serialize_msg_to_ws_v1([b"{}"] * 4, "nope"),       # unknown channel
        "text frame",
    ]
    for frame in bad:
        with pytest.raises(ValueError, match="v1 frame"):
            serve.parse_v1_frame(frame)


@pytest.mark.parametrize("content, expected", [
    ({"type": "resize", "width": 800, "height": 500}, {"type": "resize", "width": 800, "height": 500}),
    ({"type": "resize", "width": 65535, "height": 10}, {"type": "resize", "width": 2000, "height": 10}),
    ({"type": "resize", "width": float("nan"), "height": 10}, None),
    ({"type": "set_device_pixel_ratio", "device_pixel_ratio": 2}, {"type": "set_device_pixel_ratio",
                                                                  "device_pixel_ratio": 2.0}),
    ({"type": "set_dpi_ratio", "dpi_ratio": 0.01}, {"type": "set_dpi_ratio", "dpi_ratio": 0.5}),
    ({"type": "draw"}, {"type": "draw"}),
    ({"type": "nope"}, None),
    ({"type": "toolbar_button", "name": "home"}, None),
])
def test_canvas_messages_are_bounded(content, expected):
    assert serve.check_canvas_message(content) == expected


def test_landing_cards_cover_every_lesson():
    from coupling_lab import landing

    lessons = serve.lesson_paths()
    cards = landing.lesson_cards(lessons)
    assert [c["number"] for c in cards] == [p.name.split("-")[0] for p in lessons]
    for card in cards:
        assert card["number"] in landing.LESSON_CARDS, f"lesson {card['number']} has no card text"
        assert card["title"] and card["idea"] and card["first"] and card["minutes"]
        assert "·" not in card["title"] and not card["title"][:2].isdigit()
    # a lettered lesson (02b) and a later one, as main's notebooks/ has them
    assert landing._NUMBER.match("02b-two-channels.ipynb").group(1) == "02b"
    assert {"02b", "08"} <= set(landing.LESSON_CARDS)
    page = landing.landing_page(lessons)
    assert page.count('class="card"') == len(lessons)
    assert f'href="/{landing.GUIDE_PATH}"' in page


def test_the_server_builds_the_compiled_loops_cache_first(monkeypatch, capsys):
    from coupling_lab import serve

    calls = []

    class Done:
        returncode, stderr = 0, ""

    monkeypatch.setattr(serve.subprocess, "run", lambda argv, **kw: calls.append(argv) or Done())
    serve.warm_compiled_loop()
    assert calls == [[sys.executable, "-m", "coupling_lab.cache"]]
    assert capsys.readouterr().out == ""  # quick and fine: nothing to say

    class Failed:
        returncode, stderr = 1, "Traceback (most recent call last):\nImportError: no numba"

    monkeypatch.setattr(serve.subprocess, "run", lambda argv, **kw: Failed())
    serve.warm_compiled_loop()
    out = capsys.readouterr().out
    assert "could not build the compiled step loop's cache" in out and out.rstrip().endswith("ImportError: no numba")
    assert "Traceback" not in out
