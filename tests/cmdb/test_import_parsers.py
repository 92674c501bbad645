"""Reading import files into rows: CSV (encodings, delimiters), XLSX written with openpyxl, real and
hand-made nmap XML, real and hand-made Ansible facts, and the refusals a user sees for bad files."""

import datetime
import json
import re
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from opsdesk.cmdb.import_parsers import (
    ImportFileError,
    as_date,
    as_decimal,
    as_hostname_list,
    as_ip_list,
    as_list,
    detect_kind,
    parse,
)

DATA = Path(__file__).parent / "data"


def write(tmp_path, name, content) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def values(parsed):
    return [(row.number, row.values, row.error) for row in parsed.rows]


# --- CSV ---------------------------------------------------------------------------------------------

def test_csv_with_bom_semicolons_quotes_and_blank_lines(tmp_path):
    text = '\ufeffname;ip;notes\n\nweb01;10.0.0.1;"a; b"\n;;\nweb02;;x\n'
    parsed = parse("csv", write(tmp_path, "a.csv", text))
    assert parsed.columns == ["name", "ip", "notes"], "the byte order mark is not part of the first column"
    assert values(parsed) == [(3, {"name": "web01", "ip": "10.0.0.1", "notes": "a; b"}, ""),
                              (5, {"name": "web02", "ip": None, "notes": "x"}, "")], "rows keep their line numbers"


def test_csv_in_windows_encoding_and_tabs(tmp_path):
    parsed = parse("csv", write(tmp_path, "a.csv", "name\tlocation\nsrv\tMünchen\n".encode("cp1252")))
    assert values(parsed) == [(2, {"name": "srv", "location": "München"}, "")]


def test_csv_row_with_more_cells_than_columns_is_a_row_error(tmp_path):
    parsed = parse("csv", write(tmp_path, "a.csv", "name,ip\na,1.1.1.1,surplus\nb,\n"))
    assert [row.error for row in parsed.rows] == ["The row has 1 more cells than the header has columns.", ""]


@pytest.mark.parametrize("content,message", [
    ("", "The file is empty."),
    (",,\n1,2,3\n", "The file has no header row"),
    ("name,Name\n", "The column “Name” appears twice"),
    ("name,,ip\n", "Column 2 of the header row has no name."),
    (b"\x00\x01\x02binary", "This is not a CSV file (it contains binary data)."),
    (b"PK\x03\x04rest-of-zip", "This is an Excel (XLSX) file, not CSV"),
])
def test_bad_csv_files_are_refused_with_a_sentence(tmp_path, content, message):
    with pytest.raises(ImportFileError, match=re.escape(message)):
        parse("csv", write(tmp_path, "a.csv", content))


# --- XLSX --------------------------------------------------------------------------------------------

