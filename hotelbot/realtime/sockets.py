"""The Socket.IO server: authenticated connections, rooms and hotelbot's events.

A client sends its access token in the handshake (``auth: {token}``) or as the
``?token=`` query parameter. On connect a socket joins ``tenant:{tenantId}``,
``user:{userId}`` and ``tenant:{tenantId}:unit:{slug}`` for a user with a unit,
or ``tenant:{tenantId}:unit:*`` for a user who works for every unit. A refused
connection carries the translated message and ``data: {code}``, which the
JavaScript client shows in ``connect_error`` as ``err.message`` and ``err.data``.
"""

from __future__ import annotations

import logging
import sys
import traceback
import urllib.parse
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import socketio

from hotelbot.errors import AppError, error_body
from hotelbot.i18n import DEFAULT_LANGUAGE

logger = logging.getLogger(__name__)

# Returns the principal ({id, tenant_id, role, hotel_unit, language}) for a token, or raises AppError.
Authenticator = Callable[[str], Awaitable[dict[str, Any]]]
# Whether a conversation id belongs to a tenant.
ConversationCheck = Callable[[str, str], Awaitable[bool]]


# Packages whose frames make up the decoding of a client's packet, from engine.io's handler down to the raise.
_PACKET_DECODING_PACKAGES = frozenset({"engineio", "socketio", "json"})


def _malformed_packet(error: BaseException | None, tb: TracebackType | None = None) -> bool:
    """Return whether ``error`` is engine.io or python-socketio rejecting a packet that a client sent.

    Their decoders raise ValueError (JSONDecodeError and UnicodeDecodeError among them) for a packet that does not
    parse, and RecursionError for JSON nested too deep. Such an error with a frame from any other package, this
    server's handlers included, is a real failure. ``tb`` is where to start reading the traceback, the error's own
    by default.
    """
    if not isinstance(error, (ValueError, RecursionError)):
        return False
    for frame, _ in traceback.walk_tb(tb or error.__traceback__):
        if frame.f_globals.get("__name__", "").partition(".")[0] not in _PACKET_DECODING_PACKAGES:
            return False
    return True


class _ClientErrorLog(logging.LoggerAdapter):
    """engine.io's log, with the requests it refuses and the packets it cannot decode recorded as warnings.

    engine.io logs each request it refuses with a 400 through ``error``: a poll for a session that ended with a
    restart or a stop, a wrong transport, a bad upgrade. It logs a packet that does not decode through
    ``exception``, with a traceback. Those are a client's stale or wrong requests, not faults of this server, so
    they do not belong among its errors. Failures inside engine.io and in this server's handlers still log as errors.
    """

    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.warning(msg, *args, **kwargs)

    def exception(self, msg: object, *args: Any, exc_info: Any = True, **kwargs: Any) -> None:
        error = sys.exc_info()[1]
        if exc_info is True and _malformed_packet(error):
            self.warning("Malformed packet from a client rejected (%s): %s: %s", msg, type(error).__name__, error)
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)


def tenant_room(tenant_id: str) -> str:
    return f"tenant:{tenant_id}"


def user_room(user_id: str) -> str:
    return f"user:{user_id}"


def unit_room(tenant_id: str, slug: str | None) -> str:
    return f"tenant:{tenant_id}:unit:{slug or '*'}"


