"""Login, tokens, refresh rotation, logout, /auth/me, password changes and the login rate limit."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest

from tests.support.db import rows
from tests.support.server import PASSWORD, ServerProcess, running_server

INVALID_CREDENTIALS = {"error": "Credenciais inválidas", "code": "INVALID_CREDENTIALS"}


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory) -> Iterator[ServerProcess]:
    """One server for the module; each test logs in for its own sessions."""
    with running_server(tmp_path_factory.mktemp("auth") / "data") as (process, _, _):
        yield process


def jwt_secret(server: ServerProcess) -> str:
    return json.loads((server.data_dir / "secrets.json").read_text())["jwtSecret"]


def decode(server: ServerProcess, token: str) -> dict:
    return jwt.decode(token, jwt_secret(server), algorithms=["HS256"])


def user_id(server: ServerProcess, label: str) -> str:
    return rows(server, "SELECT id FROM users WHERE email = ?", (server.tenant.users[label],))[0]["id"]


async def login(server: ServerProcess, http, email: str, password: str = PASSWORD, **headers: str):
    return await http.post(server.base_url + "/auth/login", json={"email": email, "password": password}, headers=headers)


async def me(server: ServerProcess, http, token: str):
    return await http.get(server.base_url + "/auth/me", headers={"Authorization": f"Bearer {token}"})


async def refresh(server: ServerProcess, http, refresh_token: str):
    return await http.post(server.base_url + "/auth/refresh", json={"refreshToken": refresh_token})


# -- login ------------------------------------------------------------------


async def test_login_returns_tokens_and_user(auth_server, http):
    response = await login(auth_server, http, auth_server.tenant.users["admin"])

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"accessToken", "refreshToken", "user"}
    assert body["user"] == {
        "id": user_id(auth_server, "admin"),
        "tenantId": auth_server.tenant.id,
        "email": auth_server.tenant.users["admin"],
        "name": "Admin",
        "role": "ADMIN",
        "hotelUnit": None,
        "language": "pt-BR",
        "active": True,
        "lockedUntil": None,
    }
    assert response.headers["cache-control"] == "no-store"


async def test_access_token_claims(auth_server, http):
    body = (await login(auth_server, http, auth_server.tenant.users["admin"])).json()

    header = jwt.get_unverified_header(body["accessToken"])
    claims = decode(auth_server, body["accessToken"])

    assert header["alg"] == "HS256"
    assert set(claims) == {"sub", "tenantId", "role", "hotelUnit", "sid", "iat", "exp"}
    assert claims["sub"] == user_id(auth_server, "admin")
    assert isinstance(claims["sub"], str)
    assert claims["tenantId"] == auth_server.tenant.id
    assert claims["role"] == "ADMIN"
    assert claims["hotelUnit"] is None
    assert claims["exp"] == claims["iat"] + 8 * 3600
    assert abs(claims["iat"] - time.time()) < 60
    assert rows(auth_server, "SELECT user_id FROM sessions WHERE id = ?", (claims["sid"],)) == [{"user_id": claims["sub"]}]


async def test_access_token_names_unit(auth_server, http):
    body = (await login(auth_server, http, auth_server.tenant.users["attendant_campos"])).json()

    claims = decode(auth_server, body["accessToken"])

    assert claims["role"] == "ATTENDANT"
    assert claims["hotelUnit"] == "Campos do Jordão"
    assert body["user"]["hotelUnit"] == "Campos do Jordão"


async def test_refresh_token_claims(auth_server, http):
    body = (await login(auth_server, http, auth_server.tenant.users["admin"])).json()

    access = decode(auth_server, body["accessToken"])
    claims = decode(auth_server, body["refreshToken"])

    assert set(claims) == {"sub", "type", "sid", "jti", "iat", "exp"}
    assert claims["type"] == "refresh"
    assert claims["sub"] == access["sub"]
    assert claims["sid"] == access["sid"]
    assert claims["exp"] == claims["iat"] + 7 * 24 * 3600
    assert rows(auth_server, "SELECT refresh_jti FROM sessions WHERE id = ?", (claims["sid"],)) == [{"refresh_jti": claims["jti"]}]


async def test_login_sets_refresh_cookie(auth_server, http):
    response = await login(auth_server, http, auth_server.tenant.users["admin"])

    cookie = response.headers["set-cookie"]
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert attributes[0] == "refresh_token=" + response.json()["refreshToken"].lower()
    assert "httponly" in attributes
    assert "secure" in attributes
    assert "samesite=strict" in attributes
    assert "path=/auth" in attributes


async def test_each_login_is_own_session(auth_server, http):
    email = auth_server.tenant.users["supervisor"]

    first = decode(auth_server, (await login(auth_server, http, email)).json()["accessToken"])
    second = decode(auth_server, (await login(auth_server, http, email)).json()["accessToken"])

    assert first["sid"] != second["sid"]


async def test_email_matched_ignoring_case(auth_server, http):
    response = await login(auth_server, http, auth_server.tenant.users["admin"].upper())

    assert response.status_code == 200


async def test_wrong_password_rejected(auth_server, http):
    response = await login(auth_server, http, auth_server.tenant.users["attendant"], "senha-errada-123")

    assert response.status_code == 401
    assert response.json() == INVALID_CREDENTIALS
    assert "set-cookie" not in response.headers


async def test_unknown_email_rejected_alike(auth_server, http):
    response = await login(auth_server, http, "ninguem@hotel.example")

    assert response.status_code == 401
    assert response.json() == INVALID_CREDENTIALS


async def test_credentials_error_in_english(auth_server, http):
    response = await login(auth_server, http, "ninguem@hotel.example", **{"Accept-Language": "en-US,en;q=0.9"})

    assert response.status_code == 401
    assert response.json() == {"error": "Invalid credentials", "code": "INVALID_CREDENTIALS"}


async def test_short_password_rejected(auth_server, http):
    response = await login(auth_server, http, auth_server.tenant.users["admin"], "1234567")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["details"] == [{"field": "password", "message": "Deve ter pelo menos 8 caractere(s).", "limit": 8}]


async def test_bad_email_rejected(auth_server, http):
    response = await login(auth_server, http, "not-an-email")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert [detail["field"] for detail in body["details"]] == ["email"]


@pytest.mark.parametrize("content, content_type, field", [
    (b"{}", "application/json", ["email", "password"]),
    (b'{"email": 5, "password": ["x"]}', "application/json", ["email", "password"]),
    (b"[]", "application/json", None),
    (b"{not json", "application/json", None),
    (b"email=a@b.c&password=12345678", "application/x-www-form-urlencoded", ["Content-Type"]),
])
async def test_malformed_login_rejected(auth_server, http, content, content_type, field):
    response = await http.post(auth_server.base_url + "/auth/login", content=content, headers={"Content-Type": content_type})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert [detail["field"] for detail in body.get("details", [])] == (field or [])


async def test_repeated_failures_lock_account(auth_server, http):
    email = auth_server.tenant.users["attendant_ubatuba"]
    for _ in range(10):
        assert (await login(auth_server, http, email, "senha-errada-123")).status_code == 401

    locked = await login(auth_server, http, email)

    assert locked.status_code == 401
    assert locked.json() == INVALID_CREDENTIALS
    assert rows(auth_server, "SELECT locked_until IS NOT NULL AS locked FROM users WHERE email = ?", (email,)) == [{"locked": 1}]


# -- tokens ------------------------------------------------------------------


async def test_me_returns_user(auth_server, http):
    token = (await login(auth_server, http, auth_server.tenant.users["attendant_campos"])).json()["accessToken"]

    response = await me(auth_server, http, token)

    assert response.status_code == 200
    assert response.json()["user"]["email"] == auth_server.tenant.users["attendant_campos"]
    assert response.json()["user"]["hotelUnit"] == "Campos do Jordão"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer not.a.jwt"])
async def test_me_without_valid_token(auth_server, http, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}

    response = await http.get(auth_server.base_url + "/auth/me", headers=headers)

    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"


async def test_refresh_token_not_access_token(auth_server, http):
    body = (await login(auth_server, http, auth_server.tenant.users["admin"])).json()

    response = await me(auth_server, http, body["refreshToken"])

    assert response.status_code == 401
    assert response.json() == {"error": "Token inválido.", "code": "UNAUTHORIZED"}


async def test_access_token_not_refresh_token(auth_server, http):
    body = (await login(auth_server, http, auth_server.tenant.users["admin"])).json()

    response = await refresh(auth_server, http, body["accessToken"])

    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"


async def test_unsigned_token_rejected(auth_server, http):
    body = (await login(auth_server, http, auth_server.tenant.users["admin"])).json()
    claims = decode(auth_server, body["accessToken"])
    forged = jwt.encode({**claims, "role": "ADMIN"}, key=None, algorithm="none")

    response = await me(auth_server, http, forged)

    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"


async def test_foreign_secret_token_rejected(auth_server, http):
    body = (await login(auth_server, http, auth_server.tenant.users["admin"])).json()
    claims = decode(auth_server, body["accessToken"])

    response = await me(auth_server, http, jwt.encode(claims, "another-secret-of-32-bytes-or-more!", algorithm="HS256"))

    assert response.status_code == 401


async def test_expired_token_rejected(auth_server, http):
    body = (await login(auth_server, http, auth_server.tenant.users["admin"])).json()
    claims = decode(auth_server, body["accessToken"])
    expired = jwt.encode({**claims, "iat": claims["iat"] - 9 * 3600, "exp": claims["iat"] - 3600}, jwt_secret(auth_server), algorithm="HS256")

    response = await me(auth_server, http, expired)

    assert response.status_code == 401
    assert response.json() == {"error": "Sessão expirada. Entre novamente.", "code": "TOKEN_EXPIRED"}


async def test_other_tenant_claim_rejected(auth_server, http):
    body = (await login(auth_server, http, auth_server.tenant.users["admin"])).json()
    claims = decode(auth_server, body["accessToken"])
    moved = jwt.encode({**claims, "tenantId": auth_server.tenants[1].id}, jwt_secret(auth_server), algorithm="HS256")

    response = await me(auth_server, http, moved)

    assert response.status_code == 401


# -- refresh, logout, password -----------------------------------------------


async def test_refresh_rotates_pair(auth_server, http):
    first = (await login(auth_server, http, auth_server.tenant.users["admin"])).json()

    response = await refresh(auth_server, http, first["refreshToken"])

    assert response.status_code == 200
    second = response.json()
    assert set(second) == {"accessToken", "refreshToken"}
    assert second["refreshToken"] != first["refreshToken"]
    assert decode(auth_server, second["refreshToken"])["sid"] == decode(auth_server, first["refreshToken"])["sid"]
    assert (await me(auth_server, http, second["accessToken"])).status_code == 200
    assert "refresh_token=" + second["refreshToken"] in response.headers["set-cookie"]


async def test_refresh_from_cookie(auth_server, http):
    first = (await login(auth_server, http, auth_server.tenant.users["admin"])).json()

    response = await http.post(auth_server.base_url + "/auth/refresh", headers={"Cookie": f"refresh_token={first['refreshToken']}"})

    assert response.status_code == 200
    assert (await me(auth_server, http, response.json()["accessToken"])).status_code == 200


async def test_refresh_reuse_revokes_session(auth_server, http):
    first = (await login(auth_server, http, auth_server.tenant.users["admin"])).json()
    rotated = (await refresh(auth_server, http, first["refreshToken"])).json()

    reused = await refresh(auth_server, http, first["refreshToken"])

    assert reused.status_code == 401
    assert reused.json() == {"error": "Sessão encerrada. Entre novamente.", "code": "UNAUTHORIZED"}
    assert (await refresh(auth_server, http, rotated["refreshToken"])).status_code == 401
    assert (await me(auth_server, http, rotated["accessToken"])).status_code == 401
    assert (await me(auth_server, http, first["accessToken"])).status_code == 401
    sid = decode(auth_server, first["refreshToken"])["sid"]
    assert rows(auth_server, "SELECT revoked_reason FROM sessions WHERE id = ?", (sid,)) == [{"revoked_reason": "refresh token reused"}]


async def test_refresh_without_token_rejected(auth_server, http):
    response = await http.post(auth_server.base_url + "/auth/refresh")

    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"


async def test_logout_takes_effect_at_once(auth_server, http):
    body = (await login(auth_server, http, auth_server.tenant.users["admin"])).json()
    headers = {"Authorization": f"Bearer {body['accessToken']}"}

    response = await http.post(auth_server.base_url + "/auth/logout", headers=headers)

    assert response.status_code == 200
    assert (await me(auth_server, http, body["accessToken"])).status_code == 401
    assert (await refresh(auth_server, http, body["refreshToken"])).status_code == 401
    assert (await http.post(auth_server.base_url + "/auth/logout", headers=headers)).status_code == 401


async def test_logout_leaves_other_sessions(auth_server, http):
    first = (await login(auth_server, http, auth_server.tenant.users["admin"])).json()
    second = (await login(auth_server, http, auth_server.tenant.users["admin"])).json()

    await http.post(auth_server.base_url + "/auth/logout", headers={"Authorization": f"Bearer {first['accessToken']}"})

    assert (await me(auth_server, http, second["accessToken"])).status_code == 200


async def test_password_change(auth_server, http):
    email = auth_server.tenant.users["supervisor"]
    other = (await login(auth_server, http, email)).json()
    current = (await login(auth_server, http, email)).json()
    headers = {"Authorization": f"Bearer {current['accessToken']}"}

    response = await http.post(
        auth_server.base_url + "/auth/password", headers=headers,
        json={"currentPassword": PASSWORD, "newPassword": "outra-senha-456"},
    )

    assert response.status_code == 200
    assert (await me(auth_server, http, current["accessToken"])).status_code == 200
    assert (await me(auth_server, http, other["accessToken"])).status_code == 401
    assert (await login(auth_server, http, email)).status_code == 401
    assert (await login(auth_server, http, email, "outra-senha-456")).status_code == 200


@pytest.mark.parametrize("body, field", [
    ({"currentPassword": "senha-errada-123", "newPassword": "outra-senha-789"}, "currentPassword"),
    ({"currentPassword": PASSWORD, "newPassword": PASSWORD}, "newPassword"),
    ({"currentPassword": PASSWORD, "newPassword": "curta"}, "newPassword"),
    ({"currentPassword": PASSWORD}, "newPassword"),
])
async def test_password_change_rejected(auth_server, http, body, field):
    token = (await login(auth_server, http, auth_server.tenant.users["attendant"])).json()["accessToken"]

    response = await http.post(auth_server.base_url + "/auth/password", headers={"Authorization": f"Bearer {token}"}, json=body)

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert [detail["field"] for detail in response.json()["details"]] == [field]
    assert (await login(auth_server, http, auth_server.tenant.users["attendant"])).status_code == 200


# -- rate limit (its own server with a small limit) ---------------------------


@pytest.fixture
def server_settings() -> dict:
    return {"login_rate_limit": 3}


async def test_login_rate_limited_per_email(server, http):
    email = server.tenant.users["attendant"]
    for index in range(3):
        response = await login(server, http, email, "senha-errada-123", **{"X-Forwarded-For": f"203.0.113.{index + 1}"})
        assert response.status_code == 401

    limited = await login(server, http, email, **{"X-Forwarded-For": "203.0.113.50"})

    assert limited.status_code == 429
    assert limited.json()["code"] == "RATE_LIMITED"
    assert int(limited.headers["retry-after"]) > 0
    assert limited.json()["error"] == f"Muitas requisições. Tente novamente em {limited.headers['retry-after']} segundos."


async def test_login_rate_limited_per_address(server, http):
    for label in ("admin", "supervisor", "attendant"):
        response = await login(server, http, server.tenant.users[label], **{"X-Forwarded-For": "198.51.100.7"})
        assert response.status_code == 200

    limited = await login(server, http, server.tenant.users["attendant_campos"], **{"X-Forwarded-For": "198.51.100.7"})
    other_address = await login(server, http, server.tenant.users["attendant_campos"], **{"X-Forwarded-For": "198.51.100.8"})

    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert other_address.status_code == 200


async def test_rejected_post_keeps_connection_usable(auth_server):
    failures = []
    async with httpx.AsyncClient(timeout=10.0, limits=httpx.Limits(max_connections=1)) as client:
        for attempt in range(40):
            rejected = await client.post(auth_server.base_url + "/auth/password", json={"currentPassword": "x" * 40})
            assert rejected.status_code == 401
            try:
                await client.get(auth_server.base_url + "/healthz")
            except httpx.HTTPError as error:
                failures.append((attempt, repr(error)))

    assert failures == []
