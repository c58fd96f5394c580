-- The status of an environment asks for its last succeeded release and for
-- its releases in flight: with the state in the index, neither reads the
-- releases of every other state, however many a busy test environment has.
CREATE INDEX releases_app_env_state_id ON releases (app, env, state, id);
