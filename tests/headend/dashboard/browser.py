"""Headless Debian ``chromium`` driven over the DevTools protocol with aiohttp's websocket client.

Just enough of CDP for dashboard tests: open a page, evaluate JavaScript (awaiting promises),
wait for load, take a screenshot. Requests are answered in order on one websocket, so no
reader task is needed: ``call`` reads messages until its own reply, skipping events except the
ones a caller asked to wait for.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = shutil.which("chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
)
DEVTOOLS_PREFIX = "DevTools listening on "
CLOCK_LIKE = re.compile(r"(?<![\d:+-])\d{2}:\d{2}(?::\d{2})?(?![\d:])(?! [+-]\d{2}:\d{2})")
"""A time of day not followed by its UTC offset: the dashboard shows none (site time + zone)."""
START_TIMEOUT = 20.0


class BrowserError(Exception):
    """Chromium did not start, or a DevTools call failed; the message says which."""


class Page:
    def __init__(self, socket: aiohttp.ClientWebSocketResponse, session: str) -> None:
        self._socket = socket
        self._session = session
        self._ids = itertools.count(1000)
        self._events: list[dict[str, Any]] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        await self._socket.send_json(
            {"id": message_id, "method": method, "params": params, "sessionId": self._session}
        )
        while True:
            message = await self._socket.receive_json()
            if message.get("id") == message_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self._events.append(message)

    async def wait_event(self, method: str) -> dict[str, Any]:
        for index, event in enumerate(self._events):
            if event["method"] == method:
                return self._events.pop(index)
        while True:
            message: dict[str, Any] = await self._socket.receive_json()
            if message.get("method") == method:
                return message

    async def goto(self, url: str) -> None:
        await self.call("Page.enable")
        await self.call("Page.navigate", url=url)
        await self.wait_event("Page.loadEventFired")

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of ``expression``; a promise is awaited inside the page."""
        reply = await self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in reply:
            raise BrowserError(f"page script failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    async def wait_for_text(self, selector: str, text: str) -> None:
        """Until the element's text is ``text``, woken by DOM mutations (not by polling)."""
        script = """
        new Promise((resolve) => {
          const check = () => {
            const node = document.querySelector(SELECTOR);
            if (node && node.textContent.trim() === TEXT) { observer.disconnect(); resolve(true); }
          };
          const observer = new MutationObserver(check);
          observer.observe(document, { subtree: true, childList: true, characterData: true });
          check();
        })
        """
        script = script.replace("SELECTOR", json.dumps(selector)).replace("TEXT", json.dumps(text))
        await self.evaluate(script)

    async def wait_until(self, predicate: str) -> Any:
        """The first truthy value of the JS expression ``predicate`` (``True`` for an element),
        re-evaluated on every DOM mutation (not by polling)."""
        script = """
        new Promise((resolve) => {
          const check = () => {
            const value = (PREDICATE);
            if (value) { observer.disconnect(); resolve(value instanceof Node || value); }
          };
          const observer = new MutationObserver(check);
          observer.observe(document, { subtree: true, childList: true, characterData: true,
            attributes: true });
          check();
        })
        """
        return await self.evaluate(script.replace("PREDICATE", predicate))

    async def set_viewport(self, width: int, height: int) -> None:
        """Lay the page out as on a ``width`` x ``height`` screen (1280x720 laptop, wall)."""
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    async def screenshot(self, path: Path) -> bytes:
        reply = await self.call("Page.captureScreenshot", format="png")
        data = base64.b64decode(reply["data"])
        await asyncio.to_thread(path.write_bytes, data)
        return data


async def _devtools_url(process: asyncio.subprocess.Process) -> str:
    assert process.stderr is not None
    async with asyncio.timeout(START_TIMEOUT):
        while line := await process.stderr.readline():
            text = line.decode(errors="replace").strip()
            if text.startswith(DEVTOOLS_PREFIX):
                return text.removeprefix(DEVTOOLS_PREFIX)
    raise BrowserError(f"chromium exited ({process.returncode}) before DevTools listened")


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass


@asynccontextmanager
async def chromium_page(profile: Path) -> AsyncIterator[Page]:
    """A blank page in a fresh headless chromium using the empty profile folder ``profile``."""
    if CHROMIUM is None:
        raise BrowserError("chromium is not installed (Debian package 'chromium')")
    process = await asyncio.create_subprocess_exec(
        CHROMIUM,
        *FLAGS,
        f"--user-data-dir={profile}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        url = await _devtools_url(process)
        assert process.stderr is not None
        async with (
            asyncio.TaskGroup() as group,
            aiohttp.ClientSession() as http,
            http.ws_connect(url, max_msg_size=0) as socket,
        ):
            drain = group.create_task(_drain(process.stderr))  # a full pipe would stall it
            await socket.send_json(
                {"id": 1, "method": "Target.createTarget", "params": {"url": "about:blank"}}
            )
            target = await _reply(socket, 1)
            await socket.send_json(
                {
                    "id": 2,
                    "method": "Target.attachToTarget",
                    "params": {"targetId": target["targetId"], "flatten": True},
                }
            )
            session = (await _reply(socket, 2))["sessionId"]
            try:
                yield Page(socket, session)
            finally:
                drain.cancel()
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(5):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


async def _reply(socket: aiohttp.ClientWebSocketResponse, message_id: int) -> dict[str, Any]:
    while True:
        message = await socket.receive_json()
        if message.get("id") == message_id:
            if "error" in message:
                raise BrowserError(f"DevTools call {message_id}: {message['error']}")
            result: dict[str, Any] = message["result"]
            return result
