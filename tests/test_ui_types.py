"""web/src/generated/bus.ts is what bus_schemas generates today: change a shape the UI reads and this
fails until `make ui-types` writes the file again (and `npm run typecheck` then shows what in the UI
no longer fits)."""

from __future__ import annotations

import difflib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WEB = REPO / "web"
GENERATED = WEB / "src" / "generated" / "bus.ts"


def test_the_ui_types_are_generated_from_bus_schemas(tmp_path: Path) -> None:
    if shutil.which("node") is None:
        pytest.fail("node is not installed: the UI's types cannot be generated (install Node.js 20+ with npm)")
    installed = subprocess.run(
        ["make", "-s", "web/node_modules/.pagi-installed"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert installed.returncode == 0, f"npm ci in web/ failed:\n{installed.stdout}\n{installed.stderr}"
    schema = tmp_path / "ui.schema.json"
    subprocess.run([sys.executable, "-m", "bus_schemas", "ui-schema", str(schema)], cwd=REPO, check=True, timeout=60)
    generated = subprocess.run(
        ["node", "scripts/bus-types.mjs", str(schema)], cwd=WEB, capture_output=True, text=True, timeout=120
    )
    assert generated.returncode == 0, generated.stderr
    committed = GENERATED.read_text()
    drift = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            generated.stdout.splitlines(keepends=True),
            "web/src/generated/bus.ts (committed)",
            "generated from bus_schemas now",
        )
    )
    assert not drift, f"the UI's bus types are out of date: run `make ui-types`\n{drift}"
