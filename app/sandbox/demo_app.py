"""The demo's application: the Acme newsletter page as the repository's own `app.py`, before and after.

`make demo` creates its repository with `BEFORE` (a page that does not have the sign-up yet) and
`APP_TEST`; the scripted agent of the no-key demo writes `signup_app()` over it (the sign-up form:
valid addresses thanked, invalid ones refused, duplicates refused; `broken=True` keeps the
duplicate-address regression QA must catch) and `SUBSCRIBE_TEST`. Each is a standalone, stdlib-only
`python3 app.py` listening on `$PORT` (default 3000) at 127.0.0.1, as `qa.start` runs it in the sandbox.

`BranchApp` runs a checkout's `app.py` as a subprocess on a free loopback port (the demo's terminal
QA run, as a CI job would start the app), and stops it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import IO, Self

from app.redis_server import free_port

_HEAD = '''\
"""Acme newsletter: the page for Acme's monthly newsletter (stdlib only: `python3 app.py` serves $PORT)."""

import html
import os
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

EMAIL = re.compile(r"^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$")
SUBSCRIBERS: list[str] = []
STYLE = "body { font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; color: #1f2328; }"
'''

_SERVE = '''

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        return

    def send(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.send(*respond("GET", self.path, {}))

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        form = {key: values[0] for key, values in parse_qs(raw).items()}
        self.send(*respond("POST", self.path, form))


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "3000"))), Handler).serve_forever()
'''

# The repository's app when the story is written: the page exists, the sign-up does not.
BEFORE = _HEAD + '''
PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme newsletter</title><style>{STYLE}</style></head>
<body><main><h1>Acme newsletter</h1><p>New releases, once a month.</p><p>Sign-up opens soon.</p></main></body></html>"""


def respond(method: str, path: str, form: dict[str, str]) -> tuple[int, str]:
    """(status, HTML) for a request."""
    if method == "GET" and path == "/":
        return 200, PAGE
    return 404, "<h1>Not found</h1>"
''' + _SERVE

_SIGNUP = '''
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme newsletter</title><style>{style}</style></head>
<body><main><h1>Acme newsletter</h1><p>New releases, once a month.</p>
{notice}
<form method="post" action="/subscribe">
 <label for="email">Email</label>
 <input id="email" name="email" type="text" value="{email}">
 <button type="submit">Subscribe</button>
</form></main></body></html>"""


def page(notice: str = "", email: str = "") -> str:
    """The sign-up page, with a notice above the form."""
    return PAGE.format(style=STYLE, notice=notice, email=html.escape(email))


def subscribe(email: str) -> str:
    """Subscribe `email`: thanked when valid and new, refused with a message otherwise."""
    email = email.strip()
    if not EMAIL.match(email):
        return page('<p role="alert">Please enter a valid email address</p>', email)
    if {duplicate_check}:
        return page(f'<p role="alert">{{html.escape(email)}} is already subscribed</p>', email)
    SUBSCRIBERS.append(email)
    return page(f'<p role="status">Thanks! {{html.escape(email)}} is subscribed</p>')


def respond(method: str, path: str, form: dict[str, str]) -> tuple[int, str]:
    """(status, HTML) for a request."""
    if method == "GET" and path == "/":
        return 200, page()
    if method == "POST" and path == "/subscribe":
        return 200, subscribe(form.get("email", ""))
    return 404, "<h1>Not found</h1>"
'''

APP_TEST = '''\
import unittest

import app


class PageTest(unittest.TestCase):
    def test_the_home_page_names_the_newsletter(self) -> None:
        status, body = app.respond("GET", "/", {})
        self.assertEqual(status, 200)
        self.assertIn("Acme newsletter", body)


if __name__ == "__main__":
    unittest.main()
'''

SUBSCRIBE_TEST = '''\
import unittest

import app


class SubscribeTest(unittest.TestCase):
    def test_a_valid_address_is_thanked(self) -> None:
        self.assertIn("Thanks! ada@example.com is subscribed", app.respond("POST", "/subscribe",
                                                                           {"email": "ada@example.com"})[1])

    def test_an_invalid_address_is_refused(self) -> None:
        self.assertIn("Please enter a valid email address", app.subscribe("ada.example.com"))


if __name__ == "__main__":
    unittest.main()
'''


def signup_app(*, broken: bool = False) -> str:
    """The whole `app.py` with the sign-up; `broken=True` accepts an address that is already subscribed (a
    regression that compares with every address but itself)."""
    check = "email.lower() in (s.lower() for s in SUBSCRIBERS" + (" if s != email)" if broken else ")")
    return _HEAD + _SIGNUP.replace("{duplicate_check}", check).replace("{{", "{").replace("}}", "}") + _SERVE


class BranchApp:
    """`python3 app.py` from a checkout, on a free loopback port (`PORT`), until `stop()`."""

    def __init__(self, checkout: Path) -> None:
        self.checkout = checkout
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None  # what it prints, in a file (a pipe nobody reads could fill up)

    @property
    def url(self) -> str:
        """The app's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> Self:
        """Start it and wait until `/` answers; RuntimeError with its output when it does not."""
        env = {**os.environ, "PORT": str(self.port), "PYTHONDONTWRITEBYTECODE": "1"}
        self._output = tempfile.TemporaryFile()  # noqa: SIM115 - open while the app runs; stop() closes it
        self._process = subprocess.Popen([sys.executable, "app.py"], cwd=self.checkout, env=env,
                                         stdout=self._output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.url + "/", timeout=1) as response:
                    if response.status < 500:
                        return self
            except OSError:
                time.sleep(0.1)
        output = self.stop()
        raise RuntimeError(f"`python3 app.py` did not answer on {self.url} within {timeout:g} s: {output[-500:]}")

    def stop(self) -> str:
        """Stop it; what it printed."""
        process, self._process = self._process, None
        output, self._output = self._output, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if output is None:
            return ""
        with output:
            output.seek(0)
            return output.read().decode(errors="replace")
