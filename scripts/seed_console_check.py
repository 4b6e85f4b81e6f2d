#!/usr/bin/env python3
"""Build the seed's own console (upstream `frontend-digital-twin/`) and drive it in Chromium against PAGI.

Run by hand, not by `make test`: the upstream source is not on a fresh machine.

    .venv/bin/python scripts/seed_console_check.py ~/src/pagi-digital-twin                 # a checkout
    .venv/bin/python scripts/seed_console_check.py /path/to/repo.git --commit 830b5b7      # a bare git dir

It extracts the console, writes `.env.local` as the upstream ENV_SETUP.md says, `npm ci`, `vite build`,
serves `dist/` on 127.0.0.1:3000 (as upstream's nginx does), starts `pagi up` in development mode
(no API keys, the deterministic planner; `--keys`: two keys and the console in PAGI_ALLOWED_ORIGINS)
with its edge on 127.0.0.1:8181, and drives the console in Chromium as its user does. It prints one
row per check and exits 1 when any failed. docs/seed-console.md says what each check decides.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import inspect
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Route,
    WebSocket,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError

ROOT: Final = Path(__file__).resolve().parent.parent
CONSOLE_DIR: Final = "frontend-digital-twin"
DEFAULT_COMMIT: Final = "830b5b7"
CHROMIUM: Final = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS: Final = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
# nginx.conf of the console: these extensions are files or a 404, everything else is the SPA's index.html.
ASSET_SUFFIXES: Final = frozenset({".js", ".css", ".png", ".jpg", ".jpeg", ".gif", ".ico", ".svg"})
# The console's own input on its default view (the orchestrator hub), and its modal's buttons.
CHAT_INPUT: Final = "Global directives or AI task prompt..."
UP_TIMEOUT_S: Final = 180.0
STEP_TIMEOUT_S: Final = 30.0
PORT_WAIT_S: Final = 90.0
TAILWIND_PACKAGE: Final = "@tailwindcss/browser@4"
TAILWIND_HOST: Final = "cdn.tailwindcss.com"
# Another origin serving the same console: a name that is not loopback, resolved to 127.0.0.1 by Chromium.
OTHER_HOST: Final = "seed-console.example"
SESSION_PATH: Final = "/v1/auth/session"
COMMAND_TIMEOUT_S: Final = 600.0


@dataclass(frozen=True)
class Auth:
    """Keys mode: the console's user and a second one, each with a key; the console's origin is listed
    in PAGI_ALLOWED_ORIGINS."""

    user: str
    key: str
    other_user: str
    other_key: str


@dataclass
class Check:
    name: str
    ok: bool | None  # None: a note (a workaround), not a pass or a failure
    detail: str


class CheckFailed(Exception):
    """A check's condition did not hold; the message is the row's detail."""


class NotApplicable(Exception):
    """The check means nothing in this mode; the message says why (a note row)."""


@dataclass
class Console:
    """The console page and everything seen on it: WebSocket frames, console messages, stubbed hosts."""

    page: Page
    edge: str
    http: aiohttp.ClientSession
    frames_in: list[dict[str, Any]] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)
    socket_errors: list[str] = field(default_factory=list)
    console_log: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stubbed: set[str] = field(default_factory=set)
    tailwind: Path | None = None
    auth: Auth | None = None
    session_id: str = ""
    user_id: str = ""
    memory_approval: str | None = None

    async def send(self, text: str) -> None:
        await back_to_hub(self)
        box = self.page.get_by_placeholder(CHAT_INPUT)
        await box.fill(text)
        await box.press("Enter")

    def assistant_texts(self) -> Awaitable[list[str]]:
        # A bubble is a label div ("assistant"/"user") followed by the content div.
        return self.page.locator("div.leading-relaxed").evaluate_all(
            "els => els.filter(e => e.previousElementSibling?.textContent === 'assistant').map(e => e.textContent)"
        )

    async def get(self, path: str) -> Any:
        async with self.http.get(self.edge + path) as resp:
            body = await resp.text()
            if resp.status != 200:
                raise CheckFailed(f"GET {path} answered {resp.status}: {body[:200]}")
            return json.loads(body)

    def need_session(self) -> str:
        if not self.session_id:
            raise CheckFailed("no session (the WebSocket check failed)")
        return self.session_id

    async def pending(self) -> list[dict[str, Any]]:
        self.need_session()
        answer = await self.get(f"/v1/approvals?session={self.session_id}")
        approvals: list[dict[str, Any]] = answer["approvals"]
        return approvals

    async def events(self, event_type: str) -> list[dict[str, Any]]:
        """The bodies of this session's events of one type, oldest first, as GET /v1/audit has them."""
        answer = await self.get(f"/v1/audit?session={self.need_session()}&type={event_type}&limit=1000")
        return [entry.get("event", {}).get("body", {}) for entry in answer["events"]]


