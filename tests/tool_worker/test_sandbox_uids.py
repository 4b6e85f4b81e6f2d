"""The table of host uids per session: stable, shared under a lock by several processes, reused only when idle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.uids import PRUNE_FROM, UidsExhausted, UidTable, uids_running

CHECKOUT = Path(__file__).resolve().parents[2]
BASE = 910_000


def test_a_workspace_keeps_its_uid_and_two_get_two(tmp_path: Path) -> None:
    table = UidTable(tmp_path / "uids.json", BASE, 8)
    one, two = table.uid_for("/ws/one"), table.uid_for("/ws/two")
    assert one != two and {one, two} <= set(range(BASE, BASE + 8))
    assert UidTable(tmp_path / "uids.json", BASE, 8).uid_for("/ws/one") == one


def test_a_full_range_reuses_the_least_recently_used_idle_uid(tmp_path: Path) -> None:
    table = UidTable(tmp_path / "uids.json", BASE, 2)
    first, second = table.uid_for("/ws/a"), table.uid_for("/ws/b")
    assert table.uid_for("/ws/c") == first  # /ws/a was used longest ago and runs nothing
    assert table.uid_for("/ws/a") == second


def test_a_uid_with_a_running_process_is_never_handed_to_another_workspace(tmp_path: Path) -> None:
    table = UidTable(tmp_path / "uids.json", BASE, 1)
    uid = table.uid_for("/ws/busy")
    sleeper = subprocess.Popen(["/bin/sleep", "30"], user=uid, group=uid, extra_groups=[])
    try:
        assert uid in uids_running()
        with pytest.raises(UidsExhausted, match="PAGI_SANDBOX_UID_COUNT"):
            table.uid_for("/ws/other")
    finally:
        sleeper.kill()
        sleeper.wait()
    assert table.uid_for("/ws/other") == uid


def test_a_big_table_forgets_workspaces_that_are_gone(tmp_path: Path) -> None:
    path = tmp_path / "uids.json"
    path.write_text(json.dumps({str(BASE + i): {"key": f"/gone/{i}", "used": 0.0} for i in range(PRUNE_FROM)}))
    table = UidTable(path, BASE, PRUNE_FROM + 8)
    (tmp_path / "alive").mkdir()
    assert table.uid_for(str(tmp_path / "alive")) == BASE
    assert [entry["key"] for entry in json.loads(path.read_text()).values()] == [str(tmp_path / "alive")]


def test_a_bad_range_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid sandbox uid range"):
        UidTable(Path("/nonexistent"), 10, 5)


ALLOCATE = """
import sys
from pathlib import Path
from sandbox.uids import UidTable
table = UidTable(Path(sys.argv[1]), int(sys.argv[2]), 64)
print(" ".join(str(table.uid_for(f"/ws/{sys.argv[3]}-{i}")) for i in range(16)))
"""


def test_several_workers_sharing_the_table_never_hand_out_one_uid_twice(tmp_path: Path) -> None:
    path = str(tmp_path / "uids.json")
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", ALLOCATE, path, str(BASE), f"w{n}"], cwd=CHECKOUT, stdout=subprocess.PIPE, text=True
        )
        for n in range(4)
    ]
    handed = [uid for proc in workers for uid in proc.communicate(timeout=60)[0].split()]
    assert all(proc.returncode == 0 for proc in workers)
    assert len(handed) == 64 and len(set(handed)) == 64
