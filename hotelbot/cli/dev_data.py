"""Generated guests, conversations, escalations and messages, as rows for ``hotelbot dev generate``.

Guests have pt-BR names and Brazilian mobiles (about 1 in 12 without the
ninth digit, as WhatsApp sometimes sends them). Each conversation is one visit
of 1 to 20 minutes between messages, the guest and the hotel taking turns.
Conversations older than two days are mostly closed; recent ones are BOT, OPEN
or IN_PROGRESS. About a third of closed conversations were escalated, and
media messages point at no file, as after media retention.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import random
import time

from hotelbot.domain.phones import phone_key
from hotelbot.i18n import translate

FIRST_NAMES = (
    "Ana", "Maria", "Júlia", "Beatriz", "Larissa", "Fernanda", "Camila", "Letícia", "Gabriela", "Patrícia",
    "Aline", "Vanessa", "Luana", "Renata", "Isabela", "João", "José", "Pedro", "Lucas", "Gabriel",
    "Rafael", "Felipe", "Gustavo", "Thiago", "Bruno", "Rodrigo", "Marcelo", "André", "Paulo", "Antônio",
)
SURNAMES = (
    "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes",
    "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Araújo", "Conceição", "Nascimento", "Barbosa",
)
AREA_CODES = ("11", "12", "13", "19", "21", "24", "27", "31", "41", "47", "48", "51", "61", "71", "81", "85")
UNIT_NAMES = ("Campos do Jordão", "Ubatuba", "Gramado", "Paraty", "Búzios", "Foz do Iguaçu")
GUEST_TEXTS = (
    "Olá! Vocês têm quarto para o fim de semana?",
    "Qual é o horário do café da manhã?",
    "O check-in é a partir de que horas?",
    "Vocês aceitam pet?",
    "Quanto fica a diária para casal?",
    "Tem estacionamento no hotel?",
    "Gostaria de reservar para 3 noites a partir de sexta.",
    "O ar-condicionado do quarto 204 não está funcionando.",
    "Posso fazer o check-out mais tarde?",
    "Obrigada pelo atendimento!",
    "Vocês têm transfer do aeroporto?",
    "Preciso de uma nota fiscal da minha estadia.",
)
AI_TEXTS = (
    "Olá! Sou a assistente virtual do hotel. Como posso ajudar?",
    "O café da manhã é servido das 7h às 10h30.",
    "O check-in começa às 14h e o check-out vai até as 12h.",
    "Temos disponibilidade! Posso consultar as datas para você?",
    "Vou chamar um atendente para ajudar você.",
    "Aceitamos pets de pequeno porte, com taxa de R$ 80 por diária.",
)
ATTENDANT_TEXTS = (
    "Boa tarde! Aqui é da recepção, já estou verificando.",
    "Sua reserva está confirmada.",
    "Já enviamos a manutenção ao seu quarto.",
    "Posso liberar o check-out até as 14h sem custo.",
    "A nota fiscal foi enviada para o seu e-mail.",
)
INBOUND_TYPES = (("TEXT", 85), ("IMAGE", 5), ("AUDIO", 4), ("DOCUMENT", 2), ("LOCATION", 2), ("INTERACTIVE", 2))
MEDIA_SUMMARIES = {"IMAGE": "[Imagem]", "AUDIO": "[Áudio]", "DOCUMENT": "[Documento] comprovante.pdf"}
OUTBOUND_STATUSES = (("READ", 70), ("DELIVERED", 20), ("SENT", 8), ("FAILED", 2))
PRIORITIES = (("LOW", 15), ("MEDIUM", 60), ("HIGH", 18), ("URGENT", 7))
DAY = 86_400.0


@dataclasses.dataclass(frozen=True)
class TenantPlan:
    id: str
    unit_slugs: tuple[str, ...]
    attendant_ids: tuple[str, ...]


@dataclasses.dataclass
class Batches:
    """Rows waiting for ``executemany``, one list per table."""

    contacts: list[tuple] = dataclasses.field(default_factory=list)
    conversations: list[tuple] = dataclasses.field(default_factory=list)
    messages: list[tuple] = dataclasses.field(default_factory=list)
    escalations: list[tuple] = dataclasses.field(default_factory=list)


@functools.lru_cache(maxsize=4096)
def _day_prefix(day: int) -> str:
    return time.strftime("%Y-%m-%dT", time.gmtime(day * DAY))


def iso(seconds: float) -> str:
    """Format Unix ``seconds`` as hotelbot stores times (``2026-12-04T19:22:27.123Z``), faster than strftime."""
    millis = int(seconds * 1000)
    day, in_day = divmod(millis, 86_400_000)
    hours, rest = divmod(in_day, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{_day_prefix(day)}{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}Z"


def _random_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    """Return one value of ``choices`` ((value, weight) pairs) with probability proportional to its weight."""
    draw = rng.random() * sum(weight for _, weight in choices)
    for value, weight in choices:
        draw -= weight
        if draw < 0:
            return value
    return choices[-1][0]


def _new_phone(rng: random.Random, taken: set[str]) -> tuple[str, str]:
    """Return a new Brazilian mobile (``wa_id``) and its key; about 1 in 12 comes without the ninth digit."""
    while True:
        digits = f"{rng.randrange(10**8):08d}"
        ninth = "" if rng.random() < 0.08 else "9"
        phone = f"55{rng.choice(AREA_CODES)}{ninth}{digits}"
        key = phone_key(phone)
        if key not in taken:
            taken.add(key)
            return phone, key


def _status_of(age_days: float, rng: random.Random) -> str:
    """Return the conversation's status: older ones are mostly closed, recent ones fill the board."""
    draw = rng.random()
    if age_days > 2:
        return "CLOSED" if draw < 0.9 else "BOT"
    if draw < 0.35:
        return "CLOSED"
    if draw < 0.75:
        return "BOT"
    return "OPEN" if draw < 0.87 else "IN_PROGRESS"