async def eventually(what: str, probe: Callable[[], Any], timeout: float = STEP_TIMEOUT_S) -> Any:
    """The first truthy answer of `probe` (a plain or an async function), polled until `timeout`; else
    CheckFailed naming `what`."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            answer = probe()
            if inspect.isawaitable(answer):
                answer = await answer
            if answer:
                return answer
        except (CheckFailed, PlaywrightError, aiohttp.ClientError) as exc:
            last = exc
        await asyncio.sleep(0.25)
    raise CheckFailed(f"{what} within {timeout:g}s" + (f" (last: {last})" if last else ""))


# --- building the console ----------------------------------------------------------------------


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)


def tail(proc: subprocess.CompletedProcess[str], lines: int = 6) -> str:
    return " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-lines:])


def npm_errors(proc: subprocess.CompletedProcess[str], lines: int = 3) -> str:
    """npm's first few `npm error` lines that say something (it pads them with usage text)."""
    said = [line.removeprefix("npm error").strip() for line in proc.stderr.splitlines() if line.startswith("npm error")]
    return " | ".join([line for line in said if line][:lines]) or tail(proc)


def extract(source: Path, commit: str, work: Path) -> tuple[Path, Check]:
    """The console's folder under `work`: copied from a checkout, or `git archive` of a (bare) repository."""
    target = work / CONSOLE_DIR
    shutil.rmtree(target, ignore_errors=True)
    if (source / CONSOLE_DIR / "package.json").is_file() and not commit:
        shutil.copytree(source / CONSOLE_DIR, target, ignore=shutil.ignore_patterns("node_modules", "dist"))
        return target, Check("extract", True, f"copied {source / CONSOLE_DIR}")
    rev = commit or DEFAULT_COMMIT
    archive = work / "console.tar"
    with archive.open("wb") as out:
        proc = subprocess.run(
            ["git", "-C", str(source), "archive", rev, CONSOLE_DIR], stdout=out, stderr=subprocess.PIPE, text=False
        )
    if proc.returncode != 0:
        raise SystemExit(f"git archive {rev} {CONSOLE_DIR} in {source} failed: {proc.stderr.decode().strip()}")
    with tarfile.open(archive) as tar:
        tar.extractall(work, filter="data")
    full = subprocess.run(["git", "-C", str(source), "rev-parse", rev], capture_output=True, text=True).stdout.strip()
    return target, Check("extract", True, f"git archive {full or rev} {CONSOLE_DIR}")


def write_env(console: Path, edge_port: int) -> Check:
    """`.env.local` as ENV_SETUP.md shows it. Its Gemini key is "optional if using WebSocket backend", but
    services/gemini.ts constructs GoogleGenAI at import, which throws in a browser without a key and
    leaves the page blank: a placeholder key, never used (the Gemini-only buttons are not pressed)."""
    ws = f"ws://127.0.0.1:{edge_port}/ws/chat"
    sse = f"http://127.0.0.1:{edge_port}/v1/telemetry/stream"
    (console / ".env.local").write_text(f"GEMINI_API_KEY=unused-placeholder\nVITE_WS_URL={ws}\nVITE_SSE_URL={sse}\n")
    return Check(
        "env",
        None,
        f"VITE_WS_URL={ws} VITE_SSE_URL={sse}; GEMINI_API_KEY=unused-placeholder (upstream throws"
        " 'An API Key must be set when running in a browser' at load without one)",
    )


