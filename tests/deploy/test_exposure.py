"""`pagi up` on an address other machines can reach needs API keys, and says so before starting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_pagi_up_refuses_a_public_address_without_keys(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGI_API_KEY", "NATS_URL"))}
    result = subprocess.run(
        [sys.executable, "-m", "pagi_cli", "up", "--host", "0.0.0.0", "--port", "0", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode == 2
    assert "set PAGI_API_KEYS" in result.stderr
    assert not (tmp_path / "nats").exists()  # nothing was started
