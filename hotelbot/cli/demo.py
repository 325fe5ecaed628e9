"""The demo tenant and user that ``serve --demo`` creates on an empty data directory."""

from __future__ import annotations

import json
import secrets

from hotelbot.cli.common import open_box, say
from hotelbot.datadir import DataDir
from hotelbot.services import provisioning
from hotelbot.settings import Settings
from hotelbot.storage.database import Database, fetch_value

# The login route validates emails with email-validator, which rejects special-use
# domains such as .local and .test, so the demo address uses the reserved .example.
DEMO_EMAIL = "demo@hotelbot.example"
DEMO_FILE = "demo.json"


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
            db, open_box(data_dir), name="Hotel Demo", phone_number_id="100000000000001",
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
