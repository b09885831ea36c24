-- The key of the machines' callback tokens, shared by every httpd-tree and tftpd on the
-- database, so that a token one of them rendered is accepted by all (crates/pxe-db/src/state.rs).
-- Created once by whichever process asks first; never changed by the daemons.
CREATE TABLE pxe_secrets (
    name       text PRIMARY KEY,
    value      bytea NOT NULL CHECK (length(value) >= 32),
    created_at timestamptz NOT NULL DEFAULT now()
);
