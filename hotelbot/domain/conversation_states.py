"""The conversation state table, written once.

| from \\ event | escalate (N8N)            | assign / attendant reply        | release to AI | close |
|--------------|---------------------------|---------------------------------|---------------|-------|
| BOT          | OPEN, iaLocked            | IN_PROGRESS, iaLocked           | no-op         | CLOSED|
| OPEN         | returns the open escalation| IN_PROGRESS                    | BOT           | CLOSED|
| IN_PROGRESS  | created or returned; stays| reassign (rules below)          | BOT           | CLOSED|
| CLOSED       | OPEN                      | IN_PROGRESS (within the window) | no-op         | 409   |

An inbound message creates a conversation as BOT and reopens a CLOSED one as
BOT; that transition lives in the upsert that stores the message.

Reassigning an IN_PROGRESS conversation: supervisors and admins any time; an
attendant only if it is unassigned or already theirs, else ALREADY_ASSIGNED.
Entering IN_PROGRESS starts the open escalation (firstResponseAt); release and
close resolve it. :func:`decide` returns what to change; it does no I/O.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from hotelbot.errors import Conflict, Forbidden, WindowClosed

EscalationAction = Literal["create_or_return", "start", "resolve"]

SUPERVISING_ROLES = ("ADMIN", "SUPERVISOR")


@dataclasses.dataclass(frozen=True)
class Decision:
    """Changes to write to the conversation, and what to do with its open escalation."""

    changes: dict[str, Any]
    escalation: EscalationAction | None = None
    noop: bool = False


def escalate(status: str, stamp: str) -> Decision:
    if status == "IN_PROGRESS":
        return Decision(changes={}, escalation="create_or_return")
    changes: dict[str, Any] = {"status": "OPEN", "ia_locked": 1, "ia_locked_by": "N8N", "ia_locked_at": stamp}
    if status == "OPEN":
        changes = {}
    if status == "CLOSED":
        changes.update({"closed_at": None, "assigned_to_id": None})
    return Decision(changes=changes, escalation="create_or_return")


def take_over(
    status: str,
    *,
    assigned_to_id: str | None,
    assignee_id: str,
    actor_id: str,
    actor_role: str,
    can_reply: bool,
    stamp: str,
    ia_locked: bool,
    by_reply: bool = False,
) -> Decision:
    """Assign the conversation to ``assignee_id`` (or let an attendant's reply take it).

    Raises Conflict (ALREADY_ASSIGNED) when an attendant reaches for a
    conversation somebody else holds, and WindowClosed or Conflict for a CLOSED
    conversation outside the 24-hour window.
    """
    if status == "CLOSED" and not can_reply:
        if by_reply:
            raise WindowClosed()
        raise Conflict("This conversation is closed and the guest's 24-hour window has expired.")

    supervising = actor_role in SUPERVISING_ROLES
    if status == "IN_PROGRESS" and assigned_to_id and assigned_to_id != assignee_id:
        if by_reply:
            # Replying to a conversation someone else holds leaves the assignment alone,
            # but the reply is still the escalation's first response.
            return Decision(changes={}, escalation="start", noop=True)
        if not supervising and assigned_to_id != actor_id:
            raise Conflict(
                "This conversation is already assigned to another attendant.", code="ALREADY_ASSIGNED"
            )
    if not supervising and assignee_id != actor_id:
        raise Forbidden("Only supervisors and admins can assign conversations to others.")

    changes: dict[str, Any] = {"status": "IN_PROGRESS", "assigned_to_id": assignee_id, "closed_at": None}
    if not ia_locked or status == "CLOSED":
        changes.update({"ia_locked": 1, "ia_locked_by": actor_id, "ia_locked_at": stamp})
    return Decision(changes=changes, escalation="start")


def release(status: str) -> Decision:
    if status in ("BOT", "CLOSED"):
        return Decision(changes={}, noop=True)
    return Decision(
        changes={"status": "BOT", "ia_locked": 0, "ia_locked_by": None, "ia_locked_at": None, "assigned_to_id": None},
        escalation="resolve",
    )


def close(status: str, stamp: str) -> Decision:
    if status == "CLOSED":
        raise Conflict("This conversation is already closed.")
    return Decision(
        changes={"status": "CLOSED", "ia_locked": 0, "ia_locked_by": None, "ia_locked_at": None, "closed_at": stamp},
        escalation="resolve",
    )
