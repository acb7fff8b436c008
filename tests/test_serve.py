"""The class server's settings and its kernel manager's rules (no server started here;
the served app itself is driven in tests/test_app_browser.py)."""
from __future__ import annotations

import asyncio
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
    assert serve.memory_bound_mb(s) == serve.SERVER_MB + s.max_kernels * serve.MB_PER_KERNEL


def test_environment_overrides_and_bad_values():
    s = ClassSettings.from_env({"CL_MAX_KERNELS": "7", "CL_HOST": "0.0.0.0", "CL_CULL_IDLE_TIMEOUT": ""})
    assert (s.max_kernels, s.host, s.cull_idle_timeout) == (7, "0.0.0.0", ClassSettings().cull_idle_timeout)
    for field in ("max_kernels", "cull_idle_timeout", "port"):
        with pytest.raises(ValueError, match=field):
            ClassSettings(**{field: 0})


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


def test_cap_refuses_with_the_class_full_message():
    km = _manager(max_kernels=2)
    km._kernels.update(a=_idle_kernel(0), b=_idle_kernel(0))
    with pytest.raises(web.HTTPError) as refused:
        asyncio.run(km.start_kernel(kernel_name="python3"))
    assert refused.value.status_code == 503
    assert refused.value.reason == serve.class_full_message(2)
    assert km.live_kernel_count() == 2
