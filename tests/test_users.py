"""Admins managing their tenant's users over the API."""

from __future__ import annotations

import pytest

from tests.support.attendants import Api
from tests.support.db import eventually, rows
from tests.support.server import PASSWORD
from tests.support.webhooks import execute

NEW_PASSWORD = "outra-senha-456"


@pytest.fixture
async def api(server, http) -> Api:
    return Api(server, http, server.tenant)


@pytest.fixture
async def other(server, http) -> Api:
    return Api(server, http, server.tenants[1])


async def _login_status(api: Api, email: str, password: str) -> int:
    response = await api.http.post(api.server.base_url + "/auth/login", json={"email": email, "password": password})
    return response.status_code


async def test_create_user_and_login(api):
    response = await api.call("POST", "/users", "admin", json={
        "email": "Nova.Atendente@Hotel.example", "name": " Nova Atendente ", "role": "ATTENDANT",
        "password": PASSWORD, "hotelUnit": "ubatuba", "language": "en",
    })

    assert response.status_code == 201
    user = response.json()["user"]
    assert user["email"] == "nova.atendente@hotel.example"
    assert user["name"] == "Nova Atendente"
    assert user["role"] == "ATTENDANT"
    assert user["hotelUnit"] == "Ubatuba"
    assert user["language"] == "en"
    assert user["active"] is True
    assert user["tenantId"] == api.tenant.id
    assert "password" not in response.text
    assert await _login_status(api, "nova.atendente@hotel.example", PASSWORD) == 200

    duplicate = await api.call("POST", "/users", "admin", json={
        "email": "nova.atendente@hotel.example", "name": "Outra", "role": "ATTENDANT", "password": PASSWORD,
    })
    assert duplicate.status_code == 409
    assert duplicate.json()["error"] == "Já existe um usuário com este e-mail."


async def test_create_user_rejects_bad_input(api):
    valid = {"email": "x@hotel.example", "name": "X", "role": "ATTENDANT", "password": PASSWORD}
    cases = [
        ({**valid, "email": "not-an-email"}, "email"),
        ({**valid, "password": "curta"}, "password"),
        ({**valid, "role": "OWNER"}, "role"),
        ({**valid, "language": "es"}, "language"),
        ({**valid, "name": "   "}, "name"),
        ({**valid, "name": "n" * 101}, "name"),
        ({**valid, "hotelUnit": "Paraty"}, "hotelUnit"),
        ({key: value for key, value in valid.items() if key != "role"}, "role"),
    ]
    for body, field in cases:
        response = await api.call("POST", "/users", "admin", json=body)
        assert (field, response.status_code) == (field, 400)
        assert response.json()["code"] == "VALIDATION_ERROR"
        assert [detail["field"] for detail in response.json()["details"]] == [field]
    assert rows(api.server, "SELECT count(*) AS n FROM users WHERE email = 'x@hotel.example'") == [{"n": 0}]


async def test_users_routes_need_admin(api):
    admin_id = await api.user_id("admin")
    routes = [
        ("GET", "/users", None),
        ("POST", "/users", {"email": "y@hotel.example", "name": "Y", "role": "ADMIN", "password": PASSWORD}),
        ("PATCH", f"/users/{admin_id}", {"role": "ATTENDANT"}),
        ("POST", f"/users/{admin_id}/deactivate", None),
        ("POST", f"/users/{admin_id}/reset-password", {"password": NEW_PASSWORD}),
        ("POST", f"/users/{admin_id}/unlock", None),
    ]
    for method, path, body in routes:
        for label in ("supervisor", "attendant"):
            response = await api.call(method, path, label, json=body)
            assert (path, label, response.status_code) == (path, label, 403)
            assert response.json()["code"] == "FORBIDDEN"
        anonymous = await api.call(method, path, None, json=body)
        assert (path, anonymous.status_code) == (path, 401)
    assert await _login_status(api, api.tenant.users["admin"], PASSWORD) == 200
    assert rows(api.server, "SELECT count(*) AS n FROM users WHERE email = 'y@hotel.example'") == [{"n": 0}]


async def test_list_users_pages_own_tenant(api, other):
    seen: list[dict] = []
    cursor = None
    while True:
        response = await api.call("GET", "/users?limit=2" + (f"&cursor={cursor}" if cursor else ""), "admin")
        assert response.status_code == 200
        seen.extend(response.json()["items"])
        cursor = response.json()["nextCursor"]
        if cursor is None:
            break

    assert sorted(user["email"] for user in seen) == sorted(api.tenant.users.values())
    assert {user["tenantId"] for user in seen} == {api.tenant.id}
    assert len({user["id"] for user in seen}) == 5
    assert all("passwordHash" not in user and "password_hash" not in user for user in seen)

    bad_cursor = await api.call("GET", "/users?cursor=%%%", "admin")
    assert bad_cursor.status_code == 400
    assert bad_cursor.json()["details"][0]["field"] == "cursor"


async def test_update_user_fields(api, sockets):
    user_id = await api.user_id("attendant_campos")
    client = await api.socket("attendant_campos", sockets)

    response = await api.call("PATCH", f"/users/{user_id}", "admin", json={
        "role": "SUPERVISOR", "hotelUnit": "UBATUBA", "language": "en", "name": "Carla Campos",
    })

    assert response.status_code == 200
    user = response.json()["user"]
    assert (user["role"], user["hotelUnit"], user["language"], user["name"]) == ("SUPERVISOR", "Ubatuba", "en", "Carla Campos")
    await eventually(lambda: not client.sio.connected)
    me = await api.call("GET", "/auth/me", "attendant_campos")
    assert me.json()["user"]["role"] == "SUPERVISOR"

    every_unit = await api.call("PATCH", f"/users/{user_id}", "admin", json={"hotelUnit": None})
    assert every_unit.json()["user"]["hotelUnit"] is None
    assert every_unit.json()["user"]["role"] == "SUPERVISOR"


