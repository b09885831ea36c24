-- dhcpd's leases, one row per address, modelled on ISC's lease fields. The columns are what
-- lookups and operators' SQL use; `lease` holds the whole lease in dhcpd.leases syntax (the
-- bindings, relay agent options and on-blocks included), which is what the server reads back.
-- `version` grows by one with every write: a write names the version it read
-- (compare-and-swap), so two servers never both change one lease.
CREATE TABLE dhcp_leases (
    address inet PRIMARY KEY,
    binding_state text NOT NULL,
    next_binding_state text NOT NULL,
    starts bigint NOT NULL,
    ends bigint NOT NULL,
    tstp bigint NOT NULL,
    cltt bigint NOT NULL,
    hardware_type smallint,
    hardware_address bytea,
    client_id bytea,
    client_hostname bytea,
    agent_options bytea,
    lease text NOT NULL,
    version bigint NOT NULL,
    written_by text NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dhcp_leases_hardware ON dhcp_leases (hardware_type, hardware_address);
CREATE INDEX dhcp_leases_client_id ON dhcp_leases (client_id);

-- Hosts and named groups made or removed over OMAPI, in dhcpd.leases syntax, in order (what
-- ISC appends to its lease file).
CREATE TABLE dhcp_omapi_records (
    seq bigserial PRIMARY KEY,
    kind text NOT NULL,
    name text NOT NULL,
    dynamic boolean NOT NULL,
    deleted boolean NOT NULL,
    record text NOT NULL,
    written_by text NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
);
