"""Payload parsers: each integration kind's body -> a list of normalised AlertEvent.

The ingest request parses and validates (a malformed body answers 400 and writes nothing), stores the
body with the normalised events (RawPayload.events, via `AlertEvent.to_json`) and answers; the worker's
processing reads them back with `AlertEvent.from_json` and never parses the body again.
"""

from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass, field


@dataclass
class AlertEvent:
    fingerprint: str                 # Alertmanager's, the events API dedup key, or computed from the labels
    status: str                      # "firing" | "resolved"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    severity: str = ""               # "critical" | "error" | "warning" | "info" | ""
    source: str = ""
    starts_at: datetime.datetime | None = None
    ends_at: datetime.datetime | None = None
    generator_url: str = ""
    group_key: str = ""              # Alertmanager groupKey; "" = let the integration's grouping decide
    action: str = ""                 # events API: "trigger" | "acknowledge" | "resolve"; "" otherwise

    def to_json(self) -> dict:
        data = asdict(self)
        for name in ("starts_at", "ends_at"):
            data[name] = data[name].isoformat() if data[name] else None
        return data

    @classmethod
    def from_json(cls, data: dict) -> AlertEvent:
        data = dict(data)
        for name in ("starts_at", "ends_at"):
            data[name] = datetime.datetime.fromisoformat(data[name]) if data.get(name) else None
        return cls(**data)
