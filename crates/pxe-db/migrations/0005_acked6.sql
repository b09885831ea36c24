-- The address dhcpd -6 last bound to each machine: beside pxe_acked (IPv4), since a
-- dual-stack machine holds both (crates/pxe-db/src/state.rs).
CREATE TABLE pxe_acked6 (
    machine text PRIMARY KEY,
    address inet NOT NULL CHECK (family(address) = 6),
    at      bigint NOT NULL
);
