-- The pipeline run of a release, and its console log as read so far, so
-- that a restart follows the same build from the same offset and the log
-- is read from Jenkins once.
CREATE TABLE builds (
    release_id BIGINT PRIMARY KEY REFERENCES releases (id),
    job        TEXT   NOT NULL,
    queue_id   BIGINT NOT NULL DEFAULT 0,
    number     BIGINT NOT NULL DEFAULT 0,
    url        TEXT   NOT NULL DEFAULT '',
    log_offset BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE build_logs (
    release_id BIGINT NOT NULL REFERENCES releases (id),
    offset_at  BIGINT NOT NULL,
    data       BYTEA  NOT NULL,
    PRIMARY KEY (release_id, offset_at)
);
