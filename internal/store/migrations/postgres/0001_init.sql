-- Hoist schema, PostgreSQL.

CREATE TABLE releases (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind              TEXT        NOT NULL,
    app               TEXT        NOT NULL,
    env               TEXT        NOT NULL,
    from_env          TEXT        NOT NULL DEFAULT '',
    ref               TEXT        NOT NULL DEFAULT '',
    commit_sha        TEXT        NOT NULL DEFAULT '',
    reason            TEXT        NOT NULL DEFAULT '',
    requested_by      TEXT        NOT NULL DEFAULT '',
    channel           TEXT        NOT NULL DEFAULT '',
    response_url      TEXT        NOT NULL DEFAULT '',
    state             TEXT        NOT NULL,
    state_reason      TEXT        NOT NULL DEFAULT '',
    message_channel   TEXT        NOT NULL DEFAULT '',
    message_ts        TEXT        NOT NULL DEFAULT '',
    approval_deadline TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX releases_app_env_id ON releases (app, env, id);
CREATE INDEX releases_state_id ON releases (state, id);

CREATE TABLE votes (
    release_id BIGINT      NOT NULL REFERENCES releases (id),
    voter      TEXT        NOT NULL,
    approve    BOOLEAN     NOT NULL,
    reason     TEXT        NOT NULL DEFAULT '',
    at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (release_id, voter)
);

CREATE TABLE locks (
    env    TEXT PRIMARY KEY,
    owner  TEXT        NOT NULL,
    reason TEXT        NOT NULL DEFAULT '',
    at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE environments (
    app          TEXT        NOT NULL,
    branch       TEXT        NOT NULL,
    env          TEXT        NOT NULL,
    namespace    TEXT        NOT NULL DEFAULT '',
    owner        TEXT        NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ,
    last_release BIGINT,
    PRIMARY KEY (app, branch)
);

-- The audit log is append-only: nothing in Hoist updates or deletes an
-- event, and this trigger refuses anyone who tries.
CREATE TABLE events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL,
    actor      TEXT        NOT NULL,
    action     TEXT        NOT NULL,
    release_id BIGINT,
    env        TEXT        NOT NULL DEFAULT '',
    detail     TEXT        NOT NULL DEFAULT ''
);
CREATE INDEX events_release_id ON events (release_id, id);
CREATE INDEX events_env_id ON events (env, id);

CREATE FUNCTION hoist_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only';
END
$$;

CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION hoist_events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION hoist_events_append_only();
