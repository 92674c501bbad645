"""`opsdesk init` + `opsdesk serve` as a user runs them: real processes on a free port, embedded
defaults (SQLite database and SQLite broker), one SIGTERM/SIGINT stops web, worker and beat."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 40.0) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read()
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()
    return bool(state) and not state.startswith("Z")


@pytest.fixture(scope="module")
def initialised(tmp_path_factory):
    """A data directory after `opsdesk init`, as on a fresh machine (no OPSDESK_* settings)."""
    data_dir = tmp_path_factory.mktemp("serve") / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSDESK_", "DJANGO_"))}
    env["OPSDESK_DATA_DIR"] = str(data_dir)
    init = subprocess.run([BIN / "opsdesk", "init"], env=env, capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    assert "password:" in init.stdout
    assert (data_dir / "secret_key").stat().st_mode & 0o777 == 0o600
    assert data_dir.stat().st_mode & 0o777 == 0o700, "the data directory holds the database and secrets"
    return env


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_init_then_serve_answers_and_one_signal_stops_everything(initialised, stop_signal):
    env = initialised
    port = free_port()
    serve = subprocess.Popen([BIN / "opsdesk", "serve", "--port", str(port), "--web-workers", "1"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert b'"ok"' in wait_for(f"http://127.0.0.1:{port}/healthz")
        ready = wait_for(f"http://127.0.0.1:{port}/readyz")
        assert b'"database": {"ok": true' in ready and b'"broker": {"ok": true' in ready
        login = wait_for(f"http://127.0.0.1:{port}/accounts/login/")
        assert b"Log in" in login
        time.sleep(2)  # let worker and beat finish starting, so the stop is a real one
        children = children_of(serve.pid)
        assert len(children) == 3, "web, worker and beat"
        serve.send_signal(stop_signal)
        serve.wait(timeout=30)
        output = serve.stdout.read()
        assert serve.returncode == 0, output[-3000:]
        deadline = time.monotonic() + 10
        while any(alive(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(alive(c) for c in children), output[-3000:]
    finally:
        if serve.poll() is None:
            serve.kill()


def test_serve_logs_to_stdout(initialised):
    port = free_port()
    serve = subprocess.Popen([BIN / "opsdesk", "serve", "--port", str(port), "--web-workers", "1"], env=initialised,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
        time.sleep(3)
        serve.send_signal(signal.SIGTERM)
        out, err = serve.communicate(timeout=30)
    finally:
        if serve.poll() is None:
            serve.kill()
    assert "GET /healthz" in out, "web access log"
    assert "celery@" in out or "ready." in out, "worker log"
    assert "beat: Starting" in out, "beat log"
    assert err == "", err[-2000:]
