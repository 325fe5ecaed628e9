"""``/livez``: a liveness probe that touches nothing but the HTTP stack."""

from __future__ import annotations


async def test_livez_returns_ok(server, http):
    response = await http.get(server.base_url + "/livez")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"
