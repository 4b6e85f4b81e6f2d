from __future__ import annotations

import re

import pytest

from telemetry_agent.config import check_host_id, default_host_id, interval_s, sanitise_host_id


@pytest.mark.parametrize(
    ("raw", "token"),
    [
        ("web-01.example.com", "web-01_example_com"),
        ("gpu_box", "gpu_box"),
        ("  my host (2)  ", "my_host_2"),
        ("...", "host"),
        ("ä" * 3 + "x", "x"),
        ("a" * 100, "a" * 64),
    ],
)
def test_sanitise_host_id(raw: str, token: str) -> None:
    assert sanitise_host_id(raw) == token


def test_default_host_id_is_a_subject_token() -> None:
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", default_host_id())


def test_explicit_host_id_must_be_valid() -> None:
    assert check_host_id("rack1-node7") == "rack1-node7"
    with pytest.raises(ValueError, match="invalid host id"):
        check_host_id("a.b")
    with pytest.raises(ValueError):
        check_host_id("")


def test_interval_from_env() -> None:
    assert interval_s({}) == 1.0
    assert interval_s({"TELEMETRY_INTERVAL_MS": "250"}) == 0.25
    with pytest.raises(ValueError, match="whole number"):
        interval_s({"TELEMETRY_INTERVAL_MS": "1s"})
    with pytest.raises(ValueError, match="minimum"):
        interval_s({"TELEMETRY_INTERVAL_MS": "5"})
