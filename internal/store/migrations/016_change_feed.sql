-- Portal (issue 11): the change feed. Every write to a table the portal
-- shows live adds a row to the outbox, in the writer's transaction, which
-- the relay copies to the Redis stream the portal's event streams read
-- (internal/live). A trigger rather than calls in the Go code because no
-- write path can then forget it: the event applier, the API, the
-- reconciler and the networking service all write these tables.
--
-- The payload names what changed, never what it now is: a browser that
-- hears of a change asks for what it may see through the usual handlers.
-- TG_ARGV: the change's kind, the column holding the owning project, the
-- column holding the id.
CREATE FUNCTION nimbus_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    IF TG_OP = 'DELETE' THEN
        r := to_jsonb(OLD);
    ELSE
        r := to_jsonb(NEW);
    END IF;
    INSERT INTO outbox (stream, payload) VALUES ('@changes', jsonb_build_object(
        'change', TG_ARGV[0], 'id', r ->> TG_ARGV[2], 'project', coalesce(r ->> TG_ARGV[1], ''),
        'op', lower(TG_OP)));
    -- Wake the relays (PostgreSQL sends one per transaction however many
    -- rows it changed): a change reaches the pages at once, not at the
    -- relay's next poll.
    PERFORM pg_notify('nimbus_outbox', '');
    RETURN NULL;
END $$;

CREATE TRIGGER instances_change AFTER INSERT OR DELETE ON instances
    FOR EACH ROW EXECUTE FUNCTION nimbus_change('instance', 'project_id', 'id');
CREATE TRIGGER instances_change_update AFTER UPDATE ON instances
    FOR EACH ROW WHEN (OLD IS DISTINCT FROM NEW) EXECUTE FUNCTION nimbus_change('instance', 'project_id', 'id');
-- An action starting or finishing changes its instance's action log.
CREATE TRIGGER instance_actions_change AFTER INSERT OR UPDATE ON instance_actions
    FOR EACH ROW EXECUTE FUNCTION nimbus_change('instance', 'project_id', 'instance_id');
CREATE TRIGGER images_change AFTER INSERT OR UPDATE OR DELETE ON images
    FOR EACH ROW EXECUTE FUNCTION nimbus_change('image', 'owner', 'id');
CREATE TRIGGER networks_change AFTER INSERT OR UPDATE OR DELETE ON networks
    FOR EACH ROW EXECUTE FUNCTION nimbus_change('network', 'project_id', 'id');
CREATE TRIGGER ports_change AFTER INSERT OR UPDATE OR DELETE ON ports
    FOR EACH ROW EXECUTE FUNCTION nimbus_change('port', 'project_id', 'id');
CREATE TRIGGER routers_change AFTER INSERT OR UPDATE OR DELETE ON routers
    FOR EACH ROW EXECUTE FUNCTION nimbus_change('router', 'project_id', 'id');
CREATE TRIGGER floating_ips_change AFTER INSERT OR UPDATE OR DELETE ON floating_ips
    FOR EACH ROW EXECUTE FUNCTION nimbus_change('floating_ip', 'project_id', 'id');

---- create above / drop below ----

DROP TRIGGER instances_change ON instances;
DROP TRIGGER instances_change_update ON instances;
DROP TRIGGER instance_actions_change ON instance_actions;
DROP TRIGGER images_change ON images;
DROP TRIGGER networks_change ON networks;
DROP TRIGGER ports_change ON ports;
DROP TRIGGER routers_change ON routers;
DROP TRIGGER floating_ips_change ON floating_ips;
DROP FUNCTION nimbus_change();
DELETE FROM outbox WHERE stream = '@changes';
