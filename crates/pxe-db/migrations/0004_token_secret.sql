-- The key of the machines' callback tokens, shared by every httpd-tree and tftpd on the
-- database, so that a token one of them rendered is accepted by all (crates/pxe-db/src/state.rs).
-- Created once by whichever process asks first; never changed by the daemons.
CREATE TABLE pxe_secrets (
    name       text PRIMARY KEY,
    value      bytea NOT NULL CHECK (length(value) >= 32),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A new timeline entry is announced on the same channel as a state change (payload: the
-- machine's name), so that every httpd-tree's console shows "last seen" as it happens.
CREATE FUNCTION pxe_boot_event_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pxe_machine_state', NEW.machine);
    RETURN NULL;
END;
$$;
CREATE TRIGGER pxe_boot_event_notify AFTER INSERT ON pxe_boot_events
    FOR EACH ROW EXECUTE FUNCTION pxe_boot_event_notify();
