"""Running the service: Hypercorn serving the ASGI app, stopped by SIGINT or SIGTERM.

On a stop signal the Socket.IO connections are closed first, so they do not
hold the shutdown up. Hypercorn stops accepting connections and finishes the
requests in flight (up to ``shutdown_timeout``); then the app's after-serving
hook stops the job queue, letting running jobs finish, closes sockets, HTTP
clients and the database.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from hypercorn.asyncio import serve
from hypercorn.config import Config

from hotelbot import __version__
from hotelbot.settings import Settings
from hotelbot.web.app import create_app
from hotelbot.web.proxy import ProxyHeaders

logger = logging.getLogger(__name__)


def hypercorn_config(settings: Settings) -> Config:
    config = Config()
    host = settings.host
    config.bind = [f"[{host}]:{settings.port}" if ":" in host else f"{host}:{settings.port}"]
    config.graceful_timeout = settings.shutdown_timeout
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.keep_alive_timeout = 75
    config.include_server_header = False
    return config


class ListenFailed(Exception):
    """The listen address could not be bound; ``error`` is the OS error."""

    def __init__(self, host: str, port: int, error: OSError) -> None:
        super().__init__(f"cannot listen on {host}:{port}: {error}")
        self.host = host
        self.port = port
        self.error = error


async def run_server(settings: Settings) -> None:
    """Serve until SIGINT or SIGTERM, then stop cleanly; raise ListenFailed when the address cannot be bound."""
    config = hypercorn_config(settings)
    _check_address_free(config, settings)
    asgi_app, _, runtime = create_app(settings)
    asgi_app = ProxyHeaders(asgi_app, settings.trusted_proxies)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def request_stop(signum: int) -> None:
        if not stop.is_set():
            logger.info("Received %s; stopping", signal.Signals(signum).name)
            stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, request_stop, signum)

    logger.info(
        "hotelbot %s starting on %s:%s (data directory %s)", __version__, settings.host, settings.port, settings.data_path
    )

    async def stop_requested() -> None:
        await stop.wait()
        # Hypercorn waits for open connections until its graceful timeout and then
        # cancels them with logged tracebacks; Socket.IO clients would hold it that long.
        await runtime.realtime.close_all()

    await serve(asgi_app, config, shutdown_trigger=stop_requested)
    logger.info("hotelbot stopped")


def _check_address_free(config: Config, settings: Settings) -> None:
    """Bind the listen address once and release it; raise ListenFailed when it cannot be bound.

    Hypercorn binds only after the app's start-up, which starts the job queue's threads: a bind failing
    then would leave the process running without serving until it gets a signal.
    """
    try:
        sockets = config.create_sockets()
    except OSError as error:
        raise ListenFailed(settings.host, settings.port, error) from error
    for sock in (*sockets.secure_sockets, *sockets.insecure_sockets, *sockets.quic_sockets):
        sock.close()
