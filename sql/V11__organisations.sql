-- Organisations: the parties custody is held by (custody authority, docs/ARCHITECTURE.md). Every
-- site belongs to one organisation; an organisation owns GS1 company prefixes (it may commission
-- the EPCs issued under them) and may name delegates, organisations that act with its authority
-- (a brand's logistics partners). Administered with `tagtrail org`, read by ingest (who may
-- commission what) and trace-api (who had authority for each event of a history).
-- Forward-only: never edit this file once it has landed.

CREATE TABLE organisations (
    organisation_id text PRIMARY KEY
        CHECK (organisation_id ~ '^[^[:space:][:cntrl:]]{1,128}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A company prefix has one owner. GS1 allocates prefixes so that none is the start of another.
CREATE TABLE organisation_prefixes (
    company_prefix text PRIMARY KEY CHECK (company_prefix ~ '^[0-9]{6,12}$'),
    organisation_id text NOT NULL REFERENCES organisations (organisation_id),
    added_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX organisation_prefixes_by_organisation ON organisation_prefixes (organisation_id);

CREATE TABLE organisation_delegates (
    organisation_id text NOT NULL REFERENCES organisations (organisation_id),
    delegate_id text NOT NULL REFERENCES organisations (organisation_id),
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organisation_id, delegate_id),
    CHECK (organisation_id <> delegate_id)
);

-- Every site registered before organisations existed becomes an organisation of its own, with the
-- site's id and no company prefix; so does every site added later without an organisation.
INSERT INTO organisations (organisation_id) SELECT site_id FROM sites;
ALTER TABLE sites ADD COLUMN organisation_id text REFERENCES organisations (organisation_id);
UPDATE sites SET organisation_id = site_id;
ALTER TABLE sites ALTER COLUMN organisation_id SET NOT NULL;
CREATE INDEX sites_by_organisation ON sites (organisation_id);

CREATE FUNCTION tagtrail_site_organisation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.organisation_id IS NULL THEN
        INSERT INTO organisations (organisation_id) VALUES (NEW.site_id) ON CONFLICT DO NOTHING;
        NEW.organisation_id := NEW.site_id;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER sites_own_organisation BEFORE INSERT ON sites
    FOR EACH ROW EXECUTE FUNCTION tagtrail_site_organisation();

CREATE TRIGGER organisations_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON organisations
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_registry_changed();
CREATE TRIGGER organisation_prefixes_generation
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON organisation_prefixes
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_registry_changed();
CREATE TRIGGER organisation_delegates_generation
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON organisation_delegates
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_registry_changed();

GRANT SELECT ON organisations, organisation_prefixes, organisation_delegates
    TO tagtrail_ingest, tagtrail_reader;
-- trace-api follows the registry by its generation (who had authority can change with it).
GRANT SELECT ON registry_generation TO tagtrail_reader;
