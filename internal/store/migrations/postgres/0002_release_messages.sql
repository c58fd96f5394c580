-- Messages other than the card that show a release (a copy of the card in
-- an approvals channel, a live build log), one per role.
CREATE TABLE release_messages (
    release_id BIGINT NOT NULL REFERENCES releases (id),
    role       TEXT   NOT NULL,
    channel    TEXT   NOT NULL,
    ts         TEXT   NOT NULL,
    PRIMARY KEY (release_id, role)
);
