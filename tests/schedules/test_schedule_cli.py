"""`pagi schedule add|list|pause|resume|rm` against a real nats-server, as the operator."""

from __future__ import annotations

import json

import pytest

from pagi_cli.main import main
from pagi_cli.nats_server import NatsServer


def pagi(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_add_list_pause_resume_rm(nats_server: NatsServer, capsys: pytest.CaptureFixture[str]) -> None:
    bus = ("--nats-url", nats_server.url)
    code, out, err = pagi(
        capsys, "schedule", "add", "--twin", "orchestrator", "--session", "daily", "--spec", "0 0 8 * * 1-5",
        "--time-zone", "Europe/Berlin", "--user", "alice", "the overnight summary, please", *bus,
    )  # fmt: skip
    assert code == 0, err
    schedule_id = out.split()[0]
    assert schedule_id.startswith("sch-") and "Europe/Berlin" in out and "alice -> orchestrator" in out
    code, out, err = pagi(capsys, "schedule", "list", "--json", *bus)
    listed = json.loads(out)["schedules"]
    assert code == 0 and [s["id"] for s in listed] == [schedule_id] and listed[0]["owner"] == "alice"
    code, out, _ = pagi(capsys, "schedule", "pause", schedule_id, *bus)
    assert code == 0 and "paused" in out
    code, out, _ = pagi(capsys, "schedule", "resume", schedule_id, *bus)
    assert code == 0 and "next 20" in out
    # The session is alice's now: another user cannot schedule into it.
    code, _, err = pagi(
        capsys, "schedule", "add", "--twin", "orchestrator", "--session", "daily", "--spec", "@every 1h",
        "--user", "bob", "hi", *bus,
    )  # fmt: skip
    assert code == 2 and "alice's, not bob's" in err
    code, out, _ = pagi(capsys, "schedule", "rm", schedule_id, *bus)
    assert code == 0 and "removed" in out
    code, _, err = pagi(capsys, "schedule", "rm", schedule_id, *bus)
    assert code == 1 and "no schedule" in err
    code, out, _ = pagi(capsys, "schedule", "list", *bus)
    assert code == 0 and "no schedules" in out


def test_a_malformed_spec_says_what_to_write(nats_server: NatsServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = pagi(
        capsys, "schedule", "add", "--twin", "orchestrator", "--session", "s", "--spec", "0 8 * * *", "hi",
        "--nats-url", nats_server.url,
    )  # fmt: skip
    assert code == 2 and "6 fields" in err
