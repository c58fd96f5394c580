-- What GitHub says of a release's commit, for its card, and the GitHub
-- Deployment each release that reaches its build gets, with the last state
-- posted to it, so that a restart posts each state once.
ALTER TABLE releases ADD COLUMN commit_title TEXT NOT NULL DEFAULT '';
ALTER TABLE releases ADD COLUMN commit_url TEXT NOT NULL DEFAULT '';

CREATE TABLE deployments (
    release_id    BIGINT PRIMARY KEY REFERENCES releases (id),
    deployment_id BIGINT NOT NULL,
    environment   TEXT   NOT NULL,
    state         TEXT   NOT NULL
);
