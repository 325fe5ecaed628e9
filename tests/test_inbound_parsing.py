"""Reading webhook payloads never raises, whatever Meta (or anyone with the app secret) sends."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from hotelbot.domain.inbound import parse_webhook
from tests.support.fakes import FIXTURES, load_fixture

FIXTURE_NAMES = sorted(path.name for path in Path(FIXTURES).glob("*.json") if path.name.startswith(("inbound-", "status-", "webhook-errors-")))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=30,
)


def replace_at(value, path: list[int], replacement):
    """Return a copy of ``value`` with the node reached by walking ``path`` (indexes modulo width) replaced."""
    if not path or not isinstance(value, (dict, list)) or not value:
        return replacement
    changed = copy.copy(value)
    keys = list(changed) if isinstance(changed, dict) else list(range(len(changed)))
    key = keys[path[0] % len(keys)]
    changed[key] = replace_at(changed[key], path[1:], replacement)
    return changed


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_parsed_without_error(payload):
    parsed = parse_webhook(payload)

    assert isinstance(parsed.skipped, list)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(FIXTURE_NAMES), st.lists(st.integers(min_value=0, max_value=50), max_size=10), json_values)
def test_mutated_fixture_parsed_without_error(name, path, replacement):
    payload = replace_at(load_fixture(name), path, replacement)

    parsed = parse_webhook(payload)

    for message in parsed.messages:
        json.dumps(message.metadata)
        assert message.whatsapp_msg_id
        assert message.wa_id or message.user_id


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30), json_values)
def test_any_message_type_stored(kind, body):
    payload = copy.deepcopy(load_fixture("inbound-text.json"))
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["type"] = kind
    message[kind] = body

    parsed = parse_webhook(payload)

    assert len(parsed.messages) == 1
    assert parsed.messages[0].type in {
        "TEXT", "IMAGE", "AUDIO", "VIDEO", "DOCUMENT", "STICKER", "LOCATION", "CONTACTS",
        "INTERACTIVE", "BUTTON", "REACTION", "ORDER", "SYSTEM", "UNSUPPORTED",
    }
