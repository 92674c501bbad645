"""Reading import files into rows: CSV, XLSX, nmap XML, Ansible facts and rows pushed through the API.

Every reader returns a `ParsedFile`: the column names and the rows, each row a dict of column -> value
with its row number as the user would find it (the line of a spreadsheet, the host's position in a
scan). A file that cannot be read at all raises `ImportFileError` with a sentence for the user; a
single row that is wrong carries its own `error` and the import goes on with the others.

nmap and Ansible rows already use the CI's field names as columns ("name", "hostnames", "ip_addresses",
"attr.open_ports", ...), so they need no mapping.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

from django.utils.translation import gettext as _

SAMPLE_ROWS = 5
TRUE_WORDS = {"1", "true", "yes", "on", "y"}
ZIP_MAGIC = b"PK\x03\x04"


class ImportFileError(ValueError):
    """The file cannot be read as the kind it claims to be; the message is for the user."""


@dataclass
class ParsedRow:
    number: int
    values: dict
    error: str = ""


@dataclass
class ParsedFile:
    columns: list[str]
    rows: list[ParsedRow] = field(default_factory=list)


def detect_kind(file_name: str, head: bytes) -> str | None:
    """Guess the kind of an uploaded file from its name and first bytes (None: cannot tell)."""
    suffix = Path(file_name or "").suffix.lower()
    if head.startswith(ZIP_MAGIC) or suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if suffix == ".xml" or text.startswith(b"<"):
        return "nmap"
    if suffix == ".json" or text.startswith((b"{", b"[")) or re.match(rb"^\S+ \| (SUCCESS|CHANGED) =>", text):
        return "ansible"
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    return None


def parse(kind: str, path: Path, *, limit: int | None = None) -> ParsedFile:
    """Read the file at `path` as `kind`; `limit` stops after that many rows (previews)."""
    readers = {"csv": read_csv, "xlsx": read_xlsx, "nmap": read_nmap, "ansible": read_ansible, "rows": read_rows}
    if kind not in readers:
        raise ImportFileError(_("Unknown import kind “%(kind)s”.") % {"kind": kind})
    return readers[kind](Path(path), limit=limit)


# --- tables: CSV, XLSX and pushed rows ------------------------------------------------------------------

def _header(cells) -> list[str]:
    columns = [str(c).strip() if c is not None else "" for c in cells]
    while columns and not columns[-1]:
        columns.pop()
    if not any(columns):
        raise ImportFileError(_("The file has no header row: the first row must name the columns."))
    seen = set()
    for index, column in enumerate(columns):
        if not column:
            raise ImportFileError(_("Column %(n)s of the header row has no name.") % {"n": index + 1})
        if column.lower() in seen:
            raise ImportFileError(_("The column “%(column)s” appears twice in the header row.") % {"column": column})
        seen.add(column.lower())
    return columns


def _table_row(columns: list[str], number: int, cells) -> ParsedRow | None:
    cells = list(cells)
    if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
        return None  # blank lines are not rows
    row = ParsedRow(number, {column: cells[i] if i < len(cells) else None for i, column in enumerate(columns)})
    extra = [c for c in cells[len(columns):] if c is not None and str(c).strip()]
    if extra:
        row.error = _("The row has %(n)s more cells than the header has columns.") % {"n": len(extra)}
    return row


def _decode(data: bytes) -> str:
    if b"\x00" in data[:4096]:
        raise ImportFileError(_("This is not a CSV file (it contains binary data)."))
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def read_csv(path: Path, *, limit: int | None = None) -> ParsedFile:
    data = path.read_bytes()
    if data.startswith(ZIP_MAGIC):
        raise ImportFileError(_("This is an Excel (XLSX) file, not CSV: choose the Excel kind."))
    text = _decode(data)
    if not text.strip():
        raise ImportFileError(_("The file is empty."))
    sample = text[:16384]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        columns = _header(next(reader))
        parsed = ParsedFile(columns)
        for cells in reader:
            row = _table_row(columns, reader.line_num, [c if c.strip() else None for c in cells])
            if row is not None:
                parsed.rows.append(row)
                if limit is not None and len(parsed.rows) >= limit:
                    break
    except csv.Error as exc:
        raise ImportFileError(_("The CSV file cannot be read near line %(line)s: %(error)s")
                              % {"line": reader.line_num, "error": exc}) from None
    return parsed


def _cell(value):
    """Spreadsheet cells as the importer expects them: whole floats as ints, midnight datetimes as dates."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, datetime.datetime) and value.time() == datetime.time(0):
        return value.date()
    if isinstance(value, str):
        return value if value.strip() else None
    return value


