"""The conversation store's SQLite schema, by version, and the migrations between versions."""

from __future__ import annotations

import json
import sqlite3

SCHEMA_VERSION = 2

# Version 1 (kept to migrate from, and for the test that opens a file of that version): conversations with a
# title, messages as role + plain text; no run records, no status, no files.
SCHEMA_V1 = """
CREATE TABLE conversations (id TEXT PRIMARY KEY, title TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE messages (conversation TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
                       seq INTEGER NOT NULL, role TEXT NOT NULL, content TEXT, PRIMARY KEY (conversation, seq));
"""

_V2_TABLES = """
CREATE TABLE records (conversation TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
                      seq INTEGER NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (conversation, seq));
CREATE TABLE files (conversation TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
                    name TEXT NOT NULL, size INTEGER NOT NULL, PRIMARY KEY (conversation, name));
"""

SCHEMA_V2 = """
CREATE TABLE conversations (id TEXT PRIMARY KEY, title TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL,
                            status TEXT NOT NULL DEFAULT 'idle', work_dir TEXT, bytes INTEGER NOT NULL DEFAULT 0,
                            runner TEXT);
CREATE TABLE messages (conversation TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
                       seq INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (conversation, seq));
""" + _V2_TABLES


def migrate(db: sqlite3.Connection) -> None:
    """Bring a file of any earlier schema (or an empty one) to `SCHEMA_VERSION`, in the caller's transaction."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version == 0:
        if db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]:
            raise sqlite3.DatabaseError("an SQLite file with tables but no schema version: not a conversation store")
        for statement in _statements(SCHEMA_V2):
            db.execute(statement)
    elif version == 1:
        _migrate_v1(db)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _migrate_v1(db: sqlite3.Connection) -> None:
    """Version 1 -> 2: messages become the full OpenAI-shaped JSON; status, work dir, size, records and files
    are new (a conversation of version 1 is idle and has no records)."""
    db.execute("ALTER TABLE conversations ADD COLUMN status TEXT NOT NULL DEFAULT 'idle'")
    db.execute("ALTER TABLE conversations ADD COLUMN work_dir TEXT")
    db.execute("ALTER TABLE conversations ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE conversations ADD COLUMN runner TEXT")
    db.execute("ALTER TABLE messages RENAME TO messages_v1")
    db.execute("CREATE TABLE messages (conversation TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE, "
               "seq INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (conversation, seq))")
    for cid, seq, role, content in db.execute("SELECT conversation, seq, role, content FROM messages_v1").fetchall():
        data = json.dumps({"role": role, "content": content}, ensure_ascii=False)
        db.execute("INSERT INTO messages VALUES (?, ?, ?)", (cid, seq, data))
        db.execute("UPDATE conversations SET bytes = bytes + ? WHERE id = ?", (len(data), cid))
    db.execute("DROP TABLE messages_v1")
    for statement in _statements(_V2_TABLES):
        db.execute(statement)


EXPECTED_COLUMNS = {
    "conversations": ["id", "title", "created", "updated", "status", "work_dir", "bytes", "runner"],
    "messages": ["conversation", "seq", "data"],
    "records": ["conversation", "seq", "kind", "data"],
    "files": ["conversation", "name", "size"],
}


def check_tables(db: sqlite3.Connection) -> None:
    """A file whose tables are not this schema's (damaged where SQLite keeps the schema's text, or another
    program's) is not written into."""
    for table, columns in EXPECTED_COLUMNS.items():
        found = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
        if found != columns:
            raise sqlite3.DatabaseError(f"table {table} has columns {found}, not {columns}")


def _statements(script: str) -> list[str]:
    """A schema script as single statements (`executescript` would commit the caller's transaction)."""
    return [s.strip() for s in script.split(";") if s.strip()]
