-- Hoist schema, SQLite. Times are UTC text, fixed width:
-- 2006-01-02T15:04:05.000000Z, so they sort and compare as strings.

CREATE TABLE releases (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    kind              TEXT    NOT NULL,
    app               TEXT    NOT NULL,
    env               TEXT    NOT NULL,
    from_env          TEXT    NOT NULL DEFAULT '',
    ref               TEXT    NOT NULL DEFAULT '',
    commit_sha        TEXT    NOT NULL DEFAULT '',
    reason            TEXT    NOT NULL DEFAULT '',
    requested_by      TEXT    NOT NULL DEFAULT '',
    channel           TEXT    NOT NULL DEFAULT '',
    response_url      TEXT    NOT NULL DEFAULT '',
    state             TEXT    NOT NULL,
    state_reason      TEXT    NOT NULL DEFAULT '',
    message_channel   TEXT    NOT NULL DEFAULT '',
    message_ts        TEXT    NOT NULL DEFAULT '',
    approval_deadline TEXT,
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL
);
CREATE INDEX releases_app_env_id ON releases (app, env, id);
CREATE INDEX releases_state_id ON releases (state, id);

CREATE TABLE votes (
    release_id INTEGER NOT NULL REFERENCES releases (id),
    voter      TEXT    NOT NULL,
    approve    INTEGER NOT NULL CHECK (approve IN (0, 1)),
    reason     TEXT    NOT NULL DEFAULT '',
    at         TEXT    NOT NULL,
    PRIMARY KEY (release_id, voter)
);

CREATE TABLE locks (
    env    TEXT PRIMARY KEY,
    owner  TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    at     TEXT NOT NULL
);

CREATE TABLE environments (
    app          TEXT NOT NULL,
    branch       TEXT NOT NULL,
    env          TEXT NOT NULL,
    namespace    TEXT NOT NULL DEFAULT '',
    owner        TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    last_release INTEGER,
    PRIMARY KEY (app, branch)
);

-- The audit log is append-only: nothing in Hoist updates or deletes an
-- event, and these triggers refuse anyone who tries.
CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    release_id INTEGER,
    env        TEXT    NOT NULL DEFAULT '',
    detail     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX events_release_id ON events (release_id, id);
CREATE INDEX events_env_id ON events (env, id);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;