def install(console: Path) -> Check:
    """`npm ci` on the upstream lockfile; if the registry cannot satisfy it, `npm install` without it."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is not installed: the console cannot be built (install Node.js 20+ with npm)")
    proc = run([npm, "ci", "--no-audit", "--no-fund"], console)
    if proc.returncode == 0:
        return Check("npm ci", True, "the upstream package-lock.json installed as is")
    failure = npm_errors(proc)
    (console / "package-lock.json").unlink(missing_ok=True)
    retry = run([npm, "install", "--no-audit", "--no-fund", "--no-package-lock"], console)
    if retry.returncode != 0:
        raise SystemExit(f"npm ci failed ({failure}) and so did npm install: {npm_errors(retry)}")
    return Check("npm ci", None, f"npm ci failed ({failure}); installed with npm install without the lockfile")


def build(console: Path) -> tuple[Path, Check]:
    proc = run([str(console / "node_modules" / ".bin" / "vite"), "build"], console)
    if proc.returncode != 0:
        raise SystemExit(f"vite build failed: {tail(proc, 20)}")
    dist = console / "dist"
    size = sum(p.stat().st_size for p in dist.rglob("*") if p.is_file())
    return dist, Check("vite build", True, f"dist/ {size // 1024} KiB")


def tailwind_script(console: Path) -> tuple[Path | None, Check]:
    """Upstream styles the page with Tailwind's play CDN (cdn.tailwindcss.com), out of reach of a sandbox:
    the same in-browser build from npm (@tailwindcss/browser, v4; the CDN serves v3) stands in for it, so
    the modal overlays the page as it does for a user and visibility checks mean what they say."""
    npm = shutil.which("npm") or "npm"
    proc = run([npm, "install", "--no-save", "--no-audit", "--no-fund", TAILWIND_PACKAGE], console)
    script = console / "node_modules" / "@tailwindcss" / "browser" / "dist" / "index.global.js"
    if proc.returncode != 0 or not script.is_file():
        return None, Check(
            "tailwind", None, f"{TAILWIND_PACKAGE} not installed ({tail(proc, 2)}): the page is unstyled"
        )
    return script, Check("tailwind", None, f"cdn.tailwindcss.com answered with {TAILWIND_PACKAGE} from npm")


# --- serving it and starting PAGI ----------------------------------------------------------------


@contextlib.asynccontextmanager
async def serve(dist: Path, port: int) -> AsyncIterator[str]:
    """`dist/` on 127.0.0.1:`port` the way upstream's nginx.conf serves it."""
    root = dist

    async def handle(request: web.Request) -> web.StreamResponse:
        wanted = (root / request.path.lstrip("/")).resolve()
        if wanted.is_relative_to(root) and wanted.is_file():
            return web.FileResponse(wanted)
        if wanted.suffix.lower() in ASSET_SUFFIXES:
            raise web.HTTPNotFound()
        return web.FileResponse(root / "index.html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
    except OSError as exc:
        await runner.cleanup()
        raise SystemExit(
            f"cannot serve the console on 127.0.0.1:{port}: {exc} (choose another with --console-port)"
        ) from None
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def require_free(port: int, flag: str) -> None:
    """Refuse a port something listens on; wait out one that only has TIME_WAIT connections of an earlier
    run (`pagi up` probes its port without SO_REUSEADDR, so it would refuse it for up to a minute)."""
    with socket.socket() as probe:
        probe.settimeout(2)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"127.0.0.1:{port} is in use: stop what listens there or choose another {flag}")
    deadline = time.monotonic() + PORT_WAIT_S
    while True:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"127.0.0.1:{port} stayed unbindable for {PORT_WAIT_S:g}s ({flag})") from None
        time.sleep(1)


