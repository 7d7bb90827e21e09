"""The helpdesk's tickets, kept in one SQLite file.

The channel layer is no database: its messages expire, are delivered at most once (email
at least once) and vanish with a ``memory://`` process. What must outlive a message (a
ticket, the Message-ID to answer) belongs in storage the application owns. SQLite is in
the standard library, is one file, and stays correct when several worker processes on one
machine write at once; for workers on several machines, use a database server instead.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict

SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sender TEXT NOT NULL,
    subject TEXT NOT NULL,
    message_id TEXT UNIQUE,
    body TEXT NOT NULL,
    received TEXT NOT NULL,
    replies INTEGER NOT NULL DEFAULT 0
)
"""
SELECT = "SELECT id, sender, subject, message_id, body, received, replies FROM tickets"


class Ticket(TypedDict):
    """One ticket, as stored and as sent to the page (JSON) and to IRC."""

    id: int
    sender: str  # the address answers go to
    subject: str
    message_id: str | None  # of the mail that opened it: answers are threaded under it
    body: str  # the mail's text, shortened
    received: str  # ISO 8601, UTC
    replies: int  # answers mailed so far; only grows (the page keeps the highest)


class TicketStore:
    """Open, find and list tickets. Each call opens its own connection, so calls may come
    from any thread (consumers run them with ``asyncio.to_thread``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=10)
        connection.row_factory = sqlite3.Row
        connection.execute(SCHEMA)
        return connection

    def open(self, sender: str, subject: str, message_id: str | None, body: str) -> Ticket:
        """A new ticket; the same one again for a mail delivered twice (same Message-ID),
        since ``email.receive`` is at least once."""
        received = datetime.now(UTC).isoformat(timespec="seconds")
        with closing(self._connect()) as db, db:
            cursor = db.execute(
                "INSERT INTO tickets (sender, subject, message_id, body, received)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING",
                (sender, subject, message_id, body, received),
            )
            if cursor.rowcount:
                rows = db.execute(f"{SELECT} WHERE id = ?", (cursor.lastrowid,))
            else:  # that mail came before: its ticket
                rows = db.execute(f"{SELECT} WHERE message_id = ?", (message_id,))
            ticket = _ticket(rows)
        assert ticket is not None, "a ticket just inserted or found is there"
        return ticket

    def get(self, ticket_id: int) -> Ticket | None:
        with closing(self._connect()) as db:
            rows = db.execute(f"{SELECT} WHERE id = ?", (ticket_id,))
            return _ticket(rows)

    def answered(self, ticket_id: int) -> Ticket | None:
        """Count one more answer mailed for the ticket; the ticket as it is now."""
        with closing(self._connect()) as db, db:
            db.execute("UPDATE tickets SET replies = replies + 1 WHERE id = ?", (ticket_id,))
            return _ticket(db.execute(f"{SELECT} WHERE id = ?", (ticket_id,)))

    def latest(self, count: int = 200) -> list[Ticket]:
        """The newest ``count`` tickets, newest first (what a page shows when it opens)."""
        with closing(self._connect()) as db:
            rows = db.execute(f"{SELECT} ORDER BY id DESC LIMIT ?", (count,))
            return [Ticket(**dict(row)) for row in rows]  # type: ignore[typeddict-item]


def _ticket(rows: sqlite3.Cursor) -> Ticket | None:
    row = rows.fetchone()
    return Ticket(**dict(row)) if row else None  # type: ignore[typeddict-item]
