"""Every message a hotel's staff can read has a pt-BR translation with the same placeholders."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

from babel.messages.pofile import read_po

import hotelbot

PACKAGE = Path(hotelbot.__file__).parent
CATALOG = PACKAGE / "locale" / "pt_BR" / "LC_MESSAGES" / "hotelbot.po"

# Calls whose first string argument is shown to a person.
MESSAGE_CALLS = {
    "translate", "say", "CommandError", "AppError", "ValidationFailed", "Unauthorized", "InvalidCredentials",
    "TokenExpired", "Forbidden", "NotFound", "Conflict", "PayloadTooLarge", "WindowClosed", "WhatsAppRejected",
    "RateLimited", "ServiceUnavailable", "_status_error",
}
# Module-level dictionaries whose values are messages.
MESSAGE_TABLES = re.compile(r"MESSAGES|templates|labels", re.IGNORECASE)


def _call_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _strings_in(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for statement in node.body:
                if (
                    isinstance(statement, ast.Assign)
                    and any(isinstance(target, ast.Name) and target.id == "message" for target in statement.targets)
                    and isinstance(statement.value, ast.Constant) and isinstance(statement.value.value, str)
                ):
                    found.add(statement.value.value)
        elif isinstance(node, ast.Call) and _call_name(node) in MESSAGE_CALLS:
            position = 2 if _call_name(node) == "_status_error" else 0
            if len(node.args) > position:
                argument = node.args[position]
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    found.add(argument.value)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if (
                    isinstance(key, ast.Constant) and key.value == "message"
                    and isinstance(value, ast.Constant) and isinstance(value.value, str)
                ):
                    found.add(value.value)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            names = [target.id for target in node.targets if isinstance(target, ast.Name)]
            if any(MESSAGE_TABLES.search(name) for name in names):
                for value in node.value.values:
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        found.add(value.value)
    return found


def user_facing_messages() -> dict[str, str]:
    """Return every message found in the package, with the file it came from."""
    messages: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for message in _strings_in(ast.parse(path.read_text(encoding="utf-8"))):
            messages.setdefault(message, str(path.relative_to(PACKAGE)))
    return messages


def catalog() -> dict[str, str]:
    with CATALOG.open("rb") as handle:
        parsed = read_po(handle)
    return {message.id: message.string for message in parsed if message.id}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_message_has_a_translation():
    translations = catalog()
    missing = {text: where for text, where in user_facing_messages().items() if not translations.get(text)}
    assert missing == {}


def test_translations_keep_placeholders():
    mismatched = {
        source: target for source, target in catalog().items() if placeholders(source) != placeholders(target)
    }
    assert mismatched == {}


def test_catalog_has_no_duplicate_ids():
    ids = re.findall(r'^msgid "(.+)"$', CATALOG.read_text(encoding="utf-8"), flags=re.MULTILINE)
    duplicates = sorted({item for item in ids if ids.count(item) > 1})
    assert duplicates == []
