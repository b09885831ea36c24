-- Install state shared by every tftpd, httpd-tree and dhcpd: the StateStore's PostgreSQL
-- backend (crates/pxe-db/src/state.rs).
--
-- One row per machine that ever changed: its state as the file backend keeps it (JSON of
-- pxe_model::MachineState) and the version that every change compares and swaps.
CREATE TABLE pxe_machine_state (
    name       text PRIMARY KEY,
    state      jsonb NOT NULL,
    version    bigint NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
);
-- Each machine's boot timeline, bounded per machine by the writers.
CREATE TABLE pxe_boot_events (
    id      bigserial PRIMARY KEY,
    machine text NOT NULL,
    event   jsonb NOT NULL
);
CREATE INDEX pxe_boot_events_machine ON pxe_boot_events (machine, id);
-- The address dhcpd last acknowledged to each machine, and the way back.
CREATE TABLE pxe_acked (
    machine text PRIMARY KEY,
    address inet NOT NULL,
    at      bigint NOT NULL
);
CREATE INDEX pxe_acked_address ON pxe_acked (address, at);
-- Every state change is announced on `pxe_machine_state` (payload: the machine's name), so
-- that every httpd-tree's pages follow at once.
CREATE FUNCTION pxe_machine_state_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pxe_machine_state', NEW.name);
    RETURN NULL;
END;
$$;
CREATE TRIGGER pxe_machine_state_notify AFTER INSERT OR UPDATE ON pxe_machine_state
    FOR EACH ROW EXECUTE FUNCTION pxe_machine_state_notify();
