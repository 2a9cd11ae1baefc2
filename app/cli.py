"""`specloop serve | worker | demo | qa`: the command line entry point."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from app.job_args import Queue

EXIT_CONFIG = 2  # bad settings or environment: the message says what to fix

QUEUE_CHOICES: dict[str, tuple[Queue, ...]] = {"light": ("light",), "heavy": ("heavy",), "all": ("light", "heavy")}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="specloop",
        description="Specloop: story -> example map -> approved spec -> code -> browser QA, as a GitHub App.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the web service (webhooks, /setup, /healthz)")
    # loopback unless asked: a fresh `specloop serve` in setup mode must not offer /setup to the network
    serve.add_argument("--host", default="127.0.0.1",
                       help="interface to listen on (default 127.0.0.1; the Docker image passes 0.0.0.0)")
    serve.add_argument("--port", type=int, default=3000, help="port to listen on (default 3000)")
    serve.add_argument("--workers", type=_positive, default=_positive(os.environ.get("WEB_CONCURRENCY", "1")),
                       help="web processes sharing the port (default: WEB_CONCURRENCY, else 1; "
                            "docs/benchmarks.md shows what a second one gains)")

    worker = commands.add_parser("worker", help="run the job worker")
    worker.add_argument("--queue", choices=sorted(QUEUE_CHOICES), default="all",
                        help="light (mapping, specs), heavy (code generation, QA) or all (default)")

    commands.add_parser("demo", help="run the whole loop against the built-in GitHub double")
    commands.add_parser("qa", help="run approved scenarios against a URL (see `specloop qa --help`)",
                        add_help=False)
    return parser


def _positive(text: str) -> int:
    """A whole number of at least 1 (for --workers and WEB_CONCURRENCY)."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is less than 1")
    return number


def version() -> str:
    """The installed package's version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("specloop")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _fail(message: str) -> int:
    print(f"specloop: {message}", file=sys.stderr)
    return EXIT_CONFIG


def _settings_error(error: ValidationError) -> str:
    """Name the environment variables pydantic could not read (APP_ID=abc, ...)."""
    parts = []
    for item in error.errors(include_input=False):
        name = "_".join(str(part) for part in item.get("loc", ())).upper() or "settings"
        parts.append(f"{name} ({item.get('msg', 'invalid')})")
    return "Specloop cannot start; fix these settings (environment or .env): " + "; ".join(parts)


def serve(host: str, port: int, workers: int = 1) -> int:
    """Run the web service until interrupted."""
    import uvicorn

    from app.logs import configure_logging, quiet_access_log
    from app.redis_server import RedisServerError, resolve_redis_url
    from app.settings import SettingsError, get_settings
    from app.web import create_app
    from app.webhook import WEBHOOK_PATH

    try:
        settings = get_settings()
        if not settings.setup_mode:  # setup mode exists to obtain the secrets check() asks for
            settings.check()
    except ValidationError as error:
        return _fail(_settings_error(error))
    except SettingsError as error:
        return _fail(str(error))
    configure_logging(settings.log_level, fmt=settings.log_format)
    quiet_access_log([WEBHOOK_PATH])  # each delivery has its own line already, with its outcome
    # Redis is resolved here, not in the app's lifespan, so a missing redis-server is one clear line.
    try:
        url, managed = resolve_redis_url(settings)
    except RedisServerError as error:
        return _fail(str(error))
    if workers > 1 and settings.setup_mode:
        print("specloop: setup mode runs one web process; --workers applies once the App is registered",
              file=sys.stderr)
        workers = 1
    options: dict[str, Any] = {"host": host, "port": port, "log_config": None, "proxy_headers": True,
                               "timeout_graceful_shutdown": 10}
    try:
        if workers == 1:
            uvicorn.run(create_app(settings.model_copy(update={"redis_url": url})), **options)
        else:
            # each process builds its own service from the environment; they share the one Redis
            os.environ["REDIS_URL"] = url
            uvicorn.run("app.web:service_from_environment", factory=True, workers=workers, **options)
    finally:
        if managed is not None:
            managed.stop()
    return 0


def worker(queue: str) -> int:
    """Run arq workers for the chosen queues until interrupted."""
    from app.logs import configure_logging
    from app.redis_server import RedisServerError
    from app.settings import SettingsError, get_settings

    try:
        settings = get_settings()
        if settings.setup_mode:
            return _fail("Specloop is not registered yet (no APP_ID): run `specloop serve` and open /setup first.")
        settings.check()
    except ValidationError as error:
        return _fail(_settings_error(error))
    except SettingsError as error:
        return _fail(str(error))
    configure_logging(settings.log_level, fmt=settings.log_format)
    from jobs.worker import run_worker  # the outermost wiring: only here does the CLI reach into jobs/

    try:
        run_worker(settings, QUEUE_CHOICES[queue])
    except RedisServerError as error:
        return _fail(str(error))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the command; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:  # a bare `specloop` is someone asking what it does
        _parser().print_help()
        return 0
    if args[:1] == ["qa"]:
        # `specloop qa` has its own options; hand it everything after the command name.
        from app.qa.cli import main as qa_main

        return int(qa_main(args[1:]) or 0)
    if args[:1] == ["demo"]:
        # `specloop demo` has its own options too (--broken-app, --out, ...)
        from app.demo import main as demo_main

        try:
            return int(demo_main(args[1:]) or 0)
        except KeyboardInterrupt:
            return 130
    try:
        parsed = _parser().parse_args(args)
    except SystemExit as exit_:  # --help or a usage error: argparse already printed it
        return int(exit_.code or 0)
    try:
        if parsed.command == "serve":
            return serve(parsed.host, parsed.port, parsed.workers)
        if parsed.command == "worker":
            return worker(parsed.queue)
    except KeyboardInterrupt:
        return 130
    return _fail(f"unknown command {parsed.command!r}")


if __name__ == "__main__":
    sys.exit(main())