@contextlib.asynccontextmanager
async def pagi_up(
    edge_port: int, nats_port: int, work: Path, auth: Auth | None, console_url: str
) -> AsyncIterator[str]:
    """`pagi up` as a user starts it, with the deterministic planner: development mode (no keys), or
    with `auth` one key and the console's origin in PAGI_ALLOWED_ORIGINS."""
    data_dir, log_path = work / "pagi-data", work / "pagi-up.log"
    drop = ("PAGI_API_KEY", "PAGI_ALLOWED_ORIGINS", "NATS_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["LLM_PROVIDER"] = "mock"
    if auth is not None:
        env["PAGI_API_KEYS"] = f"{auth.key}:{auth.user},{auth.other_key}:{auth.other_user}"
        env["PAGI_ALLOWED_ORIGINS"] = console_url
    cmd = [sys.executable, "-m", "pagi_cli", "up", "--data-dir", str(data_dir)]
    cmd += ["--nats-port", str(nats_port), "--port", str(edge_port)]
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    ready = asyncio.Event()

    async def copy_output() -> None:
        assert proc.stdout is not None
        with log_path.open("w") as log:
            async for raw in proc.stdout:
                line = raw.decode(errors="replace")
                log.write(line)
                log.flush()
                if "PAGI is up at" in line:
                    ready.set()

    reader = asyncio.create_task(copy_output())
    try:
        await asyncio.wait(
            [asyncio.create_task(ready.wait()), reader], timeout=UP_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        if not ready.is_set():
            why = "it exited" if reader.done() else f"not within {UP_TIMEOUT_S:g}s"
            raise SystemExit(f"pagi up was not ready ({why}); its output: {log_path}")
        yield f"http://127.0.0.1:{edge_port}"
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


# --- the browser -----------------------------------------------------------------------------------


async def stub_external(console: Console, route: Route) -> None:
    """The CDNs upstream's page loads (fonts, Prism's theme, a picture) are not reachable from a sandbox:
    answered empty, so their absence is not counted as a console error of the console against PAGI;
    Tailwind's play CDN is answered with the same build from npm (`tailwind_script`)."""
    url = urlsplit(route.request.url)
    if url.hostname in LOOPBACK or url.hostname == OTHER_HOST or url.scheme not in ("http", "https"):
        await route.continue_()
        return
    if url.hostname == TAILWIND_HOST and console.tailwind is not None:
        await route.fulfill(status=200, path=console.tailwind, content_type="application/javascript")
        return
    console.stubbed.add(url.hostname or "?")
    kind = "text/css" if route.request.resource_type == "stylesheet" else "application/javascript"
    await route.fulfill(status=200, body="", content_type=kind)


def watch(console: Console) -> None:
    page = console.page

    def on_console(msg: ConsoleMessage) -> None:
        console.console_log.append(f"{msg.type}: {msg.text}")
        if msg.type == "error":
            where = msg.location.get("url", "")
            console.errors.append(f"{msg.text} ({where})" if where else msg.text)

    def on_socket(ws: WebSocket) -> None:
        console.sockets.append(ws.url)

        def received(payload: str | bytes) -> None:
            with contextlib.suppress(ValueError, TypeError):
                frame = json.loads(payload)
                if isinstance(frame, dict):
                    console.frames_in.append(frame)

        ws.on("framereceived", received)
        ws.on("socketerror", lambda error: console.socket_errors.append(f"{ws.url}: {error}"))

    page.on("console", on_console)
    page.on("pageerror", lambda exc: console.errors.append(f"uncaught: {exc}"))
    page.on("websocket", on_socket)


async def open_modal(console: Console, message: str, title: str) -> None:
    await console.send(message)
    try:
        await console.page.get_by_text(title, exact=True).wait_for(timeout=STEP_TIMEOUT_S * 1000)
    except PlaywrightError:
        raise CheckFailed(f"no {title!r} modal within {STEP_TIMEOUT_S:g}s of {message!r}") from None


async def click_modal_button(console: Console, label: str) -> None:
    await console.page.get_by_role("button", name=re.compile(label)).click()


def frame_summary(frames: list[dict[str, Any]]) -> str:
    kinds = [
        f"{f.get('type')}:{f.get('status')}" if f.get("type") == "status_update" else str(f.get("type")) for f in frames
    ]
    return ", ".join(kinds) or "none"


async def decision_for(console: Console, approval_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        for entry in await console.events("approve.decision"):
            if entry.get("approval_id") == approval_id:
                return dict(entry)
        return None

    found: dict[str, Any] = await eventually(f"an approve.decision for {approval_id}", probe)
    return found


async def newest_pending(console: Console, kind: str, known: set[str]) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        fresh = [a for a in await console.pending() if a.get("kind") == kind and a["approval_id"] not in known]
        return fresh[-1] if fresh else None

    found: dict[str, Any] = await eventually(f"a pending {kind} approval in GET /v1/approvals", probe)
    return found


# --- the checks, in the order a user meets them ---------------------------------------------------


async def check_websocket(console: Console) -> str:
    try:
        await eventually(
            "[PAGIClient] Connection established",
            lambda: any("Connection established" in line for line in console.console_log),
        )
    except CheckFailed as exc:
        refused = [e for e in console.errors if "WebSocket" in e] or console.socket_errors
        raise CheckFailed(f"{exc}; {refused[:2] or 'no WebSocket error logged'}") from None
    console.session_id = await console.page.evaluate("localStorage.getItem('pagi_session_id')")
    console.user_id = user = await console.page.evaluate("localStorage.getItem('pagi_user_id')")
    return f"{console.sockets[-1] if console.sockets else '?'} open (user {user}, session {console.session_id})"


async def check_chat_answer(console: Console) -> str:
    console.need_session()
    before = len(console.frames_in)
    marker = "hello from the seed console"
    await console.send(marker)
    await eventually(
        "an assistant bubble answering the message",
        lambda: _answered(console, marker),
    )
    return f"answered; frames: {frame_summary(console.frames_in[before:])}"


async def _answered(console: Console, marker: str) -> bool:
    return any(marker in text and not text.startswith("[") for text in await console.assistant_texts())


async def check_status_bubbles(console: Console) -> str:
    if not any(f.get("type") == "complete_message" for f in console.frames_in):
        raise CheckFailed("nothing to judge: no answer arrived (the chat check failed)")
    texts = await console.assistant_texts()
    statuses = [t for t in texts if re.match(r"^\[[A-Z_]+\] ", t)]
    repeated = sorted({t for t in statuses if statuses.count(t) > 1})
    status_frames = [f for f in console.frames_in if f.get("type") == "status_update"]
    if repeated:
        raise CheckFailed(f"{len(statuses)} status bubbles, repeated: {repeated[:3]}")
    if statuses:
        raise CheckFailed(f"status bubbles in a plain chat (the seed sends them only for errors): {statuses[:4]}")
    return f"no status bubbles ({len(status_frames)} status_update frames received)"


async def check_other_origin(console: Console) -> str:
    """The same console from a page on a name that is not loopback: its socket and telemetry are refused,
    the refusal names the setting, and the console on 127.0.0.1 keeps working."""
    port = urlsplit(console.page.url).port
    other = f"http://{OTHER_HOST}:{port}"
    status, body = await raw_handshake(console, other)
    if status != 403:
        raise CheckFailed(f"a WebSocket handshake with Origin {other} answered {status}, not 403: {body[:200]}")
    browser = console.page.context.browser
    if browser is None:
        raise CheckFailed("no browser to open a second page in")
    allowed = await cors_for(console, other)
    if allowed is not None:
        raise CheckFailed(f"/v1/telemetry/stream answers Origin {other} with Access-Control-Allow-Origin {allowed}")
    context = await browser.new_context()
    # crypto.randomUUID exists only in secure contexts (loopback is one, this name is not), and upstream
    # calls it for new ids: given ids, the page gets as far as opening its socket.
    await context.add_init_script(
        "localStorage.setItem('pagi_user_id', 'seed-intruder');"
        "localStorage.setItem('pagi_session_id', 'seed-intruder-session');"
    )
    try:
        intruder = Console(await context.new_page(), console.edge, console.http, tailwind=console.tailwind)
        watch(intruder)
        await intruder.page.route("**/*", lambda route: stub_external(intruder, route))
        await intruder.page.goto(other)
        try:
            await eventually(
                f"the page at {other} refused its WebSocket (403)",
                lambda: any("403" in e for e in intruder.errors),
            )
        except CheckFailed as exc:
            raise CheckFailed(f"{exc}; its console: {intruder.console_log[-6:]}") from None
        if any("Connection established" in line for line in intruder.console_log):
            raise CheckFailed(f"the page at {other} opened the chat WebSocket")
        if await intruder.page.get_by_text("LIVE", exact=True).is_visible():
            raise CheckFailed(f"the page at {other} reads telemetry")
    finally:
        await context.close()
    marker = "hello after the other origin"
    await console.send(marker)
    await eventually("the console on 127.0.0.1 answering after that", lambda: _answered(console, marker))
    refusal = body.strip()[:160]
    return f"{other}: WebSocket 403 ({refusal}), no CORS on telemetry, OFFLINE; the 127.0.0.1 console still answers"


async def cors_for(console: Console, origin: str) -> str | None:
    """The Access-Control-Allow-Origin the telemetry stream answers `origin` with (headers only)."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http,
        http.get(console.edge + "/v1/telemetry/stream", headers={"Origin": origin}) as resp,
    ):
        return resp.headers.get("Access-Control-Allow-Origin")


async def raw_handshake(console: Console, origin: str) -> tuple[int, str]:
    """A WebSocket upgrade with `origin` and no key, read as plain HTTP so the refusal's body can be shown."""
    headers = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Origin": origin,
    }
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http,
        http.get(console.edge + "/ws/chat/seed-intruder", headers=headers) as resp,
    ):
        return resp.status, await resp.text()


async def check_other_user(console: Console) -> str:
    """Keys mode: a second user, logged in with their own key, opens the console as the first user
    (their user id and session in localStorage): refused, and the first user's console keeps working."""
    auth = console.auth
    if auth is None:
        raise NotApplicable("development mode: the user is who the client says (one person at their machine)")
    browser = console.page.context.browser
    if browser is None:
        raise CheckFailed("no browser to open a second page in")
    context = await browser.new_context()
    try:
        parts = urlsplit(console.page.url)
        url = f"{parts.scheme}://{parts.netloc}"
        await log_in(context, url, console.edge, auth.other_user, auth.other_key, auth.user)
        await context.add_init_script(f"localStorage.setItem('pagi_session_id', {json.dumps(console.session_id)});")
        intruder = Console(await context.new_page(), console.edge, console.http, tailwind=console.tailwind)
        watch(intruder)
        await intruder.page.route("**/*", lambda route: stub_external(intruder, route))
        await intruder.page.goto(url)
        try:
            await eventually(
                f"{auth.other_user}'s WebSocket as {auth.user} refused",
                lambda: any("WebSocket" in e for e in intruder.errors),
            )
        except CheckFailed as exc:
            raise CheckFailed(f"{exc}; its console: {intruder.console_log[-4:]}") from None
        if any("Connection established" in line for line in intruder.console_log):
            raise CheckFailed(f"{auth.other_user} opened /ws/chat/{auth.user}")
        refused = next(e for e in intruder.errors if "WebSocket" in e)
        said = re.search(r"(/ws/chat/\S+)' failed: (.*?)(?: \(http|$)", refused)
    finally:
        await context.close()
    marker = "hello after the other user"
    await console.send(marker)
    await eventually(f"{auth.user}'s console answering after that", lambda: _answered(console, marker))
    how = f"{said.group(1)}: {said.group(2)}" if said else refused[:160]
    return f"{auth.other_user}'s cookie, path user {auth.user}: {how}; {auth.user}'s console still answers"


async def check_memory_modal(console: Console) -> str:
    known = {a["approval_id"] for a in await console.pending()}
    await open_modal(console, "search memory for SSH attacks", "Memory Page Request")
    shown = await console.page.get_by_text(re.compile("wants to show memory page")).inner_text()
    found = re.search(r"memory page: (\S+)", shown)
    memory_id = found.group(1) if found else shown
    pending = await newest_pending(console, "memory", known)
    console.memory_approval = pending["approval_id"]
    if memory_id != pending["approval_id"]:
        raise CheckFailed(f"the modal shows memory_id {memory_id!r}; the pending approval is {pending['approval_id']}")
    return f"modal open, memory_id = approval {memory_id}"


async def check_memory_shown(console: Console) -> str:
    if console.memory_approval is None:
        raise CheckFailed("no memory approval to decide (the modal check failed)")
    if not await console.page.get_by_text("Memory Page Request", exact=True).is_visible():
        await open_modal(console, "search memory for SSH attacks", "Memory Page Request")
    results_before = len(await console.events("memory.result"))
    await click_modal_button(console, "Show Memory")
    decision = await decision_for(console, console.memory_approval)
    if decision.get("approved") is not True:
        raise CheckFailed(f"approval {console.memory_approval} was denied: {decision}")
    await eventually("a memory.result after the decision", lambda: _more(console, "memory.result", results_before))
    return f"approved by {decision.get('decided_by')}; the memory search ran"


async def _more(console: Console, event_type: str, count: int) -> bool:
    return len(await console.events(event_type)) > count


async def back_to_hub(console: Console) -> None:
    """'Show Memory' switches the console to its search view; the chat input is on the hub."""
    if not await console.page.get_by_placeholder(CHAT_INPUT).is_visible():
        await console.page.get_by_text("Ops Center", exact=True).click()


async def check_tool_authorized(console: Console) -> str:
    known = {a["approval_id"] for a in await console.pending()}
    results_before = len(await console.events("tool.result"))
    await open_modal(console, "run command ls -la", "Tool Execution Authorization")
    pending = await newest_pending(console, "tool", known)
    await click_modal_button(console, "Authorize & Execute")
    decision = await decision_for(console, pending["approval_id"])
    if decision.get("approved") is not True:
        raise CheckFailed(f"approval {pending['approval_id']} was denied: {decision}")

    async def ran() -> dict[str, Any] | None:
        results = await console.events("tool.result")
        return results[-1] if len(results) > results_before else None

    result = await eventually("a tool.result after the decision", ran)
    body = dict(result)
    if body.get("exit_code") != 0:
        raise CheckFailed(f"the tool ran but failed: exit {body.get('exit_code')}, {body.get('stderr', '')[:200]}")
    return f"approval {pending['approval_id']} approved; {body.get('tool_name')} exit 0"


async def check_tool_denied(console: Console) -> str:
    known = {a["approval_id"] for a in await console.pending()}
    results_before = len(await console.events("tool.result"))
    await open_modal(console, "run command echo should-not-run", "Tool Execution Authorization")
    pending = await newest_pending(console, "tool", known)
    await click_modal_button(console, "Deny")
    decision = await decision_for(console, pending["approval_id"])
    if decision.get("approved") is not False:
        raise CheckFailed(f"'Deny' approved {pending['approval_id']}: {decision}")
    if len(await console.events("tool.result")) > results_before:
        raise CheckFailed("a tool ran after 'Deny'")
    return f"approval {pending['approval_id']} denied; nothing ran"


async def check_older_pending(console: Console) -> str:
    """A modal closed without a decision leaves its approval pending; the next modal's answer decides the
    newest matching approval (as the seed did), never the older one."""
    known = {a["approval_id"] for a in await console.pending()}
    await open_modal(console, "run command echo left-pending", "Tool Execution Authorization")
    older = await newest_pending(console, "tool", known)
    await close_modal(console)
    await open_modal(console, "run command echo the-newer-one", "Tool Execution Authorization")
    newer = await newest_pending(console, "tool", known | {older["approval_id"]})
    await click_modal_button(console, "Authorize & Execute")
    decision = await decision_for(console, newer["approval_id"])
    if decision.get("approved") is not True:
        raise CheckFailed(f"the newer approval {newer['approval_id']} was not approved: {decision}")
    still = {a["approval_id"] for a in await console.pending()}
    if older["approval_id"] not in still:
        raise CheckFailed(f"the older approval {older['approval_id']} is no longer pending")
    return f"newer {newer['approval_id']} approved; older {older['approval_id']} still pending"


async def check_telemetry(console: Console) -> str:
    page = console.page
    try:
        await page.get_by_text("LIVE", exact=True).wait_for(timeout=STEP_TIMEOUT_S * 1000)
    except PlaywrightError:
        sse = [e for e in console.errors if "telemetry" in e.lower() or "Access-Control" in e]
        raise CheckFailed(f"the panel stays OFFLINE; {sse[:2] or 'no error logged'}") from None

    async def cpu() -> float:
        label = page.get_by_text("CPU LOAD", exact=True)
        text = await label.locator("xpath=following-sibling::div[1]").inner_text()
        return float(text.rstrip("%") or 0)

    try:
        value = await eventually("a non-zero CPU LOAD", cpu)
    except CheckFailed as exc:
        raise CheckFailed(f"LIVE, but {exc}: the metrics events lack cpu_percent?") from None
    return f"LIVE, CPU LOAD {value}%"


async def check_path_twin(console: Console) -> str:
    """Upstream chats with the twin named by the path's user id when one exists: make one, and ask."""
    console.need_session()
    twin = {"id": console.user_id, "codename": "seed path twin"}
    async with console.http.post(console.edge + "/v1/twins", json=twin) as resp:
        if resp.status not in (200, 201):
            raise CheckFailed(f"POST /v1/twins {twin} answered {resp.status}: {(await resp.text())[:200]}")
    marker = "hello to my own twin"
    await console.send(marker)
    answer = await eventually("an answer to the message", lambda: _answer_to(console, marker))
    if f"this is {console.user_id}." not in answer:
        raise CheckFailed(f"twin {console.user_id} exists, but the answer came from another: {answer[:120]!r}")
    return f"answered by twin {console.user_id}"


async def _answer_to(console: Console, marker: str) -> str | None:
    found = [t for t in await console.assistant_texts() if marker in t and not t.startswith("[")]
    return found[-1] if found else None


async def check_no_duplicates(console: Console) -> str:
    texts = await console.assistant_texts()
    repeated = sorted({t[:80] for t in texts if texts.count(t) > 1})
    if repeated:
        raise CheckFailed(f"{len(texts)} assistant bubbles, shown more than once: {repeated[:3]}")
    return f"{len(texts)} assistant bubbles, none repeated"


async def check_reload(console: Console) -> str:
    """A reload keeps upstream's user and session (localStorage): the socket opens again, a new message is
    answered once, and nothing from before is replayed into the fresh page."""
    console.need_session()
    opened = sum("Connection established" in line for line in console.console_log)
    await console.page.reload()
    await eventually(
        "the WebSocket open again after a reload",
        lambda: sum("Connection established" in line for line in console.console_log) > opened,
    )
    session = await console.page.evaluate("localStorage.getItem('pagi_session_id')")
    if session != console.session_id:
        raise CheckFailed(f"the reload started session {session}, not {console.session_id}")
    marker = "hello after a reload"
    await console.send(marker)
    await eventually("an answer after the reload", lambda: _answered(console, marker))
    texts = await console.assistant_texts()
    if len(texts) != 1:
        raise CheckFailed(f"{len(texts)} assistant bubbles after the reload, not just the answer: {texts[:3]}")
    return "the same session again; one answer, nothing replayed"


async def check_console_errors(console: Console) -> str:
    if console.errors:
        raise CheckFailed(f"{len(console.errors)} errors: " + " | ".join(sorted(set(console.errors))[:5]))
    stubbed = ", ".join(sorted(console.stubbed)) or "none"
    return f"no errors (CDN requests answered empty: {stubbed})"


CHECKS: Final[list[tuple[str, Callable[[Console], Awaitable[str]]]]] = [
    ("websocket connects", check_websocket),
    ("chat answer bubble", check_chat_answer),
    ("no duplicated status bubbles", check_status_bubbles),
    ("another origin refused", check_other_origin),
    ("another user refused", check_other_user),
    ("memory approval modal", check_memory_modal),
    ("Show Memory decides it", check_memory_shown),
    ("Authorize & Execute runs the tool", check_tool_authorized),
    ("Deny denies the tool", check_tool_denied),
    ("an older pending approval left alone", check_older_pending),
    ("telemetry panel live", check_telemetry),
    ("twin from the path's user id", check_path_twin),
    ("each answer shown once", check_no_duplicates),
    ("after a reload", check_reload),
    ("browser console clean", check_console_errors),
]


async def close_modal(console: Console) -> None:
    """A modal a failed check left open would block the next one: its header's close button."""
    for title in ("Memory Page Request", "Tool Execution Authorization", "Configuration Required"):
        heading = console.page.get_by_text(title, exact=True)
        if await heading.is_visible():
            await heading.locator("xpath=../following-sibling::button[1]").click()


async def drive(
    browser: Browser, console_url: str, edge: str, work: Path, tailwind: Path | None, auth: Auth | None
) -> list[Check]:
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    rows: list[Check] = []
    headers = {"Authorization": f"Bearer {auth.key}"} if auth else {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15), headers=headers) as http:
        if auth is not None:
            said = await log_in(context, console_url, edge, auth.user, auth.key, auth.user)
            rows.append(Check("log in (keys)", None, said))
        page = await context.new_page()
        console = Console(page, edge, http, tailwind=tailwind, auth=auth)
        watch(console)
        await page.route("**/*", lambda route: stub_external(console, route))
        await page.goto(console_url)
        for name, check in CHECKS:
            try:
                rows.append(Check(name, True, await check(console)))
            except NotApplicable as exc:
                rows.append(Check(name, None, str(exc)))
            except (CheckFailed, PlaywrightError, aiohttp.ClientError) as exc:
                rows.append(Check(name, False, str(exc).splitlines()[0][:400]))
                await page.screenshot(path=work / f"failed-{len(rows):02d}.png")
                await close_modal(console)
        (work / "browser.log").write_text(
            "\n".join(console.console_log + [json.dumps(f) for f in console.frames_in]) + "\n"
        )
    await context.close()
    return rows


