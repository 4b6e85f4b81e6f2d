"""`python -m bench.codec`: encode + decode of one event, per JSON library and msgpack, in one process.

The events are one tool-using job as `bench.replay` stores it (chat.in, two plan.actions, job logs,
a tool run and its 120-line result, a streamed chunk and the answer) and one real telemetry sample
(the most frequent event, and the largest). Each way is timed as the bus would use it, the same
pydantic validation on the way in for all of them:

- pydantic: `model_dump_json()` out, `model_validate_json()` in (pydantic-core's own parser);
- orjson: `orjson.dumps(model_dump(mode="json"))` out, `model_validate(orjson.loads())` in;
- stdlib json: `json.dumps(model_dump(mode="json"))` out, `model_validate(json.loads())` in;
- msgpack: `msgpack.packb(model_dump(mode="json"))` out, `model_validate(msgpack.unpackb())` in;
- and PAGI's codec as services run it (`bus_schemas.codec.encode`/`decode`, json and msgpack): the
  size check, the headers, the bounded readers of `safe_json`, the subject checks.

Prints microseconds per event (median of `--repeats` runs of `--loops` passes over the events) and
the bytes on the wire, and each figure's ratio to msgpack.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack
import orjson

from bus_schemas import Envelope, decode, encode
from bus_schemas.registry import ENVELOPE_MODELS
from bus_schemas.subjects import TELEMETRY_HOST, session_subject, telemetry_subject

from .replay import job_events

Encoder = Callable[[Envelope[Any]], bytes]
Decoder = Callable[[str, bytes], Envelope[Any]]


def _model(subject_type: str) -> type[Envelope[Any]]:
    return ENVELOPE_MODELS[subject_type]


def _type_of(subject: str) -> str:
    return TELEMETRY_HOST if subject.startswith("telemetry.") else subject.rsplit(".", 1)[0]


WAYS: dict[str, tuple[Encoder, Decoder]] = {
    "pydantic model_dump_json": (
        lambda e: e.model_dump_json().encode(),
        lambda s, d: _model(_type_of(s)).model_validate_json(d),
    ),
    "orjson of model_dump": (
        lambda e: orjson.dumps(e.model_dump(mode="json")),
        lambda s, d: _model(_type_of(s)).model_validate(orjson.loads(d)),
    ),
    "stdlib json of model_dump": (
        lambda e: json.dumps(e.model_dump(mode="json")).encode(),
        lambda s, d: _model(_type_of(s)).model_validate(json.loads(d)),
    ),
    "msgpack of model_dump": (
        lambda e: msgpack.packb(e.model_dump(mode="json")),
        lambda s, d: _model(_type_of(s)).model_validate(msgpack.unpackb(d)),
    ),
    "PAGI codec, json": (
        lambda e: encode(e, "json")[0],
        lambda s, d: decode(s, d, {"Content-Type": "application/json"}),
    ),
    "PAGI codec, msgpack": (
        lambda e: encode(e, "msgpack")[0],
        lambda s, d: decode(s, d, {"Content-Type": "application/msgpack"}),
    ),
}
BASELINE = "msgpack of model_dump"


def events() -> list[tuple[str, Envelope[Any]]]:
    from telemetry_agent.agent import sample_event
    from telemetry_agent.sampler import Sampler

    job = [(session_subject(e.type, e.session_id), e) for e in job_events("bench-codec", 1)]
    sampler = Sampler("bench-host")
    try:
        sample = sample_event(sampler)
    finally:
        sampler.close()
    return [*job, (telemetry_subject("bench-host"), sample)]


@dataclass
class Figures:
    encode_us: float
    decode_us: float
    bytes_per_event: float

    @property
    def total_us(self) -> float:
        return self.encode_us + self.decode_us


def measure(way: str, sample: list[tuple[str, Envelope[Any]]], loops: int, repeats: int) -> Figures:
    enc, dec = WAYS[way]
    wire = [(subject, enc(event)) for subject, event in sample]
    for (subject, data), (_, event) in zip(wire, sample, strict=True):
        assert dec(subject, data) == event, f"{way} does not round-trip {event.type}"
    per_event = loops * len(sample)
    enc_runs, dec_runs = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            for _, event in sample:
                enc(event)
        enc_runs.append((time.perf_counter() - start) * 1e6 / per_event)
        start = time.perf_counter()
        for _ in range(loops):
            for subject, data in wire:
                dec(subject, data)
        dec_runs.append((time.perf_counter() - start) * 1e6 / per_event)
    size = statistics.mean(len(data) for _, data in wire)
    return Figures(statistics.median(enc_runs), statistics.median(dec_runs), size)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.codec", description=__doc__)
    parser.add_argument("--loops", type=int, default=200, help="passes over the events per run")
    parser.add_argument("--repeats", type=int, default=7, help="runs per way; the median is printed")
    args = parser.parse_args()
    sample = events()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load {os.getloadavg()[0]:.2f}")
    print(f"{len(sample)} events (one tool-using job and one telemetry sample), median of {args.repeats} runs")
    results = {way: measure(way, sample, args.loops, args.repeats) for way in WAYS}
    base = results[BASELINE]
    print(f"{'µs per event':28}{'encode':>9}{'decode':>9}{'total':>9}{'/msgpack':>10}{'bytes':>8}{'/msgpack':>10}")
    for way, r in results.items():
        print(
            f"{way:28}{r.encode_us:9.1f}{r.decode_us:9.1f}{r.total_us:9.1f}{r.total_us / base.total_us:10.2f}"
            f"{r.bytes_per_event:8.0f}{r.bytes_per_event / base.bytes_per_event:10.2f}"
        )


if __name__ == "__main__":
    main()
