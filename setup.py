"""Wheel builds carry what an installed `pagi up` needs besides the Python packages: the built web UI
(edge/ui) and the starter personas (pagi_cli/knowledge_bases). Everything else is in pyproject.toml.

The UI is built here (npm ci + vite build) when web/dist is missing; set PAGI_SKIP_UI_BUILD=1 to
skip it (the Makefile builds the UI itself for the editable development install).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
WEB = ROOT / "web"
PERSONAS = ROOT / "knowledge_bases"


def build_ui() -> Path | None:
    dist = WEB / "dist"
    if (dist / "index.html").exists():
        return dist
    if os.environ.get("PAGI_SKIP_UI_BUILD") == "1" or not (WEB / "package.json").exists():
        return None
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("building the web UI needs npm (Node.js 20+); or set PAGI_SKIP_UI_BUILD=1")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=WEB, check=True)
    subprocess.run([npm, "run", "--silent", "build"], cwd=WEB, check=True)
    return dist


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return  # an editable install reads web/dist and knowledge_bases/ from the checkout
        target = Path(self.build_lib)
        dist = build_ui()
        if dist is not None:
            shutil.copytree(dist, target / "edge" / "ui", dirs_exist_ok=True)
        if PERSONAS.is_dir():
            shutil.copytree(PERSONAS, target / "pagi_cli" / "knowledge_bases", dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithData})
