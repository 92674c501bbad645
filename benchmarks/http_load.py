"""Load a real `opsdesk serve` (gunicorn, web only) with wrk: /healthz and the authenticated API list.

wrk runs on the same machine as the server, so the two share the CPUs; the figures are a floor for
what the server does on its own hardware, and a baseline to compare runs on the same machine.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


@dataclass
class WrkResult:
    name: str
    url: str
    requests_per_second: float
    latency_ms: dict[str, float]
    requests: int
    non_2xx: int
    errors: str
    raw: str

    def as_dict(self) -> dict:
        return {"name": self.name, "url": self.url, "requests_per_second": self.requests_per_second,
                "latency_ms": self.latency_ms, "requests": self.requests, "non_2xx": self.non_2xx,
                "errors": self.errors}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _to_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    return float(match.group(1)) * UNITS_MS[match.group(2)] if match else float("nan")


def parse_wrk(name: str, url: str, output: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    latency = {f"p{pct}": _to_ms(value) for pct, value in re.findall(r"^\s+(\d+)%\s+(\S+)", output, re.M)}
    return WrkResult(name=name, url=url, requests_per_second=float(rps.group(1)) if rps else 0.0,
                     latency_ms=latency, requests=int(total.group(1)) if total else 0,
                     non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
                     errors=errors.group(0) if errors else "", raw=output)


@dataclass
class DownloadResult:
    name: str
    url: str
    seconds: float
    rows: int
    expected_rows: int
    status: str

    def as_dict(self) -> dict:
        return {"name": self.name, "url": self.url, "seconds": round(self.seconds, 2), "rows": self.rows,
                "expected_rows": self.expected_rows, "status": self.status}


def download_csv(base: str, session_cookie: str, expected_rows: int) -> DownloadResult:
    """The CSV export through gunicorn, as a browser gets it: is it complete, and how long does it take?"""
    request = urllib.request.Request(f"{base}/services/?export=csv", headers={"Cookie": f"sessionid={session_cookie}"})
    t0 = time.perf_counter()
    lines, status = 0, "complete"
    try:
        with urllib.request.urlopen(request, timeout=900) as response:
            for _line in response:
                lines += 1
    except Exception as exc:  # noqa: BLE001  (a cut connection is the finding, not a crash)
        status = f"cut off: {type(exc).__name__}: {exc}"
    rows = max(0, lines - 1)
    if status == "complete" and rows < expected_rows:
        status = "truncated (connection closed early)"
    return DownloadResult(name="GET /services/?export=csv (session)", url="/services/?export=csv",
                          seconds=time.perf_counter() - t0, rows=rows, expected_rows=expected_rows, status=status)


def run_http(env: dict, *, duration: int, connections: int, threads: int, web_workers: int, log_dir: Path,
             session_cookie: str = "", csv_rows: int = 0, log=print) -> list:
    wrk = shutil.which("wrk")
    if wrk is None:
        log("  wrk is not installed (apt-get install -y wrk); skipping the HTTP load test")
        return []
    bin_dir = Path(sys.executable).parent
    opsdesk = str(bin_dir / "opsdesk")
    token = subprocess.run([opsdesk, "token", "create", "admin", "--name", "bench-wrk"], env=env, check=True,
                           capture_output=True, text=True).stdout.strip().splitlines()[-1]
    port = _free_port()
    server_log = open(log_dir / "serve.log", "w")  # noqa: SIM115  (closed in finally)
    server = subprocess.Popen([opsdesk, "serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port),
                               "--web-workers", str(web_workers)], env=env, stdout=server_log,
                              stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    results = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"opsdesk serve did not come up; see {log_dir / 'serve.log'}")
            time.sleep(0.3)
        targets = [
            ("GET /healthz", f"{base}/healthz", []),
            ("GET /api/v1/services/ (bearer token)", f"{base}/api/v1/services/",
             ["-H", f"Authorization: Bearer {token}"]),
        ]
        for name, url, headers in targets:
            # A short warm-up, so the workers have imported everything and opened their connections.
            subprocess.run([wrk, "-t1", "-c2", "-d2s", *headers, url], capture_output=True, check=False)
            done = subprocess.run([wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
                                   *headers, url], capture_output=True, text=True, check=False)
            result = parse_wrk(name, url.replace(base, ""), done.stdout + done.stderr)
            results.append(result)
            latency = result.latency_ms
            log(f"  wrk {name:<40} {result.requests_per_second:8.1f} req/s  p50 {latency.get('p50', 0):.1f} ms"
                f"  p99 {latency.get('p99', 0):.1f} ms  non-2xx {result.non_2xx}")
        if session_cookie:
            download = download_csv(base, session_cookie, csv_rows)
            results.append(download)
            log(f"  {download.name}: {download.rows:,} of {download.expected_rows:,} rows in {download.seconds:.1f} s "
                f"({download.status})")
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                # `opsdesk serve` runs gunicorn in its own session: stop it by its id, then the parent.
                for child in _children(server.pid):
                    os.killpg(child, signal.SIGKILL)
                server.kill()
                server.wait()
        server_log.close()
    return results