def test_xlsx_written_with_openpyxl(tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append([])  # a blank first row: the header is the first row with values
    sheet.append(["Name", "Serial", "CPUs", "Memory", "Warranty end", "Virtual"])
    sheet.append(["db01", 123456, 16.0, 31.5, datetime.datetime(2027, 5, 31), False])
    sheet.append([None, None, None, None, None, None])
    sheet.append(["db02", "SN-2", 8, None, datetime.date(2026, 1, 2), True])
    path = tmp_path / "cis.xlsx"
    workbook.save(path)
    parsed = parse("xlsx", path)
    assert parsed.columns == ["Name", "Serial", "CPUs", "Memory", "Warranty end", "Virtual"]
    assert values(parsed) == [
        (3, {"Name": "db01", "Serial": 123456, "CPUs": 16, "Memory": 31.5, "Warranty end": datetime.date(2027, 5, 31),
             "Virtual": False}, ""),
        (5, {"Name": "db02", "Serial": "SN-2", "CPUs": 8, "Memory": None, "Warranty end": datetime.date(2026, 1, 2),
             "Virtual": True}, ""),
    ]
    assert [r.number for r in parse("xlsx", path, limit=1).rows] == [3]


@pytest.mark.parametrize("content,message", [
    (b"name,ip\nweb,1.1.1.1\n", "This is not an Excel (XLSX) file."),
    (b"PK\x03\x04 this zip is broken", "The Excel file cannot be read"),
])
def test_bad_xlsx_files_are_refused(tmp_path, content, message):
    with pytest.raises(ImportFileError, match=re.escape(message)):
        parse("xlsx", write(tmp_path, "a.xlsx", content))


# --- nmap --------------------------------------------------------------------------------------------

def test_real_nmap_output_of_localhost_with_os_detection():
    parsed = parse("nmap", DATA / "nmap_localhost_os.xml")
    assert values(parsed) == [(1, {"name": "localhost", "hostnames": ["localhost"], "ip_addresses": ["127.0.0.1"],
                                   "attr.open_ports": "18089/tcp", "attr.os": "Linux 5.0 - 5.2"}, "")]


def test_nmap_hosts_up_only_with_sorted_open_ports_and_best_os_guess():
    parsed = parse("nmap", DATA / "nmap_subnet.xml")
    assert values(parsed) == [
        (1, {"name": "web01.example.net", "hostnames": ["web01.example.net"], "ip_addresses": ["192.0.2.10"],
             "attr.open_ports": "22/tcp,161/udp,443/tcp", "attr.os": "Linux 5.0 - 5.4"}, ""),
        (2, {"name": "2001:db8::11", "hostnames": [], "ip_addresses": ["2001:db8::11"], "attr.open_ports": None,
             "attr.os": None}, ""),  # addresses in one spelling (IPv6 compressed)
    ]


@pytest.mark.parametrize("content,message", [
    ('<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><nmaprun>&lol2;</nmaprun>',
     "declares entities"),
    ("<nmaprun><host>", "The file is not valid XML"),
    ('<?xml version="1.0"?><catalog><book/></catalog>', "not nmap output"),
])
def test_bad_xml_is_refused(tmp_path, content, message):
    with pytest.raises(ImportFileError, match=re.escape(message)):
        parse("nmap", write(tmp_path, "scan.xml", content))


# --- Ansible -----------------------------------------------------------------------------------------

def test_real_ansible_setup_output_of_a_container():
    """Saved from `ansible localhost -m setup --connection=local` in a container: firmware facts are "NA"."""
    parsed = parse("ansible", DATA / "ansible_setup_localhost.txt")
    assert values(parsed) == [(1, {
        "name": "vm", "class": "virtual-machine", "hostnames": ["vm"], "ip_addresses": ["192.0.2.2"],
        "serial_number": None, "vendor": None, "model_name": None, "attr.os": "Debian", "attr.os_version": "12.11",
        "attr.cpu_count": 2, "attr.memory_gb": "23.5", "attr.disk_gb": "256.0",
        "attr.interfaces": "eth0 192.0.2.2, ifb0, ifb1"}, "")]


def test_ansible_facts_of_several_hosts_physical_and_virtual():
    parsed = parse("ansible", DATA / "ansible_facts_hosts.json")
    db01, app07 = (row.values for row in parsed.rows)
    assert db01 == {
        "name": "db01", "class": "server", "hostnames": ["db01", "db01.example.net"],
        "ip_addresses": ["10.20.0.11", "192.168.122.1"], "serial_number": "CZJ93104XY", "vendor": "HPE",
        "model_name": "ProLiant DL380 Gen10", "attr.os": "RedHat", "attr.os_version": "9.4", "attr.cpu_count": 64,
        "attr.memory_gb": "251.6", "attr.disk_gb": "4471.2", "attr.interfaces": "eno1 10.20.0.11, virbr0 192.168.122.1"}
    assert app07["class"] == "virtual-machine" and app07["attr.disk_gb"] == "40.0", "loop devices do not count"
    assert app07["vendor"] == "VMware, Inc."


@pytest.mark.parametrize("document", [
    {"ansible_facts": {"ansible_hostname": "solo"}},  # one host's setup result (--tree file)
    {"ansible_hostname": "solo", "ansible_memtotal_mb": 1024},  # a fact cache file
    [{"ansible_facts": {"ansible_hostname": "solo"}}],  # a list of results
])
def test_every_way_of_saving_facts_is_read(tmp_path, document):
    parsed = parse("ansible", write(tmp_path, "facts.json", json.dumps(document)))
    assert [row.values["name"] for row in parsed.rows] == ["solo"]


def test_ad_hoc_output_of_several_hosts(tmp_path):
    text = ('web1 | SUCCESS => {\n    "ansible_facts": {"ansible_hostname": "web1"},\n    "changed": false\n}\n'
            'web2 | SUCCESS => {\n    "ansible_facts": {"ansible_nodename": "web2"}\n}\n')
    assert [r.values["name"] for r in parse("ansible", write(tmp_path, "out.txt", text)).rows] == ["web1", "web2"]


@pytest.mark.parametrize("content,message", [
    ("{not json", "The file is not valid JSON"),
    ('{"hosts": [1, 2, 3]}', "No Ansible facts found"),
    (b"\xff\xfe\x00binary", "not UTF-8 text"),
])
def test_bad_facts_are_refused(tmp_path, content, message):
    with pytest.raises(ImportFileError, match=re.escape(message)):
        parse("ansible", write(tmp_path, "facts.json", content))


# --- kinds and values --------------------------------------------------------------------------------

@pytest.mark.parametrize("name,head,kind", [
    ("cis.csv", b"name,ip", "csv"), ("CIS.XLSX", b"PK\x03\x04", "xlsx"), ("export", b"PK\x03\x04", "xlsx"),
    ("scan.xml", b"<?xml", "nmap"), ("scan", b"\xef\xbb\xbf<?xml", "nmap"), ("facts.json", b"{", "ansible"),
    ("out.txt", b"web1 | SUCCESS => {", "ansible"), ("notes.doc", b"hello", None),
])
def test_detect_kind(name, head, kind):
    assert detect_kind(name, head) == kind


def test_cell_values():
    assert as_list("a, b;c  d,a") == ["a", "b", "c", "d"]
    assert as_hostname_list(["Web01.Example.net.", "web01.example.net"]) == ["web01.example.net"]
    assert as_ip_list("10.0.0.1 2001:DB8:0:0::1") == ["10.0.0.1", "2001:db8::1"]
    with pytest.raises(ValueError, match="“10.0.0.256” is not an IP address"):
        as_ip_list("10.0.0.256")
    assert as_date("2026-03-01T10:00:00") == datetime.date(2026, 3, 1)
    assert as_date(datetime.datetime(2026, 3, 1, 10)) == datetime.date(2026, 3, 1)
    assert as_decimal("1 200.50") == Decimal("1200.50")
    with pytest.raises(ValueError, match="Expected a number"):
        as_decimal("NaN")