async def log_in(context: BrowserContext, console_url: str, edge: str, user: str, key: str, path_user: str) -> str:
    """Keys mode: the person logs in on PAGI's own console (a session cookie for the edge's host, which
    the browser also sends with the seed console's WebSocket), and the seed console's user id, which
    upstream keeps in localStorage as `pagi_user_id`, is set to `path_user`."""
    answer = await context.request.post(
        edge + SESSION_PATH, headers={"X-API-Key": key, "Content-Type": "application/json"}, data="{}"
    )
    if not answer.ok:
        raise SystemExit(f"logging in as {user} at {edge}{SESSION_PATH} failed: {answer.status}")
    origin = json.dumps(console_url)
    await context.add_init_script(
        f"if (location.origin === {origin}) localStorage.setItem('pagi_user_id', {json.dumps(path_user)});"
    )
    return f"cookie for {edge} as {user}; pagi_user_id={path_user} in localStorage"


# --- the whole run ---------------------------------------------------------------------------------


def table(rows: list[Check]) -> str:
    mark = {True: "pass", False: "FAIL", None: "note"}
    lines = ["| check | result | detail |", "|---|---|---|"]
    lines += [f"| {r.name} | {mark[r.ok]} | {r.detail.replace('|', '/')} |" for r in rows]
    return "\n".join(lines)


