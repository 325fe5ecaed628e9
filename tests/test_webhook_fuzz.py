"""Signed webhook bodies built from the fixtures and mutated, posted to the real server.

Hypothesis replaces or deletes a node of a fixture with wrong types, huge
strings, deep nesting, odd Unicode or lone surrogates. The result is signed
with the tenant's app secret, so the body passes the signature check and
reaches the parser and the inbound job. The server must respond 200, 400 or 413 and never
500. Every stored body must then be processed without a dead letter, every
message must belong to a stored conversation, and the log must show no
unhandled error.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.db import rows, wait_until
from tests.support.fakes import FIXTURES, load_fixture
from tests.support.server import ServerProcess, running_server

FIXTURE_NAMES = sorted(
    path.name for path in Path(FIXTURES).glob("*.json") if path.name.startswith(("inbound-", "status-"))
)
DELETE = object()
DEEP = "__hotelbot_deep_nesting__"

odd_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40)
leaves = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | odd_text
    | st.sampled_from(["", "\u0000", "\ud800", "\u202e", "9" * 40, "x" * 200_000, DEEP])
)
json_values = st.recursive(
    leaves,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(odd_text, children, max_size=3),
    max_leaves=12,
)


def mutate(value, path: list[int], replacement):
    """Return a copy of ``value`` with the node reached by ``path`` (indexes modulo width) replaced or deleted."""
    if not isinstance(value, (dict, list)) or not value:
        return value
    changed = copy.copy(value)
    keys = list(changed) if isinstance(changed, dict) else list(range(len(changed)))
    key = keys[path[0] % len(keys)] if path else keys[0]
    if len(path) <= 1:
        if replacement is DELETE:
            del changed[key]
        else:
            changed[key] = replacement
        return changed
    changed[key] = mutate(changed[key], path[1:], replacement)
    return changed


def encode(payload) -> bytes:
    """Serialize as Meta does (ASCII with escapes); the DEEP marker becomes 5,000 nested arrays."""
    text = json.dumps(payload, ensure_ascii=True)
    return text.replace(json.dumps(DEEP), "[" * 5000 + "]" * 5000).encode()


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("fuzz") / "data", tenant_count=1) as (server, _, _):
        yield server


def fresh_fixture(name: str) -> dict:
    """Return the fixture with a new message or status id, so no example is dropped as a duplicate."""
    payload = copy.deepcopy(load_fixture(name))
    value = payload["entry"][0]["changes"][0]["value"]
    for item in value.get("messages", []) + value.get("statuses", []):
        item["id"] = "wamid.FUZZ" + uuid.uuid4().hex.upper()
    return payload


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    name=st.sampled_from(FIXTURE_NAMES),
    path=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=9),
    replacement=json_values | st.just(DELETE),
)
def test_mutated_webhook_never_fails(fuzzed, name, path, replacement):
    body = encode(mutate(fresh_fixture(name), path, replacement))
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": fuzzed.sign(body)}

    response = httpx.post(fuzzed.base_url + "/webhooks/whatsapp", content=body, headers=headers, timeout=20)

    assert response.status_code in (200, 400, 413), response.text
    assert response.headers["content-type"] == "application/json"


def test_fuzzed_bodies_processed_cleanly(fuzzed):
    """Runs after the fuzzing above in this module: every stored body is processed, nothing is half-written."""
    wait_until(lambda: rows(fuzzed, "SELECT count(*) AS n FROM inbox WHERE processed_at IS NULL") == [{"n": 0}],
               timeout=60)

    assert rows(fuzzed, "SELECT count(*) AS n FROM inbox") != [{"n": 0}]
    assert rows(fuzzed, "SELECT kind, error FROM dead_letters") == []
    assert rows(fuzzed, "SELECT m.id FROM messages m LEFT JOIN conversations c ON c.id = m.conversation_id"
                        " WHERE c.id IS NULL") == []
    log = fuzzed.log()
    assert "Traceback" not in log
    assert "Unhandled error" not in log
