"""The one table of hotelbot's settings.

Each setting has a name, a default, a type, a unit and a help text. A value
comes, in order of precedence, from a command-line option, a ``HOTELBOT_<NAME>``
environment variable, ``<data dir>/hotelbot.toml``, then the default. Values are
validated once at start; an invalid one raises :class:`SettingsError` with a
message naming the setting and the values it accepts.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ENV_PREFIX = "HOTELBOT_"
CONFIG_FILE_NAME = "hotelbot.toml"


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    parse: Callable[[str], Any]
    unit: str
    help: str
    choices: tuple[str, ...] = ()


def _boolean(text: str) -> bool:
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError("expected a number above 0")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError("expected a number of at least 0")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("expected a whole number above 0")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("expected a whole number of at least 0")
    return value


def _text(text: str) -> str:
    return str(text).strip()


def _address_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in str(text).split(",") if part.strip())


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", "./hotelbot-data", _text, "path",
            "Directory holding the SQLite files, media, cache and generated secrets."),
    Setting("host", "127.0.0.1", _text, "address", "Address the HTTP server listens on."),
    Setting("port", 8000, int, "port", "TCP port the HTTP server listens on."),
    Setting("public_url", "", _text, "URL",
            "External base URL (https://hotel.example.com) used in links sent to N8N; "
            "empty means http://<host>:<port>."),
    Setting("language", "pt-BR", _text, "language", "Language of CLI output and of API "
            "errors when neither the user's setting nor Accept-Language chooses one.",
            choices=("pt-BR", "en")),
    Setting("log_level", "INFO", _text, "level", "Lowest level of log lines written.",
            choices=("DEBUG", "INFO", "WARNING", "ERROR")),
    Setting("graph_api_base", "https://graph.facebook.com", _text, "URL",
            "Base URL of Meta's Graph API."),
    Setting("graph_api_version", "v21.0", _text, "version", "Graph API version used in paths."),
    Setting("graph_timeout", 15.0, _positive_float, "seconds",
            "Time limit of one call to the Graph API."),
    Setting("frontend_origin", "", _text, "URL",
            "Origin of the attendants' web frontend, allowed by CORS and Socket.IO; "
            "empty allows same-origin only."),
    Setting("trusted_proxies", "127.0.0.1,::1", _address_list, "addresses",
            "Comma-separated proxy addresses whose X-Forwarded-* headers are believed."),
    Setting("workers", 4, _positive_int, "threads", "Queue worker threads for ordinary jobs."),
    Setting("media_workers", 2, _positive_int, "threads",
            "Queue worker threads reserved for media downloads."),
    Setting("forward_max_waiting", 1000, _positive_int, "forwards",
            "First attempts of forwards kept in memory while N8N is slow; later ones wait on disk "
            "until half of these are done."),
    Setting("forward_workers", 8, _positive_int, "threads",
            "Queue worker threads reserved for forwards to N8N, which wait for its answer; "
            "a slow N8N holds back only other forwards."),
    Setting("inbound_attempts", 3, _positive_int, "attempts",
            "Attempts to process one stored webhook before it becomes a dead letter."),
    Setting("forward_attempts", 3, _positive_int, "attempts",
            "Attempts to deliver one message to N8N before the conversation is escalated."),
    Setting("forward_timeout", 10.0, _positive_float, "seconds",
            "Time limit of one call to the N8N webhook."),
    Setting("retry_delay", 2.0, _positive_float, "seconds",
            "First delay between job attempts; it doubles on each attempt, with jitter."),
    Setting("retry_delay_max", 600.0, _positive_float, "seconds",
            "Longest delay between two attempts of a job."),
    Setting("outbound_retry_window", 86400.0, _positive_float, "seconds",
            "How long an unsent reply keeps being retried."),
    Setting("sweep_interval", 60.0, _positive_float, "seconds",
            "How often, while serving, work left unfinished that long without a job is queued again."),
    Setting("access_token_ttl", 28800, _positive_int, "seconds", "Lifetime of an access token."),
    Setting("refresh_token_ttl", 604800, _positive_int, "seconds", "Lifetime of a refresh token."),
    Setting("jwt_leeway", 5, int, "seconds", "Clock difference tolerated when checking tokens."),
    Setting("login_rate_limit", 10, _positive_int, "requests per minute",
            "Login attempts accepted per client address and per email each minute."),
    Setting("bcrypt_rounds", 12, _positive_int, "log2 rounds", "Cost of new password hashes."),
    Setting("db_synchronous", "NORMAL", _text, "mode",
            "SQLite synchronous mode: NORMAL survives a process crash, FULL also a power cut.",
            choices=("NORMAL", "FULL")),
    Setting("shutdown_timeout", 10.0, _positive_float, "seconds",
            "Time given to running jobs and open requests when stopping."),
    Setting("min_free_disk_mb", 500, _non_negative_int, "MB",
            "Free space beside the data directory below which /healthz and hotelbot doctor report a problem."),
    Setting("webhook_max_bytes", 3 * 1024 * 1024, _positive_int, "bytes",
            "Largest webhook body accepted."),
    Setting("request_max_bytes", 1024 * 1024, _positive_int, "bytes",
            "Largest JSON body accepted on the other routes."),
    Setting("media_url_ttl", 3600, _positive_int, "seconds",
            "Lifetime of the signature appended to media links."),
    Setting("media_attempts", 3, _positive_int, "attempts",
            "Attempts to download one guest's media file before it is marked FAILED."),
    Setting("media_read_timeout", 30.0, _positive_float, "seconds",
            "Maximum wait for the next bytes of a media download before the attempt fails."),
    Setting("media_timeout", 60.0, _positive_float, "seconds",
            "Time a media transfer may take on top of what its size needs at media_min_rate."),
    Setting("media_min_rate", 16384.0, _positive_float, "bytes per second",
            "Slowest media transfer speed tolerated: a file's time limit is media_timeout "
            "plus its size divided by this rate."),
    Setting("media_rate_limit", 600, _positive_int, "requests per minute",
            "Media file requests accepted per user, or per client address for signed links, each minute."),
    Setting("media_retention_days", 0, _non_negative_int, "days",
            "Delete stored media files older than this many days (their messages stay); 0 keeps them."),
    Setting("audit_retention_days", 1825, _non_negative_int, "days",
            "Delete audit trail entries older than this many days in the daily retention run; 0 keeps them."),
    Setting("backup_interval_hours", 0.0, _non_negative_float, "hours",
            "Hours between scheduled backups while serving; 0 turns them off."),
    Setting("backup_dir", "", _text, "path", "Folder of scheduled backups; empty means <data dir>/backups."),
    Setting("backup_keep", 7, _positive_int, "backups", "Scheduled backups kept; older ones are deleted."),
    Setting("stats_cache_ttl", 300.0, _positive_float, "seconds",
            "How long the dashboard's numbers are served from the cache before they are counted again."),
    Setting("demo", False, _boolean, "flag",
            "Create a demo tenant and user at start when the data directory has none."),
)

SETTINGS_BY_NAME: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Validated values of every setting, as attributes named like the table."""

    values: Mapping[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def data_path(self) -> Path:
        return Path(self.values["data_dir"]).expanduser().resolve()

    @property
    def base_url(self) -> str:
        if self.values["public_url"]:
            return self.values["public_url"].rstrip("/")
        host = self.values["host"]
        # An IPv6 address in a URL goes in brackets, or its colons read as the port's.
        return f"http://[{host}]:{self.values['port']}" if ":" in host else f"http://{host}:{self.values['port']}"

    def replace(self, **changes: Any) -> Settings:
        return load_settings(overrides={**self.values, **changes}, environ={})


def _parse_value(setting: Setting, raw: Any, source: str) -> Any:
    if raw is None:
        return None
    try:
        value = setting.parse(raw) if isinstance(raw, str) else setting.parse(str(raw))
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"Invalid value {raw!r} for {setting.name} ({source}): {exc}.") from None
    if setting.choices and value not in setting.choices:
        valid = ", ".join(setting.choices)
        raise SettingsError(
            f"Invalid value {raw!r} for {setting.name} ({source}); valid values: {valid}."
        )
    return value


