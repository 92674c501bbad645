"""Acceptance 4: a real nmap scan of 127.0.0.1 (Debian's nmap package) imports as a CI with its open
ports, and importing the same XML again changes nothing.

A listening socket on a free port makes the result deterministic; a second free port, closed again,
shows that closed ports are left out. Without nmap the test skips (a failure under OPSDESK_REQUIRE_ALL=1,
as in CI, whose .ci/run installs nmap)."""

import shutil
import socket
import subprocess

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from opsdesk.cmdb.models import ConfigurationItem, ImportRun

pytestmark = pytest.mark.integration
URL = "/api/v1/cmdb/imports/"


@pytest.fixture(autouse=True)
def _import_dir(settings, tmp_path):
    settings.CMDB_IMPORT_DIR = tmp_path / "imports"


@pytest.fixture
def listening_port():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scan(*ports: int) -> bytes:
    nmap = shutil.which("nmap")
    if nmap is None:
        pytest.skip("nmap is not installed (apt-get install nmap)")
    result = subprocess.run([nmap, "-oX", "-", "-sT", "-Pn", "-n", "-p", ",".join(map(str, ports)), "127.0.0.1"],
                            capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def test_real_nmap_scan_of_localhost_imports_as_a_ci_with_its_open_port(api, users, listening_port,
                                                                        django_capture_on_commit_callbacks):
    xml = scan(listening_port, closed_port())
    assert b"<nmaprun" in xml and f'portid="{listening_port}"'.encode() in xml
    client = api(users["manager"])

    def push():
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(URL, {"file": SimpleUploadedFile("scan.xml", xml), "dry_run": "false"},
                                   format="multipart")
        assert response.status_code == 202, response.content
        return ImportRun.objects.get(pk=response.json()["id"])

    first = push()
    assert (first.kind, first.status, first.created_count, first.error_count) == ("nmap", "done", 1, 0), first.report
    ci = ConfigurationItem.objects.get()
    assert ci.ip_addresses == ["127.0.0.1"] and ci.ci_class.slug == "server" and ci.discovery_source == "nmap"
    assert ci.attributes["open_ports"] == f"{listening_port}/tcp"
    assert ci.last_seen_at is not None

    second = push()
    assert (second.created_count, second.updated_count, second.unchanged_count) == (0, 0, 1), second.report
    assert ConfigurationItem.objects.count() == 1
