"""Creating and changing tenants, hotel units and users (CLI and admin API)."""

from __future__ import annotations

import logging
import secrets
import sqlite3
import zoneinfo
from typing import Any

import pydantic

from hotelbot.clock import new_id
from hotelbot.domain.units import match_unit, slugify
from hotelbot.errors import Conflict, NotFound, ValidationFailed
from hotelbot.passwords import MAX_LENGTH, MIN_LENGTH, hash_password
from hotelbot.secretbox import SecretBox
from hotelbot.services import audit
from hotelbot.storage import tenants as tenant_store
from hotelbot.storage import users as user_store
from hotelbot.storage.database import Database

logger = logging.getLogger(__name__)

ROLES = ("ADMIN", "SUPERVISOR", "ATTENDANT")
LANGUAGES = ("pt-BR", "en")


def new_api_key() -> str:
    return "hbk_" + secrets.token_urlsafe(32)


def new_forward_secret() -> str:
    return secrets.token_urlsafe(32)


def _check_time_zone(time_zone: str) -> None:
    try:
        zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(
            "Unknown time zone {value}.", params={"value": time_zone},
            details=[{"field": "timeZone", "message": "Unknown time zone."}],
        ) from None


def _check_url(url: str | None) -> None:
    if url and not url.startswith(("http://", "https://")):
        raise ValidationFailed(
            "The N8N URL must start with http:// or https://.",
            details=[{"field": "n8nUrl", "message": "The N8N URL must start with http:// or https://."}],
        )


async def create_tenant(
    db: Database,
    box: SecretBox,
    *,
    name: str,
    phone_number_id: str,
    access_token: str,
    app_secret: str,
    verify_token: str,
    n8n_url: str | None,
    waba_id: str | None = None,
    time_zone: str = "America/Sao_Paulo",
    hotel_units: list[str] = (),
    actor: audit.Actor = audit.CLI,
) -> dict[str, Any]:
    """Create a tenant; return its id, N8N API key and forward secret (shown once)."""
    _check_time_zone(time_zone)
    _check_url(n8n_url)
    tenant_id = new_id()
    api_key = new_api_key()
    forward_secret = new_forward_secret()
    try:
        async with db.write() as connection:
            await tenant_store.insert_tenant(
                connection, box,
                tenant_id=tenant_id, name=name, phone_number_id=phone_number_id, waba_id=waba_id,
                time_zone=time_zone, n8n_url=n8n_url, api_key=api_key,
                secrets={
                    "access_token": access_token, "app_secret": app_secret,
                    "verify_token": verify_token, "forward_secret": forward_secret,
                },
            )
            for unit in hotel_units:
                await tenant_store.insert_unit(connection, tenant_id, slugify(unit), unit.strip())
            await audit.record(connection, tenant_id, actor, "TENANT_CREATED", target=tenant_id)
    except sqlite3.IntegrityError:
        raise Conflict("A tenant with phone number id {value} already exists.", code="CONFLICT", params={"value": phone_number_id}) from None
    logger.info("Tenant %s created (phone number id %s)", tenant_id, phone_number_id)
    return {"tenantId": tenant_id, "apiKey": api_key, "forwardSecret": forward_secret}


async def update_tenant(
    db: Database,
    box: SecretBox,
    tenant_id: str,
    *,
    fields: dict[str, Any],
    secrets_to_seal: dict[str, str],
    actor: audit.Actor = audit.CLI,
) -> None:
    if "time_zone" in fields:
        _check_time_zone(fields["time_zone"])
    if "n8n_url" in fields:
        _check_url(fields["n8n_url"])
    async with db.write() as connection:
        if await tenant_store.select_tenant(connection, box, tenant_id) is None:
            raise NotFound("Tenant not found.")
        await tenant_store.update_tenant(connection, box, tenant_id, fields=fields, secrets=secrets_to_seal)
        await audit.record(
            connection, tenant_id, actor, "TENANT_UPDATED", target=tenant_id,
            details={"fields": sorted([*fields, *secrets_to_seal])},
        )
    logger.info("Tenant %s updated: %s", tenant_id, ", ".join([*fields, *secrets_to_seal]) or "nothing")


async def rotate_api_key(db: Database, box: SecretBox, tenant_id: str) -> str:
    api_key = new_api_key()
    async with db.write() as connection:
        if await tenant_store.select_tenant(connection, box, tenant_id) is None:
            raise NotFound("Tenant not found.")
        await tenant_store.update_tenant(connection, box, tenant_id, fields={}, secrets={}, api_key=api_key)
        await audit.record(connection, tenant_id, audit.CLI, "TENANT_API_KEY_ROTATED", target=tenant_id)
    logger.info("Tenant %s: N8N API key rotated", tenant_id)
    return api_key


async def rotate_forward_secret(db: Database, box: SecretBox, tenant_id: str) -> str:
    forward_secret = new_forward_secret()
    await update_tenant(db, box, tenant_id, fields={}, secrets_to_seal={"forward_secret": forward_secret})
    return forward_secret