def _read_config_file(data_dir: Path) -> dict[str, Any]:
    path = data_dir / CONFIG_FILE_NAME
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            content = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"Invalid configuration file {path}: {exc}.") from None

    unknown = sorted(set(content) - set(SETTINGS_BY_NAME))
    if unknown:
        raise SettingsError(f"Unknown settings in {path}: {', '.join(unknown)}.")
    return content


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the validated settings from overrides, environment, file and defaults.

    Raises SettingsError naming the setting and its valid values.
    """
    overrides = {key: value for key, value in (overrides or {}).items() if value is not None}
    environ = os.environ if environ is None else environ

    env_values = {
        setting.name: environ[ENV_PREFIX + setting.name.upper()]
        for setting in SETTINGS
        if ENV_PREFIX + setting.name.upper() in environ
    }
    data_dir = overrides.get("data_dir") or env_values.get("data_dir") or SETTINGS_BY_NAME["data_dir"].default
    file_values = _read_config_file(Path(data_dir).expanduser())

    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name in overrides:
            values[setting.name] = _parse_value(setting, overrides[setting.name], "option")
        elif setting.name in env_values:
            source = ENV_PREFIX + setting.name.upper()
            values[setting.name] = _parse_value(setting, env_values[setting.name], source)
        elif setting.name in file_values:
            values[setting.name] = _parse_value(setting, file_values[setting.name], CONFIG_FILE_NAME)
        else:
            # Defaults go through the parser too: trusted_proxies' default is written as text.
            values[setting.name] = _parse_value(setting, setting.default, "default")
    return Settings(values)
