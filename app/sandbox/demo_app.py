"""The demo's application under test: a newsletter sign-up page, served on loopback.

`make demo` runs the whole loop on a story about this page; QA then drives it in Chromium. It is a
stand-in for the team's own application (which a real deployment reaches through `qa.base_url`,
a `deployment_status`, or `qa.start`).
"""

from __future__ import annotations

import html
import re
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs

from app.loopback import QuietHTTPServer

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme newsletter</title>
<style>
 body {{ font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; color: #1f2328; }}
 label {{ display: block; margin: 1rem 0 .25rem; font-weight: 600; }}
 input {{ font-size: 1rem; padding: .4rem; width: 100%; box-sizing: border-box; }}
 button {{ margin-top: 1rem; font-size: 1rem; padding: .5rem 1rem; }}
 .notice {{ padding: .75rem; border-radius: 6px; margin: 1rem 0; }}
 .ok {{ background: #dafbe1; }} .error {{ background: #ffebe9; }}
</style></head>
<body><main>
<h1>Acme newsletter</h1>
<p>New releases, once a month.</p>
{notice}
<form method="post" action="/subscribe">
 <label for="email">Email</label>
 <input id="email" name="email" type="text" value="{email}">
 <button type="submit">Subscribe</button>
</form>
<p><a href="/subscribers">Subscribers</a></p>
</main></body></html>"""


class DemoApp:
    """A running sign-up app: `url` while started; subscribers are kept in memory.

    `broken=True` serves a regression for the demo's failing-QA run: an address that is already
    subscribed is accepted again (and thanked), instead of being refused with a notice.
    """

    def __init__(self, *, broken: bool = False) -> None:
        self.subscribers: list[str] = []
        self.broken = broken
        self._server: QuietHTTPServer | None = None

    @property
    def url(self) -> str:
        """The started app's base URL, `http://host:port`."""
        assert self._server is not None, "DemoApp is not started"
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)  # an AF_INET server: typeshed also allows the bytes of AF_UNIX
        return f"http://{host}:{port}"

    def start(self) -> DemoApp:
        """Serve on a free loopback port in a background thread."""
        app = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep the demo's terminal readable
                return

            def _send(self, body: str, status: int = 200) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # http.server names it so
                if self.path == "/":
                    self._send(_PAGE.format(notice="", email=""))
                elif self.path == "/subscribers":
                    items = "".join(f"<li>{html.escape(s)}</li>" for s in app.subscribers)
                    self._send(f"<!doctype html><title>Subscribers</title><h1>Subscribers</h1><ul>{items}</ul>")
                else:
                    self._send("<h1>Not found</h1>", 404)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                email = (form.get("email") or [""])[0].strip()
                if not _EMAIL.match(email):
                    notice = '<p class="notice error" role="alert">Please enter a valid email address</p>'
                elif not app.broken and email.lower() in (s.lower() for s in app.subscribers):
                    notice = f'<p class="notice error" role="alert">{html.escape(email)} is already subscribed</p>'
                else:
                    app.subscribers.append(email)
                    notice = f'<p class="notice ok" role="status">Thanks! {html.escape(email)} is subscribed</p>'
                    email = ""
                self._send(_PAGE.format(notice=notice, email=html.escape(email)))

        self._server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, name="demo-app", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
