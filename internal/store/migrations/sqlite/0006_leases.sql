-- Who drives a release now: a worker holds a release's lease while it
-- drives it and renews it as it goes, so that of several replicas one
-- drives each release, and another takes over when the holder dies.
CREATE TABLE release_leases (
    release_id INTEGER PRIMARY KEY REFERENCES releases (id),
    owner      TEXT    NOT NULL,
    expires_at TEXT NOT NULL
);