async def test_update_user_rejects_bad_input(api):
    user_id = await api.user_id("attendant")
    admin_id = await api.user_id("admin")
    cases = [
        ({}, "body", 400),
        ({"role": "OWNER"}, "role", 400),
        ({"language": "fr"}, "language", 400),
        ({"hotelUnit": "Paraty"}, "hotelUnit", 400),
        ({"name": ""}, "name", 400),
        ({"name": "  "}, "name", 400),
    ]
    for body, field, status in cases:
        response = await api.call("PATCH", f"/users/{user_id}", "admin", json=body)
        assert (field, response.status_code) == (field, status)
        assert [detail["field"] for detail in response.json()["details"]] == [field]

    own_role = await api.call("PATCH", f"/users/{admin_id}", "admin", json={"role": "ATTENDANT"})
    assert own_role.status_code == 409
    assert own_role.json()["error"] == "Você não pode alterar o seu próprio perfil de acesso."
    own_name = await api.call("PATCH", f"/users/{admin_id}", "admin", json={"name": "Chefe"})
    assert own_name.status_code == 200
    assert rows(api.server, "SELECT role FROM users WHERE id = ?", (user_id,)) == [{"role": "ATTENDANT"}]


async def test_deactivate_ends_sessions_and_sockets(api, sockets):
    user_id = await api.user_id("attendant")
    client = await api.socket("attendant", sockets)

    response = await api.call("POST", f"/users/{user_id}/deactivate", "admin")

    assert response.status_code == 200
    assert response.json()["user"]["active"] is False
    await eventually(lambda: not client.sio.connected)
    old_token = await api.call("GET", "/auth/me", "attendant")
    assert old_token.status_code == 401
    assert await _login_status(api, api.tenant.users["attendant"], PASSWORD) == 401

    admin_id = await api.user_id("admin")
    self_deactivation = await api.call("POST", f"/users/{admin_id}/deactivate", "admin")
    assert self_deactivation.status_code == 409
    assert self_deactivation.json()["error"] == "Você não pode desativar a sua própria conta."


async def test_reset_password(api, sockets):
    user_id = await api.user_id("supervisor")
    client = await api.socket("supervisor", sockets)

    response = await api.call("POST", f"/users/{user_id}/reset-password", "admin", json={"password": NEW_PASSWORD})

    assert response.status_code == 200
    await eventually(lambda: not client.sio.connected)
    assert (await api.call("GET", "/auth/me", "supervisor")).status_code == 401
    assert await _login_status(api, api.tenant.users["supervisor"], PASSWORD) == 401
    assert await _login_status(api, api.tenant.users["supervisor"], NEW_PASSWORD) == 200

    short = await api.call("POST", f"/users/{user_id}/reset-password", "admin", json={"password": "curta"})
    assert short.status_code == 400
    assert short.json()["details"][0]["field"] == "password"


async def test_unlock_after_failed_logins(api):
    email = api.tenant.users["attendant_ubatuba"]
    user_id = await api.user_id("attendant_ubatuba")
    execute(api.server, "UPDATE users SET failed_logins = 10, locked_until = '2099-01-01T00:00:00.000Z' WHERE id = ?", (user_id,))
    assert await _login_status(api, email, PASSWORD) == 401
    listed = (await api.call("GET", "/users", "admin")).json()["items"]
    assert next(user for user in listed if user["id"] == user_id)["lockedUntil"] == "2099-01-01T00:00:00.000Z"

    response = await api.call("POST", f"/users/{user_id}/unlock", "admin")

    assert response.status_code == 200
    assert response.json()["user"]["lockedUntil"] is None
    assert await _login_status(api, email, PASSWORD) == 200


async def test_expired_lock_not_shown(api):
    user_id = await api.user_id("attendant_campos")
    execute(api.server, "UPDATE users SET failed_logins = 10, locked_until = '2020-01-01T00:00:00.000Z' WHERE id = ?", (user_id,))

    response = await api.call("GET", "/users", "admin")

    assert response.status_code == 200
    assert next(user for user in response.json()["items"] if user["id"] == user_id)["lockedUntil"] is None


async def test_other_tenants_users_not_found(api, other):
    foreign_id = await other.user_id("attendant")
    routes = [
        ("PATCH", "/users/{id}", {"language": "en"}),
        ("POST", "/users/{id}/deactivate", None),
        ("POST", "/users/{id}/reset-password", {"password": NEW_PASSWORD}),
        ("POST", "/users/{id}/unlock", None),
    ]
    for method, path, body in routes:
        foreign = await api.call(method, path.format(id=foreign_id), "admin", json=body)
        unknown = await api.call(method, path.format(id="f" * 32), "admin", json=body)
        assert (path, foreign.status_code) == (path, 404)
        assert foreign.json() == unknown.json()
        assert foreign.json()["error"] == "Usuário não encontrado."

    assert rows(api.server, "SELECT active, language FROM users WHERE id = ?", (foreign_id,)) == [{"active": 1, "language": "pt-BR"}]
    assert await _login_status(other, other.tenant.users["attendant"], PASSWORD) == 200
