-- The registry's generation: a counter that every change to the registry (sites, their locations,
-- devices, device keys and status, device locations, site tokens and revocations) increments in the
-- changing transaction. Ingest reads it in the same statement as a device or token, and keeps the
-- answers of its location checks stamped with the generation they were read at: an answer is reused
-- only while the generation it was read at is still the current one, i.e. while nothing in the
-- registry has changed since. A change committed before a capture's authentication is therefore
-- seen by every check of that capture, as if each had been read again.
-- Forward-only: never edit this file once it has landed.

CREATE TABLE registry_generation (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    generation bigint NOT NULL CHECK (generation >= 0)
);
INSERT INTO registry_generation (generation) VALUES (0);

CREATE FUNCTION tagtrail_registry_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE registry_generation SET generation = generation + 1;
    RETURN NULL;
END
$$;

-- Statement triggers: one increment per changing statement (a statement that changes no row
-- increments too, which only costs a reused answer).
CREATE TRIGGER sites_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sites
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_registry_changed();
CREATE TRIGGER site_locations_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON site_locations
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_registry_changed();
CREATE TRIGGER devices_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_registry_changed();
CREATE TRIGGER device_keys_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON device_keys
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_registry_changed();
CREATE TRIGGER device_status_changes_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON device_status_changes
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_registry_changed();
CREATE TRIGGER device_locations_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON device_locations
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_registry_changed();
CREATE TRIGGER site_tokens_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON site_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_registry_changed();
CREATE TRIGGER site_token_revocations_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON site_token_revocations
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_registry_changed();

-- Ingest reads the generation; only the triggers (running as the changing administrator) write it.
GRANT SELECT ON registry_generation TO tagtrail_ingest;