def conversation_room(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


def _token_from(environ: dict, auth: Any) -> str | None:
    if isinstance(auth, dict) and isinstance(auth.get("token"), str):
        return auth["token"]
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    tokens = query.get("token")
    return tokens[0] if tokens else None


def _is_utf8(text: str) -> bool:
    """Return whether ``text`` encodes as UTF-8, which a lone surrogate from a JSON escape does not."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class RealtimeServer:
    """Wraps python-socketio's AsyncServer with hotelbot's authentication and rooms."""

    def __init__(self, cors_origins: list[str] | str | None) -> None:
        self._frontend_origins = [cors_origins] if isinstance(cors_origins, str) else list(cors_origins or [])
        # engine.io logs every packet, with its data, at INFO; warnings and errors are all this log needs.
        engine_log = logging.getLogger("engineio.server")
        engine_log.setLevel(logging.WARNING)
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            cors_allowed_origins=self._origin_allowed,
            logger=False,
            engineio_logger=_ClientErrorLog(engine_log),
        )
        self._authenticate: Authenticator | None = None
        self._conversation_exists: ConversationCheck | None = None
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("join:conversation", self._on_join)
        self.sio.on("leave:conversation", self._on_leave)

    def _origin_allowed(self, origin: str, environ: dict) -> bool:
        """Allow the configured frontend origin and this server's own origin, nothing else.

        Forwarded headers reach here only from trusted proxies (web/proxy.py strips them otherwise).
        """
        if origin in self._frontend_origins:
            return True
        scheme = environ.get("HTTP_X_FORWARDED_PROTO") or environ.get("wsgi.url_scheme", "http")
        host = environ.get("HTTP_X_FORWARDED_HOST") or environ.get("HTTP_HOST", "")
        return origin == f"{scheme}://{host}"

    def bind(self, authenticate: Authenticator, conversation_exists: ConversationCheck) -> None:
        self._authenticate = authenticate
        self._conversation_exists = conversation_exists

    def asgi_app(self, other_app: Any) -> Callable[..., Awaitable[None]]:
        """Return the ASGI app serving Socket.IO under /socket.io and ``other_app`` everywhere else."""
        app = socketio.ASGIApp(self.sio, other_asgi_app=other_app, socketio_path="socket.io")

        async def serve(scope: dict, receive: Callable, send: Callable) -> None:
            try:
                await app(scope, receive, send)
            except (ValueError, RecursionError) as error:
                # engine.io decodes a websocket's frames outside its own error handling: a frame that does not
                # parse would reach Hypercorn as an error with a traceback. Such a connection is just closed.
                if scope["type"] != "websocket" or not _malformed_packet(error, error.__traceback__.tb_next):
                    raise
                logger.warning("Malformed websocket packet from a client rejected: %s: %s", type(error).__name__, error)

        return serve

    async def _on_connect(self, sid: str, environ: dict, auth: Any = None) -> None:
        token = _token_from(environ, auth)
        try:
            if not token:
                raise AppError("Authentication required.", code="UNAUTHORIZED")
            assert self._authenticate is not None
            principal = await self._authenticate(token)
        except AppError as error:
            body = error_body(error, DEFAULT_LANGUAGE)
            logger.info("Socket connection refused: %s", error.code)
            # The client's connect_error receives {message, data: {code}}; a single dict
            # argument would be turned into a string and reach it as the message.
            raise socketio.exceptions.ConnectionRefusedError(body["error"], {"code": body["code"]})

        await self.sio.save_session(sid, principal)
        await self.sio.enter_room(sid, tenant_room(principal["tenant_id"]))
        await self.sio.enter_room(sid, user_room(principal["id"]))
        await self.sio.enter_room(sid, unit_room(principal["tenant_id"], principal["hotel_unit"]))
        logger.info("Socket connected: sid=%s user=%s tenant=%s", sid, principal["id"], principal["tenant_id"])

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        logger.info("Socket disconnected: sid=%s reason=%s", sid, reason)

    async def _conversation_id(self, sid: str, data: Any) -> tuple[dict, str] | dict:
        session = await self.sio.get_session(sid)
        conversation_id = data.get("conversationId") if isinstance(data, dict) else None
        if not isinstance(conversation_id, str) or not conversation_id or len(conversation_id) > 64 \
                or not _is_utf8(conversation_id):
            error = AppError("Invalid request.", code="VALIDATION_ERROR")
            return {"ok": False, **error_body(error, session.get("language"))}
        return session, conversation_id

    async def _on_join(self, sid: str, data: Any = None) -> dict:
        checked = await self._conversation_id(sid, data)
        if isinstance(checked, dict):
            return checked
        session, conversation_id = checked

        assert self._conversation_exists is not None
        if not await self._conversation_exists(session["tenant_id"], conversation_id):
            error = AppError("Conversation not found.", code="NOT_FOUND")
            return {"ok": False, **error_body(error, session.get("language"))}

        await self.sio.enter_room(sid, conversation_room(conversation_id))
        return {"ok": True}

    async def _on_leave(self, sid: str, data: Any = None) -> dict:
        checked = await self._conversation_id(sid, data)
        if isinstance(checked, dict):
            return checked
        _, conversation_id = checked
        await self.sio.leave_room(sid, conversation_room(conversation_id))
        return {"ok": True}

    async def emit(self, event: str, payload: dict[str, Any], rooms: list[str]) -> None:
        """Send ``event`` to every socket in any of ``rooms``, once per socket."""
        await self.sio.emit(event, payload, to=rooms)

    async def disconnect_user(self, user_id: str) -> None:
        """Close every socket of a user (after deactivation or a role change)."""
        closed = await self._close_sockets(user_id, session_id=None)
        if closed:
            logger.info("Closed %d socket(s) of user %s", closed, user_id)

    async def disconnect_session(self, user_id: str, session_id: str) -> None:
        """Close the sockets opened with one login session's tokens (after that session logs out)."""
        closed = await self._close_sockets(user_id, session_id)
        if closed:
            logger.info("Closed %d socket(s) of user %s session %s", closed, user_id, session_id)

    async def _close_sockets(self, user_id: str, session_id: str | None) -> int:
        """Close the user's sockets, only those of ``session_id`` when given; return how many."""
        closed = 0
        for sid, _ in list(self.sio.manager.get_participants("/", user_room(user_id))):
            if session_id is not None and (await self.sio.get_session(sid)).get("session_id") != session_id:
                continue
            await self.sio.disconnect(sid)
            closed += 1
        return closed

    def connected_count(self) -> int:
        return len(self.sio.manager.rooms.get("/", {}).get(None, {}))

    async def close_all(self) -> None:
        """Close every socket without waiting on clients, so shutdown is not held up."""
        for eio_sid in list(self.sio.eio.sockets):
            socket = self.sio.eio.sockets.get(eio_sid)
            if socket is not None:
                try:
                    # The CLOSE packet notifies the client. The None behind it ends engine.io's
                    # writer task, which then closes the websocket even if the client never replies.
                    await socket.close(wait=False, abort=False)
                    socket.queue.put_nowait(None)
                except Exception:
                    logger.debug("Closing socket %s failed", eio_sid, exc_info=True)
