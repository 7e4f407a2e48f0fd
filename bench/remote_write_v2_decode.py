"""Reading remote-write 1.0 and 2.0 requests of the same series, in this process (no service, no
database): `python -m bench.remote_write_v2_decode` (`--series`, `--rounds`).

Each request holds `--series` series of six labels with one sample each (a scrape's worth, as
Prometheus sends them), snappy-compressed as sent. Timed: decompressing and reading a request into
the fold's series (1.0: `remote_write.series` with no series known yet, its general path; 2.0:
`remote_write_v2.decode`), best of `--rounds`. Checked: both give the same labels and samples.
Prints JSON and writes it to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import cramjam

from services.slo.series import remote_write, remote_write_v2


def batch(series: int) -> list[tuple[dict[str, str], list[tuple[int, float]]]]:
    return [({"__name__": "http_requests_total", "job": "checkout", "instance": f"10.0.{i // 250}.{i % 250}:8080",
              "code": str(200 + i % 5), "method": "GET", "route": f"/r{i % 40}"}, [(1_700_000_000_000, float(i))])
            for i in range(series)]


def best_of(rounds: int, read) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        read()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    sent = batch(args.series)
    body_1 = remote_write.encode_write_request(sent)
    body_2 = bytes(cramjam.snappy.compress_raw(remote_write_v2.encode_request(sent)))
    limit = 1 << 28

    def read_1():
        return list(remote_write.series(remote_write.decompress(body_1, max_bytes=limit)))

    def read_2():
        return remote_write_v2.decode(remote_write.decompress(body_2, max_bytes=limit)).series

    same = ([(remote_write.labels_of(k), s) for k, s, _d in read_1()] ==
            [(remote_write_v2.labels_of(k), s) for k, s, _d in read_2()] == sent)
    seconds = {"1.0": best_of(args.rounds, read_1), "2.0": best_of(args.rounds, read_2)}
    result = {
        "series": args.series, "rounds": args.rounds, "same_series": same, "load_average": os.getloadavg(),
        "bytes_sent": {"1.0": len(body_1), "2.0": len(body_2)},
        "ms_per_request": {v: round(s * 1000, 1) for v, s in seconds.items()},
        "series_per_s": {v: round(args.series / s) for v, s in seconds.items()},
    }
    out = Path("bench/results") / f"remote-write-v2-decode-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    raise SystemExit(0 if same else 1)


if __name__ == "__main__":
    main()