def prepare(args: argparse.Namespace, work: Path) -> tuple[Path, Path | None, list[Check]]:
    """Extract, configure, install and build the console: its dist/ and a row per step."""
    require_free(args.edge_port, "--edge-port")
    require_free(args.console_port, "--console-port")
    console_dir, extracted = extract(Path(args.source).resolve(), args.commit, work)
    rows = [extracted, write_env(console_dir, args.edge_port), install(console_dir)]
    dist, built = build(console_dir)
    tailwind, styled = tailwind_script(console_dir)
    return dist.resolve(), tailwind, [*rows, built, styled]


async def check_against_pagi(args: argparse.Namespace, dist: Path, tailwind: Path | None, work: Path) -> list[Check]:
    nats_port = args.nats_port or _free_port()
    auth = None
    if args.keys:
        auth = Auth("seed-user", secrets.token_urlsafe(32), "seed-other", secrets.token_urlsafe(32))
    async with serve(dist, args.console_port) as console_url:
        async with (
            pagi_up(args.edge_port, nats_port, work, auth, console_url) as edge,
            async_playwright() as pw,
        ):
            mode = f"keys (PAGI_ALLOWED_ORIGINS={console_url})" if auth else "development mode"
            print(f"console {console_url} · edge {edge}, {mode} · pagi up's output: {work / 'pagi-up.log'}")
            resolve = f"--host-resolver-rules=MAP {OTHER_HOST} 127.0.0.1"
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, resolve])
            try:
                return await drive(browser, console_url, edge, work, tailwind, auth)
            finally:
                await browser.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="an upstream pagi-digital-twin checkout, or its (bare) git directory")
    parser.add_argument("--commit", default="", help=f"git archive this commit (a git dir: {DEFAULT_COMMIT})")
    parser.add_argument("--console-port", type=int, default=3000, help="where the built console is served (3000)")
    parser.add_argument("--edge-port", type=int, default=8181, help="PAGI's edge, as ENV_SETUP.md has it (8181)")
    parser.add_argument("--nats-port", type=int, default=0, help="the embedded nats-server (default: a free port)")
    parser.add_argument(
        "--keys", action="store_true", help="keys mode: one API key, the console listed in PAGI_ALLOWED_ORIGINS"
    )
    parser.add_argument("--work", help="where to extract and build (default: a new temporary folder)")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="seed-console-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work / "pagi-data", ignore_errors=True)
    dist, tailwind, rows = prepare(args, work)
    rows += asyncio.run(check_against_pagi(args, dist, tailwind, work))
    head = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %cI"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "-uno"], capture_output=True, text=True)
    edited = len(dirty.stdout.splitlines())
    tree = f" (+{edited} files edited, uncommitted)" if edited else ""
    print(f"PAGI {head.stdout.strip()}{tree} · checked {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(table(rows))
    sys.exit(1 if any(r.ok is False for r in rows) else 0)


if __name__ == "__main__":
    main()