def read_xlsx(path: Path, *, limit: int | None = None) -> ParsedFile:
    import openpyxl

    with path.open("rb") as handle:
        if not handle.read(4).startswith(ZIP_MAGIC):
            raise ImportFileError(_("This is not an Excel (XLSX) file."))
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise ImportFileError(_("The Excel file cannot be read: %(error)s") % {"error": exc}) from None
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None:
            raise ImportFileError(_("The Excel file has no worksheet."))
        rows = sheet.iter_rows(values_only=True)
        columns, parsed = None, None
        for number, cells in enumerate(rows, start=1):
            cells = [_cell(c) for c in cells]
            if columns is None:
                if all(c is None for c in cells):
                    continue
                columns = _header(cells)
                parsed = ParsedFile(columns)
                continue
            row = _table_row(columns, number, cells)
            if row is not None:
                parsed.rows.append(row)
                if limit is not None and len(parsed.rows) >= limit:
                    break
    finally:
        workbook.close()
    if parsed is None:
        raise ImportFileError(_("The first worksheet is empty."))
    return parsed


def read_rows(path: Path, *, limit: int | None = None) -> ParsedFile:
    """Rows pushed through the API, stored as a JSON list of objects."""
    try:
        rows = json.loads(path.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImportFileError(_("The rows are not valid JSON: %(error)s") % {"error": exc}) from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ImportFileError(_("The rows must be a list of objects."))
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(str(k) for k in row))
    parsed = ParsedFile(list(columns))
    for number, row in enumerate(rows[:limit] if limit is not None else rows, start=1):
        parsed.rows.append(ParsedRow(number, {str(k): v for k, v in row.items()}))
    return parsed


# --- nmap XML (`nmap -oX`) -------------------------------------------------------------------------------

NMAP_COLUMNS = ["name", "hostnames", "ip_addresses", "attr.open_ports", "attr.os"]


def read_nmap(path: Path, *, limit: int | None = None) -> ParsedFile:
    data = path.read_bytes()
    # nmap writes `<!DOCTYPE nmaprun>` without entities; a file that declares entities is not nmap's
    # and could expand without bound ("billion laughs"), so it is refused before parsing.
    if re.search(rb"<!ENTITY", data, re.IGNORECASE):
        raise ImportFileError(_("The XML file declares entities, which nmap output never does; it is refused."))
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise ImportFileError(_("The file is not valid XML: %(error)s") % {"error": exc}) from None
    if root.tag != "nmaprun":
        raise ImportFileError(_("This XML file is not nmap output (run nmap with -oX)."))
    parsed = ParsedFile(list(NMAP_COLUMNS))
    for number, host in enumerate(root.iter("host"), start=1):
        status = host.find("status")
        if status is None or status.get("state") != "up":
            continue
        parsed.rows.append(ParsedRow(number, nmap_host(host)))
        if limit is not None and len(parsed.rows) >= limit:
            break
    return parsed


def nmap_host(host) -> dict:
    addresses = [a.get("addr", "").strip() for a in host.findall("address") if a.get("addrtype") in ("ipv4", "ipv6")]
    try:
        addresses = as_ip_list([a for a in addresses if a])
    except ValueError:
        addresses = [a for a in addresses if a]  # the import reports the bad address on the row
    hostnames = []
    for hostname in host.findall("hostnames/hostname"):
        name = (hostname.get("name") or "").strip().lower().rstrip(".")
        if name and name not in hostnames:
            hostnames.append(name)
    row = {"name": hostnames[0] if hostnames else (addresses[0] if addresses else None),
           "hostnames": hostnames, "ip_addresses": addresses, "attr.open_ports": None, "attr.os": None}
    ports = host.find("ports")
    if ports is not None:
        open_ports = [(int(p.get("portid", "0")), p.get("protocol", "tcp")) for p in ports.findall("port")
                      if p.find("state") is not None and p.find("state").get("state") == "open"]
        row["attr.open_ports"] = ",".join(f"{port}/{proto}" for port, proto in sorted(set(open_ports))) or None
    matches = [(int(m.get("accuracy") or 0), m.get("name") or "") for m in host.findall("os/osmatch")]
    if matches:
        best = max(matches, key=lambda m: m[0])  # max() keeps nmap's order among equal accuracies
        row["attr.os"] = best[1] or None
    return row


