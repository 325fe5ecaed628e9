"""A guest's personal data under the LGPD: gathering it, exporting it as one zip, erasing it.

A guest is named by phone (any form WhatsApp may use, Brazil's ninth digit
or not) or by one of their conversation ids, always inside one tenant: a
guest of another tenant is NotFound, exactly like an unknown one. Both the
export and the erasure write an audit entry in the transaction that reads or
removes the data, and that entry names counts and ids only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import aiosqlite

from hotelbot.cache import tenant_key
from hotelbot.domain.phones import digits_only, mask_phone, phone_key
from hotelbot.errors import NotFound, ValidationFailed
from hotelbot.media_store import MediaStore
from hotelbot.services import audit
from hotelbot.storage import audit as audit_store
from hotelbot.storage import guests as guest_store
from hotelbot.storage.database import Database

logger = logging.getLogger(__name__)

README_PT = """Dados pessoais do hóspede, exportados do hotelbot

Este arquivo reúne tudo o que o hotel guarda sobre você no atendimento por WhatsApp:

- contact.json: seu contato (telefone, nome do perfil do WhatsApp) e suas conversas com o hotel.
- messages.json: todas as mensagens trocadas, enviadas e recebidas, com data e hora (UTC).
- media/: as fotos, áudios, vídeos e documentos das mensagens, exatamente como foram recebidos ou enviados.
- audit.json: quem da equipe do hotel acessou ou alterou suas conversas, e quando.

Os arquivos .json podem ser abertos em qualquer editor de texto. Os arquivos de mídia
abrem nos programas usuais; o campo "mediaFile" de cada mensagem indica o arquivo dela.

Para pedir a correção ou a eliminação destes dados, fale com o encarregado de
proteção de dados (DPO) do hotel.
"""


@dataclasses.dataclass
class GuestRecords:
    """Everything stored about one guest of one tenant."""

    tenant_id: str
    contact: dict[str, Any]
    conversations: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    media_files: list[dict[str, Any]]

    @property
    def conversation_ids(self) -> list[str]:
        return [conversation["id"] for conversation in self.conversations]


@dataclasses.dataclass(frozen=True)
class GuestReference:
    """A guest named by phone or by one of their conversation ids."""

    phone: str | None = None
    conversation_id: str | None = None


def check_reference(guest: GuestReference) -> None:
    """Raise ValidationFailed unless exactly one of phone and conversation id is given and the phone is valid."""
    if (guest.phone is None) == (guest.conversation_id is None):
        raise ValidationFailed(details=[{"field": "phone", "message": "Send either phone or conversationId."}])
    if guest.phone is not None and digits_only(guest.phone) is None:
        raise ValidationFailed(details=[{"field": "phone", "message": "Invalid phone number."}])


async def _gather(connection: aiosqlite.Connection, tenant_id: str, guest: GuestReference) -> GuestRecords:
    """Read the guest's contact, conversations, messages and files; raise NotFound."""
    if guest.phone is not None:
        contact = await guest_store.select_contact_by_phone_key(connection, tenant_id, phone_key(guest.phone) or "")
    else:
        contact = await guest_store.select_contact_of_conversation(connection, tenant_id, guest.conversation_id or "")
    if contact is None or (contact["phone"] is None and contact["user_id"] is None):
        raise NotFound("Guest not found.")

    conversations = await guest_store.select_contact_conversations(connection, tenant_id, contact["id"])
    ids = [conversation["id"] for conversation in conversations]
    messages = await guest_store.select_conversation_messages(connection, tenant_id, ids)
    media_files = await guest_store.select_conversation_media_files(connection, tenant_id, ids)
    return GuestRecords(tenant_id, contact, conversations, messages, media_files)


# -- export --------------------------------------------------------------------


def _contact_json(records: GuestRecords) -> dict[str, Any]:
    contact = records.contact
    return {
        "id": contact["id"],
        "phone": contact["phone"],
        "whatsappUserId": contact["user_id"],
        "name": contact["name"],
        "createdAt": contact["created_at"],
        "updatedAt": contact["updated_at"],
        "conversations": [
            {
                "id": row["id"], "status": row["status"], "priority": row["priority"], "hotelUnit": row["hotel_unit"],
                "createdAt": row["created_at"], "lastMessageAt": row["last_message_at"], "closedAt": row["closed_at"],
            }
            for row in records.conversations
        ],
    }


def _archive_name(media_file: dict[str, Any]) -> str:
    return f"media/{media_file['id']}"


def _messages_json(records: GuestRecords) -> list[dict[str, Any]]:
    files_by_message = {row["message_id"]: row for row in records.media_files if row["deleted_at"] is None}
    items = []
    for row in records.messages:
        media_file = files_by_message.get(row["id"])
        items.append({
            "id": row["id"],
            "conversationId": row["conversation_id"],
            "direction": row["direction"],
            "type": row["type"],
            "content": row["content"],
            "status": row["status"],
            "sender": json.loads(row["sender"]),
            "whatsappMsgId": row["whatsapp_msg_id"],
            "createdAt": row["created_at"],
            "mediaFile": _archive_name(media_file) if media_file else None,
            "mediaFileName": media_file["file_name"] if media_file else None,
            "mediaContentType": media_file["content_type"] if media_file else None,
        })
    return items