async def add_unit(db: Database, box: SecretBox, tenant_id: str, name: str) -> str:
    slug = slugify(name)
    if not slug:
        raise ValidationFailed(details=[{"field": "hotelUnit", "message": "Invalid value."}])
    async with db.write() as connection:
        if await tenant_store.select_tenant(connection, box, tenant_id) is None:
            raise NotFound("Tenant not found.")
        await tenant_store.insert_unit(connection, tenant_id, slug, " ".join(name.split()))
        await audit.record(connection, tenant_id, audit.CLI, "TENANT_UNIT_ADDED", target=slug)
    return slug


async def remove_unit(db: Database, tenant_id: str, name: str) -> bool:
    async with db.write() as connection:
        units = await tenant_store.select_units(connection, tenant_id)
        slug = match_unit(name, units)
        removed = slug is not None and await tenant_store.delete_unit(connection, tenant_id, slug)
        if removed:
            await audit.record(connection, tenant_id, audit.CLI, "TENANT_UNIT_REMOVED", target=slug)
    return removed


_EMAIL = pydantic.TypeAdapter(pydantic.EmailStr)


def check_email(email: str) -> None:
    """Raise ValidationFailed for an address the login route would reject."""
    try:
        _EMAIL.validate_python(email.strip())
    except pydantic.ValidationError:
        raise ValidationFailed(details=[{"field": "email", "message": "Invalid email address."}]) from None


def check_password(password: str, field: str = "password") -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise ValidationFailed(
            details=[{"field": field, "message": "Must have at least {min_length} character(s).",
                      "params": {"min_length": MIN_LENGTH}, "limit": MIN_LENGTH}]
        )


async def resolve_unit(db: Database, tenant_id: str, name: str | None) -> str | None:
    """Return the slug of a unit name of the tenant; raise ValidationFailed listing the valid ones."""
    if not name:
        return None
    async with db.read() as connection:
        units = await tenant_store.select_units(connection, tenant_id)
    return unit_slug(name, units)


def unit_slug(name: str, units: dict[str, str]) -> str:
    """Return the slug of the unit ``name`` means; raise ValidationFailed listing the valid units."""
    slug = match_unit(name, units)
    if slug is None:
        valid = ", ".join(units.values()) or "-"
        raise ValidationFailed(
            "Unknown hotel unit. Valid units: {valid}.", params={"valid": valid},
            details=[{"field": "hotelUnit", "message": "Unknown hotel unit. Valid units: {valid}.", "params": {"valid": valid}}],
        )
    return slug


async def create_user(
    db: Database,
    tenant_id: str,
    *,
    email: str,
    name: str,
    role: str,
    password: str,
    hotel_unit: str | None = None,
    language: str = "pt-BR",
    rounds: int = 12,
    actor: audit.Actor = audit.CLI,
) -> str:
    """Create a user of ``tenant_id``; return its id. ``hotel_unit`` is a unit name."""
    if role not in ROLES:
        raise ValidationFailed(details=[{"field": "role", "message": "Must be one of: {expected}.", "params": {"expected": ", ".join(ROLES)}}])
    if language not in LANGUAGES:
        raise ValidationFailed(details=[{"field": "language", "message": "Must be one of: {expected}.", "params": {"expected": ", ".join(LANGUAGES)}}])
    check_password(password)
    check_email(email)
    unit = await resolve_unit(db, tenant_id, hotel_unit)

    user_id = new_id()
    password_hash = await hash_password(password, rounds)
    try:
        async with db.write() as connection:
            await user_store.insert_user(
                connection, tenant_id, user_id=user_id, email=email.strip().lower(), name=name.strip(),
                password_hash=password_hash, role=role, hotel_unit=unit, language=language,
            )
            await audit.record(connection, tenant_id, actor, "USER_CREATED", target=user_id, details={"role": role})
    except sqlite3.IntegrityError:
        raise Conflict("A user with this email already exists.", code="CONFLICT") from None
    logger.info("User %s created in tenant %s with role %s", user_id, tenant_id, role)
    return user_id


async def reset_password(
    db: Database, tenant_id: str, user_id: str, password: str, rounds: int = 12, actor: audit.Actor = audit.CLI
) -> None:
    """Set a new password, unlock the account and end the user's sessions."""
    check_password(password)
    password_hash = await hash_password(password, rounds)
    async with db.write() as connection:
        if not await user_store.update_user(connection, tenant_id, user_id, password_hash=password_hash, failed_logins=0, locked_until=None):
            raise NotFound("User not found.")
        await user_store.revoke_user_sessions(connection, user_id, "password reset")
        await audit.record(connection, tenant_id, actor, "USER_PASSWORD_RESET", target=user_id)
    logger.info("Password reset for user %s (tenant %s); sessions revoked", user_id, tenant_id)


async def unlock_user(db: Database, tenant_id: str, user_id: str, actor: audit.Actor = audit.CLI) -> None:
    async with db.write() as connection:
        if not await user_store.update_user(connection, tenant_id, user_id, failed_logins=0, locked_until=None):
            raise NotFound("User not found.")
        await audit.record(connection, tenant_id, actor, "USER_UNLOCKED", target=user_id)
    logger.info("User %s (tenant %s) unlocked", user_id, tenant_id)