def add_conversation(
    batches: Batches, tenant: TenantPlan, taken: set[str], message_count: int, now: float, days: int,
    rng: random.Random,
) -> None:
    times = _message_times(message_count, now, days, rng)
    status = _status_of((now - times[-1]) / DAY, rng)
    escalation = _escalation_plan(status, times, now, rng)
    assignee = rng.choice(tenant.attendant_ids) if status == "IN_PROGRESS" or (escalation and status == "CLOSED") else None
    contact_id, conversation_id = _random_id(rng), _random_id(rng)
    unit = rng.choice(tenant.unit_slugs) if rng.random() < 0.8 else None
    priority = weighted(rng, PRIORITIES)
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"

    phone, key = _new_phone(rng, taken)
    first, last = iso(times[0]), iso(times[-1])
    batches.contacts.append((contact_id, tenant.id, phone, key, None, name, first, last))
    inbound_times = _add_messages(batches, tenant.id, conversation_id, times, name, escalation, assignee, rng)
    locked = status in ("OPEN", "IN_PROGRESS")
    batches.conversations.append((
        conversation_id, tenant.id, contact_id, status, priority, unit, int(locked),
        (assignee or "N8N") if locked else None, iso(escalation[0]) if locked and escalation else None,
        assignee, last, iso(max(inbound_times)), 0 if status == "CLOSED" else rng.randint(0, 3),
        last if status == "CLOSED" else None, first, last,
    ))
    if escalation:
        batches.escalations.append(_escalation_row(tenant.id, conversation_id, unit, priority, status, escalation, rng))


def _message_times(count: int, now: float, days: int, rng: random.Random) -> list[float]:
    """Return ``count`` increasing times: a visit starting in the last ``days`` days, 1 to 20 minutes apart."""
    gaps = [rng.uniform(60, 1200) for _ in range(count - 1)]
    span = sum(gaps)
    start = now - rng.uniform(0, days * DAY)
    start = min(start, now - span - 1)
    times = [start]
    for gap in gaps:
        times.append(times[-1] + gap)
    return times


