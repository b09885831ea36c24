-- Every write of a lease row is announced on the channel `dhcp_leases` (payload: the writer,
-- the address and the row's version), so that the other servers sharing the database take
-- it into the tables they decide against before one of their clients asks.
CREATE FUNCTION dhcp_lease_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dhcp_leases', NEW.written_by || ' ' || host(NEW.address) || ' ' || NEW.version);
    RETURN NULL;
END;
$$;
CREATE TRIGGER dhcp_lease_notify AFTER INSERT OR UPDATE ON dhcp_leases
    FOR EACH ROW EXECUTE FUNCTION dhcp_lease_notify();
