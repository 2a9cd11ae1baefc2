"""A small web app the QA tests run scenarios against, plus a deliberately broken variant.

Plain stdlib HTTP on a loopback port: a home page with a navigation landmark and a news region,
a sign-up form (text fields, placeholder-only field, select, checkboxes, textarea), a welcome page,
a products table and list, a search box submitted with Enter, and a page whose text appears late.
`/leaky?to=URL` embeds and fetches a URL of the test's choosing (the QA confinement tests point it at
another origin, a cloud metadata address or a local file); every app records the paths it served
(`hits`), so a test can tell whether a request reached it.
The broken variant keeps every page but gets three behaviours wrong, so the tests can check that
the right scenarios fail at the right lines.
"""

from __future__ import annotations

import html
import json
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlencode, urlparse

from app.loopback import QuietHTTPServer

PRODUCTS = [("Tea", "3.50"), ("Coffee", "4.20"), ("Cocoa", "2.80")]


def _page(title: str, body: str) -> bytes:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em} .hidden{display:none}</style></head>"
        f"<body>{body}</body></html>"
    ).encode()


NAV = (
    "<nav aria-label='Main menu'><a href='/'>Home</a> | <a href='/signup'>Sign up</a> | "
    "<a href='/products'>Products</a> | <a href='/search'>Search</a></nav>"
)


def render(path: str, query: dict[str, list[str]], broken: bool) -> tuple[int, bytes]:
    """The page for a path, as (status, html)."""
    q = {k: v[0] for k, v in query.items()}
    if path == "/":
        return 200, _page("Home", NAV + (
            "<main><h1>Welcome to the shop</h1>"
            "<section aria-label='News'><h2>News</h2><p>Spring sale starts Monday</p></section>"
            "<section aria-label='Help'><h2>Help</h2><p>Call us any time</p></section>"
            "<p class='hidden'>Secret hidden text</p>"
            "<button type='button' onclick=\"document.getElementById('out').textContent='Clicked!'\">"
            "Say hello</button><p id='out'></p></main>"
        ))
    if path == "/signup":
        return 200, _page("Sign up", NAV + (
            "<main><h1>Create your account</h1>"
            "<form method='post' action='/signup' aria-label='Sign-up form'>"
            "<p><label for='name'>Name</label> <input id='name' name='name'></p>"
            "<p><label for='email'>Email</label> <input id='email' name='email' type='email'></p>"
            "<p><input name='city' placeholder='Your city' aria-describedby='city-help'>"
            "<small id='city-help'>optional</small></p>"
            "<p><label for='plan'>Plan</label> <select id='plan' name='plan'>"
            "<option>Free</option><option>Pro</option><option>Team</option></select></p>"
            "<p><input type='checkbox' id='terms' name='terms'> <label for='terms'>I accept the terms</label></p>"
            "<p><input type='checkbox' id='news' name='news' checked> <label for='news'>Send me news</label></p>"
            "<p><label for='about'>About you</label> <textarea id='about' name='about'></textarea></p>"
            "<p><button type='submit'>Create account</button></p>"
            "</form></main>"
        ))
    if path == "/welcome":
        name = q.get("name", "")
        if broken:
            name = name[:1]  # the broken app mangles the name
        lines = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in sorted(q.items()))
        return 200, _page("Welcome", NAV + (
            f"<main><h1>Welcome, {html.escape(name)}!</h1>"
            f"<ul aria-label='Your details'>{lines}</ul></main>"
        ))
    if path == "/products":
        rows = PRODUCTS[:-1] if broken else PRODUCTS  # the broken app loses a product
        body_rows = "".join(f"<tr><td>{n}</td><td>{p}</td></tr>" for n, p in rows)
        items = "".join(f"<li>{n}</li>" for n, _ in rows)
        return 200, _page("Products", NAV + (
            "<main><h1>Products</h1>"
            "<table aria-label='Products'><thead><tr><th>Name</th><th>Price</th></tr></thead>"
            f"<tbody>{body_rows}</tbody></table>"
            f"<ul aria-label='Categories'>{items}</ul></main>"
        ))
    if path == "/search":
        term = q.get("q")
        result = f"<p>Results for {html.escape(term)}</p>" if term is not None and not broken else ""
        return 200, _page("Search", NAV + (
            "<main><h1>Search</h1><form method='get' action='/search' role='search'>"
            "<input name='q' placeholder='Search products'></form>" + result + "</main>"
        ))
    if path == "/slow":
        return 200, _page("Slow", NAV + (
            "<main><h1>Slow page</h1><p id='late'></p>"
            "<script>setTimeout(()=>{document.getElementById('late').textContent='Loaded at last'}, 400)</script>"
            "</main>"
        ))
    if path == "/noisy":
        return 200, _page("Noisy", NAV + (
            "<main><h1>Noisy page</h1>"
            "<script>console.error('boom from the page'); fetch('/missing.json');</script></main>"
        ))
    if path == "/leaky":
        # A page that tries to reach beyond the app under test: an image, a fetch and a link.
        target = html.escape(q.get("to", ""), quote=True)
        return 200, _page("Leaky", NAV + (
            "<main><h1>Leaky page</h1>"
            f"<img alt='elsewhere' src='{target}'>"
            f"<script>fetch({json.dumps(q.get('to', ''))}).catch(() => {{}});</script>"
            f"<a href='{target}'>Elsewhere</a></main>"
        ))
    if path == "/favicon.ico":
        return 204, b""  # browsers ask for it; a 404 would show up as a console error in every scenario
    return 404, _page("Not found", "<h1>Not found</h1>")


class SampleApp:
    """The sample app running on a loopback port in a background thread."""

    def __init__(self, broken: bool = False) -> None:
        self.broken = broken
        self.hits: list[str] = []  # every path served, in order (what reached this app)
        app = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                app.hits.append(self.path)
                url = urlparse(self.path)
                status, body = render(url.path, parse_qs(url.query), app.broken)
                self._send(status, body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                if urlparse(self.path).path == "/signup":
                    # Post/redirect/get, as real apps do: the welcome page shows what was submitted.
                    fields = {k: v[0] for k, v in form.items()}
                    self._send(303, b"", {"Location": "/welcome?" + urlencode(fields)})
                else:
                    self._send(404, _page("Not found", "<h1>Not found</h1>"))

        self.server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
