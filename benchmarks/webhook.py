"""How fast the webhook endpoint acknowledges GitHub: verify, decide, dedupe and enqueue, per delivery.

GitHub waits at most 10 s for an answer and never retries by itself, so the endpoint must answer in
milliseconds. This starts the real service as its own process (`specloop serve`, a managed
redis-server) and sends it signed `issues` `labeled` deliveries built from the captured fixture
payload, one at a time over a kept-alive connection (latency), then 16 at a time (throughput).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.redis_server import ManagedRedis, free_port
from app.signature import sign
from app.webhook import WEBHOOK_PATH

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = ROOT / "tests" / "fixtures" / "webhooks" / "issues" / "labeled.payload.json"
SECRET = "benchmark-webhook-secret"
SEQUENTIAL = 1000
CONCURRENT = 2000
CONCURRENCY = 16


def _pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _body() -> bytes:
    payload = json.loads(PAYLOAD.read_text())
    payload["label"] = {"name": "story", "color": "ededed"}
    payload["installation"] = {"id": 42}
    return json.dumps(payload).encode()


async def _deliver(client: httpx.AsyncClient, body: bytes, signature: str) -> float:
    headers = {"X-GitHub-Event": "issues", "X-GitHub-Delivery": str(uuid.uuid4()),
               "X-Hub-Signature-256": signature, "Content-Type": "application/json"}
    started = time.perf_counter()
    response = await client.post(WEBHOOK_PATH, content=body, headers=headers)
    elapsed = time.perf_counter() - started
    if response.status_code != 202 or response.json().get("status") != "queued":
        raise SystemExit(f"unexpected answer {response.status_code}: {response.text}")
    return elapsed


async def _measure(url: str) -> tuple[list[float], float]:
    body = _body()
    signature = sign(SECRET, body)
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        for _ in range(50):  # warm-up: imports, pools, first Redis connections
            await _deliver(client, body, signature)
        latencies = [await _deliver(client, body, signature) for _ in range(SEQUENTIAL)]
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one() -> None:
            async with gate:
                await _deliver(client, body, signature)

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(CONCURRENT)))
        throughput = CONCURRENT / (time.perf_counter() - started)
    return latencies, throughput


def _peak_memory_mb(pid: int) -> float:
    """The service process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _serve(tmp: Path, redis_url: str) -> tuple[subprocess.Popen[bytes], str]:
    """`specloop serve` as its own process (as in production), once /healthz answers."""
    port = free_port()
    env = {**os.environ, "APP_ID": "1", "PRIVATE_KEY": _pem(), "WEBHOOK_SECRET": SECRET, "REDIS_URL": redis_url,
           "DATA_DIR": str(tmp), "DOTENV_PATH": str(tmp / ".env"), "LOG_LEVEL": "WARNING"}
    process = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], env=env,
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the service did not start for the webhook benchmark")


def run_all() -> str:
    """Start a service, measure it, and return the section's markdown."""
    with tempfile.TemporaryDirectory(prefix="specloop-bench-") as tmp:
        redis = ManagedRedis(Path(tmp) / "redis").start()
        process, url = _serve(Path(tmp), redis.url)
        try:
            latencies, throughput = asyncio.run(_measure(url))
            peak_mb = _peak_memory_mb(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=15)
            redis.stop()
    ms = sorted(x * 1000 for x in latencies)
    p50, p95, p99 = (ms[int(len(ms) * q) - 1] for q in (0.50, 0.95, 0.99))
    print(f"webhook: p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, {throughput:.0f} deliveries/s")
    return f"""## Webhook endpoint: time to acknowledge a delivery

`make bench` also starts the web service as its own process (`specloop serve`, one uvicorn worker, a
managed `redis-server`) and posts signed `issues` `labeled` deliveries built from the captured fixture
payload: {SEQUENTIAL} one after another over a kept-alive connection, then {CONCURRENT} with {CONCURRENCY}
in flight. Each one is verified (HMAC-SHA256), routed, deduplicated and enqueued in one Redis
transaction before the 202 answer, as in production. GitHub gives up after 10 s.

| measure | value |
|---|---|
| latency p50 | {p50:.1f} ms |
| latency p95 | {p95:.1f} ms |
| latency p99 | {p99:.1f} ms |
| latency mean | {statistics.fmean(ms):.1f} ms |
| throughput, {CONCURRENCY} in flight | {throughput:.0f} deliveries/s |
| peak memory of the service process | {peak_mb:.0f} MB |
"""
