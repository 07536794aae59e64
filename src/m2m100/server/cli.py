"""`m2m100 serve`: flags from the settings table, uvicorn with a graceful SIGTERM drain.

SIGTERM (or Ctrl-C): /health turns 503 and new requests are answered 503 at once; requests in flight finish;
when none is left, or after --drain-timeout seconds (stragglers are answered 503), uvicorn closes the
connections and the process exits 0. A second signal cuts the drain short. A watchdog ends the process
(exit 1) if shutdown itself hangs, so the process always exits within drain_timeout + 10 s.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import typing
from collections.abc import Callable, Sequence
from typing import Any

from ..options import TranslatorOptions
from .settings import ServerSettings, cli_flag, env_var

HELP = "run the LibreTranslate-compatible HTTP translation server and web page"

# The model's options name their own metavars (m2m100.options); these are the server's.
_METAVARS = {"api_keys": "FILE", "host": "HOST"}


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """One flag per settings field; unset flags stay absent so that M2M100_* variables apply."""
    for name, field in ServerSettings.model_fields.items():
        annotation = field.annotation
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if typing.get_origin(annotation) is not typing.Literal and len(args) == 1:  # X | None: X
            annotation, args = args[0], list(typing.get_args(args[0]))
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS}
        help_text = f"{field.description} [env {env_var(name)}; default {field.default}]"
        if annotation is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(annotation) is typing.Literal:
            kwargs["choices"] = args
        else:
            kwargs["type"] = {int: int, float: float}.get(annotation, str)
            numeric = {int: "N", float: "SECONDS" if "timeout" in name else "MS"}
            spec = TranslatorOptions.specs().get(name)
            kwargs["metavar"] = (spec and spec.metavar) or _METAVARS.get(name) or numeric.get(annotation, "VALUE")
        parser.add_argument(cli_flag(name), help=help_text.replace("%", "%%"), **kwargs)
    return parser


def build_parser(prog: str = "m2m100 serve") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve a LibreTranslate-compatible translation API and web page.",
    )
    return add_arguments(parser)


def settings_from_args(args: argparse.Namespace, environ: dict[str, str] | None = None) -> ServerSettings:
    flags = {name: getattr(args, name) for name in ServerSettings.model_fields if hasattr(args, name)}
    return ServerSettings.from_sources(flags, environ)


def run(args: argparse.Namespace, translator_factory: Callable[[ServerSettings], Any] | None = None) -> int:
    """Entry for `m2m100 serve` (the main CLI calls this with its parsed arguments)."""
    try:
        settings = settings_from_args(args)
    except ValueError as exc:
        print(f"m2m100: error: {exc}", file=sys.stderr)
        return 2
    return serve(settings, translator_factory)


def serve(settings: ServerSettings, translator_factory: Callable[[ServerSettings], Any] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT; returns the exit code."""
    import uvicorn

    from .app import create_app
    from .runner import DrainingServer, guarded_h11_protocol

    try:
        app = create_app(settings, translator_factory)
    except ValueError as exc:  # e.g. an unreadable API keys file
        print(f"m2m100: error: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings.log_level)
    state = app.state.service
    proxies = settings.forwarded_allow_ips.strip()
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=settings.log_level, lifespan="on",
        timeout_graceful_shutdown=max(1, int(settings.drain_timeout)),
        access_log=False,  # ours (middleware.AccessLog) leaves out the query string, where some clients put texts
        timeout_keep_alive=settings.keep_alive_timeout,
        http=guarded_h11_protocol(settings.header_timeout),
        # X-Forwarded-For decides the client address the rate limit counts: trusted only from the proxies the
        # operator names (uvicorn's own default trusts loopback, so any local process could pick its address).
        proxy_headers=bool(proxies), forwarded_allow_ips=proxies or "",
    )
    server = DrainingServer(config, state, settings.drain_timeout)
    state.on_fatal = server.fail
    server.run()
    _exit_if_workers_busy(state, server.exit_code)
    return server.exit_code


def _exit_if_workers_busy(state: Any, code: int) -> None:
    """A worker thread still inside the model (drain timeout reached, a request cut off) would be torn down
    by interpreter shutdown mid-call, which aborts the process (`terminate called without an active
    exception`, exit 134). Stop the idle workers; if one is still busy, flush and leave without tearing
    threads down, with the documented exit code."""
    workers = [w for w in (getattr(state, "model_worker", None), getattr(state, "prep_worker", None)) if w]
    workers += getattr(getattr(state, "batcher", None), "workers", [])  # the continuous scheduler's own threads
    for worker in workers:
        worker.close()
    if any(getattr(worker, "busy", 0) for worker in workers):
        logging.getLogger("m2m100.server").warning("exiting with a worker still busy (its request was answered 503)")
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def _configure_logging(level: str) -> None:
    """Log lines of the m2m100 loggers to stderr (uvicorn configures its own loggers)."""
    logger = logging.getLogger("m2m100")
    logger.setLevel(level.upper())
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False


def main(argv: Sequence[str] | None = None, translator_factory: Callable[[ServerSettings], Any] | None = None) -> int:
    args = build_parser("python -m m2m100.server").parse_args(argv)
    return run(args, translator_factory)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["add_arguments", "build_parser", "main", "run", "serve", "settings_from_args"]
