"""The CLI and the login route accept and reject the same email addresses."""

from __future__ import annotations

import subprocess
import sys


def test_cli_rejects_special_use_domain(server):
    result = subprocess.run(
        [sys.executable, "-m", "hotelbot", "user", "create", "--tenant", server.tenant.id,
         "--email", "ana@hotel.local", "--role", "ATTENDANT", "--password", "senha-segura-123"],
        env=server.env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert "email: Endereço de e-mail inválido." in result.stderr


async def test_login_email_detail_in_portuguese(server, http):
    response = await http.post(server.base_url + "/auth/login", json={"email": "ana@hotel.local", "password": "senha-segura-123"})
    assert response.status_code == 400
    assert response.json()["details"] == [{"field": "email", "message": "Endereço de e-mail inválido."}]