# --- Ansible facts ---------------------------------------------------------------------------------------

ANSIBLE_COLUMNS = ["name", "class", "hostnames", "ip_addresses", "serial_number", "vendor", "model_name",
                   "attr.os", "attr.os_version", "attr.cpu_count", "attr.memory_gb", "attr.disk_gb", "attr.interfaces"]
# Values firmware and containers report when they do not know.
UNKNOWN = {"", "na", "n/a", "none", "null", "0", "unknown", "not specified", "to be filled by o.e.m.",
           "default string", "system serial number", "system product name", "system manufacturer"}
AD_HOC = re.compile(r"^(\S+) \| (?:SUCCESS|CHANGED) => ", re.MULTILINE)
VIRTUAL_DEVICES = ("loop", "ram", "zram", "sr", "dm-", "md", "nbd", "fd")


def _facts_documents(text: str) -> list[tuple[str, dict]]:
    """(host, facts) for every host in the text, whichever way it was saved."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if AD_HOC.match(stripped):  # the output of `ansible HOSTS -m setup` as printed
        decoder, found = json.JSONDecoder(), []
        for match in AD_HOC.finditer(stripped):
            try:
                document, _end = decoder.raw_decode(stripped, match.end())
            except ValueError as exc:
                raise ImportFileError(_("The facts of %(host)s are not valid JSON: %(error)s")
                                      % {"host": match.group(1), "error": exc}) from None
            found.extend(_facts_in(document, match.group(1)))
        return found
    try:
        document = json.loads(stripped)
    except ValueError as exc:
        raise ImportFileError(_("The file is not valid JSON: %(error)s") % {"error": exc}) from None
    return _facts_in(document, "")


def _facts_in(document, host: str) -> list[tuple[str, dict]]:
    if isinstance(document, list):
        return [found for item in document for found in _facts_in(item, host)]
    if not isinstance(document, dict):
        return []
    if isinstance(document.get("ansible_facts"), dict):  # setup module result (ad hoc, --tree)
        return [(host, document["ansible_facts"])]
    if any(str(k).startswith("ansible_") for k in document):  # fact cache file: the facts themselves
        return [(host, document)]
    found = []
    for key, value in document.items():  # {host: {"ansible_facts": ...}} or {host: facts}
        if isinstance(value, dict):
            found.extend(_facts_in(value, str(key)))
    return found


def read_ansible(path: Path, *, limit: int | None = None) -> ParsedFile:
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError:
        raise ImportFileError(_("The file is not UTF-8 text, so it is not Ansible facts.")) from None
    documents = _facts_documents(text)
    if not documents:
        raise ImportFileError(_("No Ansible facts found: save the output of `ansible HOST -m setup` (or a fact "
                                "cache file) as JSON."))
    parsed = ParsedFile(list(ANSIBLE_COLUMNS))
    for number, (host, facts) in enumerate(documents, start=1):
        row = ParsedRow(number, ansible_row(facts, host))
        if not row.values.get("name"):
            row.error = _("These facts have no host name (ansible_hostname).")
        parsed.rows.append(row)
        if limit is not None and len(parsed.rows) >= limit:
            break
    return parsed


def _known(value) -> str | None:
    text = str(value).strip() if value is not None else ""
    return None if text.lower() in UNKNOWN else text


def _gb(size_bytes) -> str | None:
    if not size_bytes:
        return None
    return str((Decimal(size_bytes) / (1024 ** 3)).quantize(Decimal("0.1")))


def _disk_bytes(facts: dict) -> int:
    devices = facts.get("ansible_devices")
    total = 0
    if isinstance(devices, dict):
        for name, device in devices.items():
            if name.startswith(VIRTUAL_DEVICES) or not isinstance(device, dict):
                continue
            try:
                total += int(device.get("sectors") or 0) * int(device.get("sectorsize") or 512)
            except (TypeError, ValueError):
                continue
    if total:
        return total
    mounts = facts.get("ansible_mounts")
    seen = {}
    for mount in mounts if isinstance(mounts, list) else []:
        if isinstance(mount, dict) and mount.get("device") and isinstance(mount.get("size_total"), int):
            seen[mount["device"]] = mount["size_total"]  # one file system mounted twice counts once
    return sum(seen.values())


def ansible_row(facts: dict, host: str = "") -> dict:
    hostname = _known(facts.get("ansible_hostname")) or _known(facts.get("ansible_nodename")) or _known(host)
    hostname = hostname.lower() if hostname else None
    hostnames = []
    for name in (hostname, _known(facts.get("ansible_fqdn"))):
        name = (name or "").lower().rstrip(".")
        if name and not name.startswith("localhost") and name not in hostnames:
            hostnames.append(name)
    addresses = [a for a in facts.get("ansible_all_ipv4_addresses") or [] if isinstance(a, str) and a]
    vcpus = facts.get("ansible_processor_vcpus")
    if not isinstance(vcpus, int):
        counts = [facts.get(k) for k in ("ansible_processor_count", "ansible_processor_cores",
                                         "ansible_processor_threads_per_core")]
        vcpus = counts[0] * counts[1] * counts[2] if all(isinstance(c, int) for c in counts) else None
    memory = facts.get("ansible_memtotal_mb")
    interfaces = []
    for name in sorted(facts.get("ansible_interfaces") or []):
        detail = facts.get(f"ansible_{str(name).replace('-', '_')}") or {}
        address = (detail.get("ipv4") or {}).get("address") if isinstance(detail, dict) else None
        if name != "lo":
            interfaces.append(f"{name} {address}" if address else str(name))
    guest = facts.get("ansible_virtualization_role") == "guest"
    return {
        "name": hostname,
        "class": "virtual-machine" if guest else "server",
        "hostnames": hostnames,
        "ip_addresses": addresses,
        "serial_number": _known(facts.get("ansible_product_serial")),
        "vendor": _known(facts.get("ansible_system_vendor")),
        "model_name": _known(facts.get("ansible_product_name")),
        "attr.os": _known(facts.get("ansible_distribution")),
        "attr.os_version": _known(facts.get("ansible_distribution_version")),
        "attr.cpu_count": vcpus,
        "attr.memory_gb": _gb(memory * 1024 * 1024) if isinstance(memory, int) else None,
        "attr.disk_gb": _gb(_disk_bytes(facts)),
        "attr.interfaces": ", ".join(interfaces) or None,
    }


# --- cell values -> field values ---------------------------------------------------------------------------

def is_blank(value) -> bool:
    """An empty cell is "not given": an import never clears a field with it."""
    return value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, list | tuple)
                                                                               and not value)


def as_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value).strip()


def as_list(value, separators: str = r"[,;\s]+") -> list[str]:
    """A list cell: a JSON list (pushed rows, parsers) or text separated by commas, semicolons or spaces."""
    items = value if isinstance(value, list | tuple) else re.split(separators, as_text(value))
    found: list[str] = []
    for item in items:
        text = as_text(item)
        if text and text not in found:
            found.append(text)
    return found


def as_ip_list(value) -> list[str]:
    """Addresses in one spelling each (IPv6 compressed); ValueError names the first bad one."""
    import ipaddress

    addresses = []
    for text in as_list(value):
        try:
            text = str(ipaddress.ip_address(text))  # one spelling per address (IPv6 compressed)
        except ValueError:
            raise ValueError(_("“%(value)s” is not an IP address.") % {"value": text}) from None
        if text not in addresses:
            addresses.append(text)
    return addresses


def as_hostname_list(value) -> list[str]:
    names = []
    for text in as_list(value):
        text = text.lower().rstrip(".")
        if text and text not in names:
            names.append(text)
    return names


def as_date(value) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(as_text(value)[:10])
    except ValueError:
        raise ValueError(_("Expected a date (YYYY-MM-DD), got “%(value)s”.") % {"value": value}) from None


def as_decimal(value) -> Decimal:
    from decimal import InvalidOperation

    if isinstance(value, bool):
        raise ValueError(_("Expected a number, got “%(value)s”.") % {"value": value})
    try:
        number = Decimal(as_text(value).replace(" ", ""))
    except InvalidOperation:
        raise ValueError(_("Expected a number, got “%(value)s”.") % {"value": value}) from None
    if not number.is_finite():
        raise ValueError(_("Expected a number, got “%(value)s”.") % {"value": value})
    return number