def _escalation_plan(status: str, times: list[float], now: float, rng: random.Random) -> tuple | None:
    """Return (created, first response or None, resolved or None) as times, or None for no escalation."""
    if status == "BOT" and rng.random() > 0.1:
        return None
    if status == "CLOSED" and rng.random() > 0.35:
        return None
    created = times[len(times) // 2] + 1
    if status == "OPEN":
        return created, None, None
    first_response = min(created + rng.lognormvariate(5.0, 0.9), now)
    if status == "IN_PROGRESS":
        return created, first_response, None
    return created, first_response, min(max(times[-1], first_response) + rng.uniform(60, 3600), now)


def _escalation_row(tenant_id: str, conversation_id: str, unit: str | None, priority: str, status: str,
                    plan: tuple, rng: random.Random) -> tuple:
    created, first_response, resolved = plan
    escalation_status = {"OPEN": "PENDING", "IN_PROGRESS": "IN_PROGRESS"}.get(status, "RESOLVED")
    reason = rng.choice(("Hóspede pediu para falar com um atendente", "Reclamação sobre o quarto", "Pedido de reserva de grupo"))
    return (
        _random_id(rng), tenant_id, conversation_id, reason, unit, priority, escalation_status, iso(created),
        iso(first_response) if first_response else None, iso(resolved) if resolved else None,
    )


def _add_messages(
    batches: Batches, tenant_id: str, conversation_id: str, times: list[float], name: str,
    escalation: tuple | None, assignee: str | None, rng: random.Random,
) -> list[float]:
    """Append the conversation's messages, guest and hotel taking turns; return the guest's message times."""
    guest = json.dumps({"type": "CONTACT", "name": name}, ensure_ascii=False)
    assistant = json.dumps({"type": "N8N"})
    attendant = json.dumps({"type": "ATTENDANT", "userId": assignee}) if assignee else assistant
    people_from = escalation[1] if escalation and escalation[1] and assignee else None

    inbound_times = []
    for position, moment in enumerate(times):
        stamp = iso(moment)
        if position % 2 == 0:
            inbound_times.append(moment)
            batches.messages.append(_inbound_row(tenant_id, conversation_id, stamp, guest, rng))
            continue
        by_person = people_from is not None and moment >= people_from
        batches.messages.append(_outbound_row(
            tenant_id, conversation_id, stamp, attendant if by_person else assistant,
            assignee if by_person else None, rng,
        ))
    return inbound_times


def _inbound_row(tenant_id: str, conversation_id: str, stamp: str, sender: str, rng: random.Random) -> tuple:
    kind = weighted(rng, INBOUND_TYPES)
    metadata, media_id, media_status = "{}", None, None
    content = rng.choice(GUEST_TEXTS)
    if kind in MEDIA_SUMMARIES:
        # Old media: the file is gone (as after retention), so no URL points at a missing file.
        content, media_id, media_status = MEDIA_SUMMARIES[kind], str(rng.randrange(10**15, 10**16)), "DELETED"
    elif kind == "LOCATION":
        content = "[Localização] -22.7394, -45.5914"
        metadata = json.dumps({"latitude": -22.7394, "longitude": -45.5914})
    elif kind == "INTERACTIVE":
        content = "Quero reservar"
        metadata = json.dumps({"replyId": "reservar", "title": "Quero reservar"}, ensure_ascii=False)
    return (
        _random_id(rng), tenant_id, conversation_id, "INBOUND", kind, content, metadata, media_id, media_status,
        "RECEIVED", None, f"wamid.HBgN{rng.getrandbits(120):030X}", sender, None, "DONE", stamp, stamp, stamp,
    )


@functools.cache
def _undeliverable_error() -> str:
    """Return the stored error of a reply Meta could not deliver (code 131026), as the send path writes it."""
    message = translate("The message could not be delivered to this guest (number without WhatsApp or outdated app).", "pt-BR")
    return json.dumps({"code": 131026, "title": "Message undeliverable", "message": message}, ensure_ascii=False)


def _outbound_row(
    tenant_id: str, conversation_id: str, stamp: str, sender: str, created_by: str | None, rng: random.Random
) -> tuple:
    status = weighted(rng, OUTBOUND_STATUSES)
    error = _undeliverable_error() if status == "FAILED" else None
    content = rng.choice(ATTENDANT_TEXTS if created_by else AI_TEXTS)
    return (
        _random_id(rng), tenant_id, conversation_id, "OUTBOUND", "TEXT", content, "{}", None, None, status, error,
        f"wamid.HBgN{rng.getrandbits(120):030X}", sender, created_by, "NONE", stamp, stamp, stamp,
    )