def write_archive(records: GuestRecords, events: list[dict[str, Any]], media_root: Path, target: BinaryIO) -> int:
    """Write the export zip to ``target``; return how many media files it holds. Blocking: run it in a thread."""
    store = MediaStore(media_root)
    media_count = 0
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", README_PT)
        archive.writestr("contact.json", json.dumps(_contact_json(records), ensure_ascii=False, indent=2))
        archive.writestr("messages.json", json.dumps(_messages_json(records), ensure_ascii=False, indent=2))
        archive.writestr("audit.json", json.dumps(events, ensure_ascii=False, indent=2))
        for media_file in records.media_files:
            path = store.path(records.tenant_id, media_file["id"])
            if media_file["deleted_at"] is not None or path is None or not path.is_file():
                continue
            archive.write(path, _archive_name(media_file))
            media_count += 1
    return media_count


async def export(db: Database, media_root: Path, tenant_id: str, actor: audit.Actor, guest: GuestReference, target: BinaryIO) -> dict[str, int]:
    """Write one guest's zip to ``target`` and audit GUEST_EXPORTED; return the counts. Raises NotFound or ValidationFailed."""
    check_reference(guest)
    async with db.write() as connection:
        records = await _gather(connection, tenant_id, guest)
        counts = {"conversations": len(records.conversations), "messages": len(records.messages), "mediaFiles": len(records.media_files)}
        await audit.record(connection, tenant_id, actor, "GUEST_EXPORTED", target=records.contact["id"], details=counts)
        events = await audit_store.select_events_of_conversations(connection, tenant_id, records.conversation_ids)

    await asyncio.to_thread(write_archive, records, [audit.event_json(row) for row in events], media_root, target)
    logger.info(
        "Guest %s of tenant %s exported by %s %s: %s",
        mask_phone(records.contact["phone"]), tenant_id, actor.type, actor.id or "-", counts,
    )
    return counts


# -- erasure -------------------------------------------------------------------


def _plan(records: GuestRecords) -> dict[str, Any]:
    """Return what an erasure removes: ids and counts, without the data itself."""
    return {
        "contactId": records.contact["id"],
        "conversationIds": records.conversation_ids,
        "messages": len(records.messages),
        "mediaFiles": [row["id"] for row in records.media_files if row["deleted_at"] is None],
    }


def _raw_needles(contact: dict[str, Any]) -> list[str]:
    """Return the forms of the guest's ids that stored webhook bodies may contain."""
    needles = {value for value in (contact["phone"], contact["user_id"], contact["phone_key"]) if value}
    key = contact["phone_key"]
    if key and key.startswith("55") and len(key) == 12:
        needles.add(key[:4] + "9" + key[4:])
    return sorted(needles)


async def _remove_rows(connection: aiosqlite.Connection, records: GuestRecords, actor: audit.Actor, plan: dict[str, Any]) -> int:
    """Delete and anonymise the guest's rows in the caller's transaction; return the raw bodies removed."""
    tenant_id = records.tenant_id
    await guest_store.delete_conversation_messages(connection, tenant_id, records.conversation_ids)
    await guest_store.anonymise_conversations(connection, tenant_id, records.conversation_ids)
    raw_bodies = await guest_store.delete_raw_bodies_containing(connection, _raw_needles(records.contact))
    await guest_store.anonymise_contact(connection, tenant_id, records.contact["id"])
    await guest_store.optimize_search_indexes(connection)
    await audit.record(
        connection, tenant_id, actor, "GUEST_ERASED", target=records.contact["id"],
        details={"conversations": len(records.conversation_ids), "messages": plan["messages"], "mediaFiles": len(plan["mediaFiles"])},
    )
    return raw_bodies


async def erase(
    db: Database, media_root: Path, cache: Any, tenant_id: str, actor: audit.Actor, guest: GuestReference, *, dry_run: bool = False
) -> dict[str, Any]:
    """Remove a guest's messages, media files and contact; return what went (or would go, with ``dry_run``).

    Conversations stay, anonymised, so the dashboard's counts hold. Deletes run
    with SQLite's secure_delete, and the WAL is checkpointed and truncated after,
    so the removed text is not left in free pages and is absent from later backups.
    Raises NotFound or ValidationFailed.
    """
    check_reference(guest)
    async with db.write() as connection:
        records = await _gather(connection, tenant_id, guest)
        plan = _plan(records)
        if dry_run:
            return {**plan, "dryRun": True}
        await connection.execute("PRAGMA secure_delete = ON")
        try:
            plan["rawBodies"] = await _remove_rows(connection, records, actor, plan)
        finally:
            await connection.execute("PRAGMA secure_delete = OFF")

    store = MediaStore(media_root)
    for file_id in plan["mediaFiles"]:
        store.remove(tenant_id, file_id)
    async with db.write(single_statement=True) as connection:
        await connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    if cache is not None:
        await cache.delete_prefix(tenant_key(tenant_id, "stats", ""))
    logger.info(
        "Guest %s of tenant %s erased by %s %s: %d conversations, %d messages, %d media files, %d raw bodies",
        plan["contactId"], tenant_id, actor.type, actor.id or "-",
        len(plan["conversationIds"]), plan["messages"], len(plan["mediaFiles"]), plan["rawBodies"],
    )
    return {**plan, "dryRun": False}
