"""The request bodies the benchmark posts, built from real Alertmanager webhook payloads.

- `single`: fixture 01-single-firing.json exactly as Alertmanager 0.25 sent it (1 alert, 1.7 kB).
- `batch50`: a 50-alert group notification with the envelope and alert shape of fixture
  02-group5-firing.json (16 labels, 4 annotations each); every alert has its own fingerprint and
  instance/pod, and every tenth one is resolved (a "firing" notification carries resolved alerts
  when `send_resolved` is on). Several variants, with distinct fingerprints, are rotated so
  consecutive requests are not byte-identical.
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def fixtures_dir() -> Path:
    """Where the captured Alertmanager payloads are: the repo's copy, else the shared one."""
    for candidate in (
        REPO / "tests" / "fixtures" / "alertmanager",
        REPO.parent / "shared" / "fixtures" / "alertmanager",
        Path("/work/shared/fixtures/alertmanager"),
    ):
        if (candidate / "01-single-firing.json").exists():
            return candidate
    raise FileNotFoundError("Alertmanager fixtures not found (tests/fixtures/alertmanager)")


def fixture_bytes(name: str) -> bytes:
    return (fixtures_dir() / name).read_bytes()


SHAPES = ("single", "batch50")
ALERTS_PER_PAYLOAD = {"single": 1, "batch50": 50}


def _fingerprint(labels: dict[str, str]) -> str:
    canonical = "\x1f".join(f"{k}\x1e{labels[k]}" for k in sorted(labels))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _iso_ms(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def batch_payload(variant: int, size: int = 50) -> bytes:
    """A `size`-alert notification shaped like fixture 02; `variant` changes every fingerprint."""
    envelope = json.loads(fixture_bytes("02-group5-firing.json"))
    template = envelope["alerts"][0]
    starts = datetime.fromisoformat(template["startsAt"].replace("Z", "+00:00"))
    alerts = []
    for i in range(size):
        alert = copy.deepcopy(template)
        n = variant * size + i
        instance = f"10.{1 + n // 65536 % 250}.{n // 256 % 256}.{n % 256}:9100"
        labels = alert["labels"]
        labels["instance"] = instance
        labels["pod"] = f"storage-7d9f8b6c5-{n:05d}"
        labels["severity"] = "critical" if i % 3 == 0 else "warning"
        alert["annotations"]["dashboard"] = f"https://grafana.example.com/d/abc123?var-instance={instance}"
        alert["annotations"]["summary"] = f"DiskAlmostFull on {instance}"
        begun = starts + timedelta(seconds=n)
        alert["startsAt"] = _iso_ms(begun)
        if i % 10 == 9:
            alert["status"] = "resolved"
            alert["endsAt"] = _iso_ms(begun + timedelta(minutes=5))
        alert["fingerprint"] = _fingerprint(labels)
        alerts.append(alert)
    envelope["alerts"] = alerts
    # Alertmanager's common labels are the intersection of the alerts' labels.
    common = dict(alerts[0]["labels"])
    for alert in alerts[1:]:
        common = {k: v for k, v in common.items() if alert["labels"].get(k) == v}
    envelope["commonLabels"] = common
    envelope["commonAnnotations"] = {}
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def bodies(shape: str, variants: int = 8) -> list[bytes]:
    """The request bodies of one shape, to be posted in rotation."""
    if shape == "single":
        return [fixture_bytes("01-single-firing.json")]
    if shape == "batch50":
        return [batch_payload(v) for v in range(variants)]
    raise ValueError(f"unknown shape {shape!r}; one of {SHAPES}")
