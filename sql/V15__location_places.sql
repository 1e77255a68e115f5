-- Where a site's locations are: WGS 84 coordinates of a registered location (a readPoint or
-- bizLocation id, by its key in site_locations), set by an administrator with
-- `tagtrail site place`. The consumer's verdict (ledger::verdict) reads them to tell travel one
-- object could make from travel it could not. A location without a row has no known place.
-- Forward-only: never edit this file once it has landed.

CREATE TABLE location_places (
    location_key text PRIMARY KEY REFERENCES site_locations (location_key) ON DELETE CASCADE,
    latitude double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    set_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER location_places_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON location_places
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_registry_changed();

-- trace-api reads them for its verdicts; ingest reads them with the registry's parties it caches.
GRANT SELECT ON location_places TO tagtrail_ingest, tagtrail_reader;
