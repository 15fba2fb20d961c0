-- Sessions of diesel_cluster::web::MasterSessionStore (tower-sessions), on the master.
-- `id` is tower-sessions' base64url session id: case matters, hence ascii_bin.
-- `record` is the session record as JSON; `expires_at` is its expiry in unix seconds.
CREATE TABLE sessions (
    id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    record MEDIUMTEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    KEY sessions_expires_at (expires_at)
);
