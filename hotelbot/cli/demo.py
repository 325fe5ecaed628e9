"""The demo tenant and user that ``serve --demo`` creates, and ``hotelbot demo message`` to play a guest.

``hotelbot demo message`` posts a text message to the running server's
webhook, shaped and signed as Meta sends one for the demo tenant, so the
console can be tried without a WhatsApp number.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import secrets
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from hotelbot.cli.common import CommandError, open_box, say, settings_from
from hotelbot.datadir import DataDir
from hotelbot.services import provisioning
from hotelbot.settings import Settings
from hotelbot.storage.database import Database, fetch_value
from hotelbot.whatsapp.signature import sign

# The login route validates emails with email-validator, which rejects special-use
# domains such as .local and .test, so the demo address uses the reserved .example.
DEMO_EMAIL = "demo@hotelbot.example"
DEMO_FILE = "demo.json"
DEMO_PHONE_NUMBER_ID = "100000000000001"
DEMO_GUEST_NAME = "Ana Souza"
DEMO_GUEST_PHONE = "5511900000001"


async def ensure_demo(db: Database, data_dir: DataDir, settings: Settings) -> None:
    """Create the demo tenant and admin once; print how to log in and where the webhook is."""
    demo_path = data_dir.root / DEMO_FILE
    async with db.read() as connection:
        tenant_count = await fetch_value(connection, "SELECT count(*) FROM tenants")

    if tenant_count == 0:
        app_secret = secrets.token_hex(16)
        verify_token = secrets.token_urlsafe(16)
        password = secrets.token_urlsafe(9)
        created = await provisioning.create_tenant(
            db, open_box(data_dir), name="Hotel Demo", phone_number_id=DEMO_PHONE_NUMBER_ID,
            access_token="demo-access-token", app_secret=app_secret, verify_token=verify_token,
            n8n_url=None, hotel_units=["Campos do Jordão", "Ubatuba"],
        )
        await provisioning.create_user(
            db, created["tenantId"], email=DEMO_EMAIL, name="Demo", role="ADMIN",
            password=password, rounds=settings.bcrypt_rounds,
        )
        content = {**created, "email": DEMO_EMAIL, "password": password, "appSecret": app_secret, "verifyToken": verify_token}
        demo_path.write_text(json.dumps(content, indent=2))
        demo_path.chmod(0o600)

    if not demo_path.exists():
        return
    demo = json.loads(demo_path.read_text())
    base = settings.base_url
    say("Demo tenant: {id}", id=demo["tenantId"])
    say("Console: open {base}/app/ and log in with email {email} and password {password}",
        base=base, email=demo["email"], password=demo["password"])
    say("WhatsApp webhook: {base}/webhooks/whatsapp (verify token {token}, app secret {secret})",
        base=base, token=demo["verifyToken"], secret=demo["appSecret"])
    say("N8N API key: {key}", key=demo["apiKey"])
    say("To play a guest: {program} demo message --data-dir {path} --text \"Olá, tem quarto para sábado?\"",
        program=program_name(), path=data_dir.root)


def program_name() -> str:
    """Return the command that runs this hotelbot: ``hotelbot`` when PATH finds this one, else the path it ran from.

    ``make run`` starts ``.venv/bin/hotelbot``, which a new terminal's PATH does not find.
    """
    invoked = Path(sys.argv[0])
    if invoked.name != "hotelbot":
        # Started as python -m hotelbot: the installed command is named hotelbot.
        return "hotelbot"
    found = shutil.which("hotelbot")
    if found is not None and Path(found).resolve() == invoked.resolve():
        return "hotelbot"
    return str(invoked)


def add_commands(commands: Any, add_data_dir: Callable) -> None:
    group = commands.add_parser("demo", help="try the demo tenant")
    actions = group.add_subparsers(dest="action", required=True)

    message = actions.add_parser(
        "message", help="send a guest's text message to the running server's webhook, signed for the demo tenant"
    )
    add_data_dir(message)
    message.add_argument("--text", required=True, help="what the guest writes")
    message.add_argument("--name", default=DEMO_GUEST_NAME, help="the guest's WhatsApp profile name")
    message.add_argument("--phone", default=DEMO_GUEST_PHONE, help="the guest's WhatsApp number, digits only")
    message.add_argument("--url", help="the server's address (default: http://127.0.0.1 on HOTELBOT_PORT)")
    message.set_defaults(handler=run_message)


def guest_text_webhook(phone_number_id: str, phone: str, name: str, text: str) -> dict[str, Any]:
    """Return a webhook body as Meta posts it for one text message from ``phone``."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "0",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": phone_number_id, "phone_number_id": phone_number_id},
                    "contacts": [{"profile": {"name": name}, "wa_id": phone}],
                    "messages": [{
                        "from": phone,
                        "id": f"wamid.DEMO{uuid.uuid4().hex.upper()}",
                        "timestamp": str(int(time.time())),
                        "type": "text",
                        "text": {"body": text},
                    }],
                },
            }],
        }],
    }


def _local_url(settings: Settings) -> str:
    """Return the address of a server on this machine with these settings, bypassing any proxy in front of it."""
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"http://[{host}]:{settings.port}" if ":" in host else f"http://{host}:{settings.port}"


def _is_loopback(url: str) -> bool:
    """Return whether ``url`` names this machine by a loopback address or ``localhost``."""
    host = httpx.URL(url).host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_message(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    demo_path = DataDir(settings.data_path).root / DEMO_FILE
    if not demo_path.is_file():
        raise CommandError("No demo tenant in {path}: start it with hotelbot serve --demo.", path=settings.data_path)
    if not args.text.strip():
        raise CommandError("--text must not be empty: WhatsApp sends no empty text message.")
    # isdigit() alone also accepts digits of other scripts, such as Arabic-Indic, that no WhatsApp number has.
    if not (args.phone.isascii() and args.phone.isdigit()) or not 8 <= len(args.phone) <= 15:
        raise CommandError("--phone must be the guest's number with country code, digits only, as 5511987654321.")

    demo = json.loads(demo_path.read_text())
    body = json.dumps(guest_text_webhook(DEMO_PHONE_NUMBER_ID, args.phone, args.name, args.text)).encode()
    url = (args.url or _local_url(settings)).rstrip("/") + "/webhooks/whatsapp"
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, demo["appSecret"])}
    try:
        # A proxy from HTTP_PROXY would receive the request for this machine and fail or forward it elsewhere.
        response = httpx.post(url, content=body, headers=headers, timeout=10.0, trust_env=not _is_loopback(url))
    except httpx.HTTPError as error:
        raise CommandError("The server at {url} did not respond ({error}). Is hotelbot serve --demo running?",
                           url=url, error=type(error).__name__) from None
    if response.status_code != 200:
        raise CommandError("The webhook at {url} responded with {status}: {body}",
                           url=url, status=response.status_code, body=response.text[:200])

    say("Message from {name} ({phone}) delivered to the webhook; it shows in the console.",
        name=args.name, phone=args.phone)
    return 0
