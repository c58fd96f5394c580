-- When Hoist asked Jenkins to queue a release's build, kept before asking:
-- a build row with it and no queue item is a build Hoist may have queued
-- without keeping the answer (it stopped meanwhile), which a restart looks
-- for among Jenkins' queue and builds instead of queueing a second one.
ALTER TABLE builds ADD COLUMN triggered_at TEXT;
