-- Ingest: who may report events (sites, their locations, devices and their keys, site API tokens)
-- and the capture jobs ingest has answered. Administered with `tagtrail site|device|token`, read by
-- the ingest service. Forward-only: never edit this file once it has landed.
--
-- Locations are stored twice: as given by the administrator (`location`) and as the key they are
-- matched by (`location_key`): a GLN-based location (an SGLN EPC URI or a GS1 Digital Link with
-- AI 414) as its canonical Digital Link (`https://id.gs1.org/414/<GLN>[/254/<extension>]`), and an
-- SGLN pattern `urn:epc:idpat:sgln:<company>.<location>.*` (every extension of one GLN) as the
-- canonical Digital Link of the GLN followed by `/*`. Anything else is matched exactly as written.

-- Sites ----------------------------------------------------------------------------------------------
CREATE TABLE sites (
    site_id text PRIMARY KEY CHECK (site_id ~ '^[^[:space:][:cntrl:]]{1,128}$'),
    name text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The locations (readPoint / bizLocation ids) a site speaks for. A location belongs to one site.
CREATE TABLE site_locations (
    location_key text PRIMARY KEY,
    site_id text NOT NULL REFERENCES sites (site_id),
    location text NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, location_key)
);

-- Devices --------------------------------------------------------------------------------------------
CREATE TABLE devices (
    device_id text PRIMARY KEY CHECK (device_id ~ '^[^[:space:][:cntrl:]]{1,128}$'),
    site_id text NOT NULL REFERENCES sites (site_id),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (device_id, site_id)
);

-- Every public key a device has had, append-only: the newest is the one its batches must be signed
-- with; the older ones stay so that earlier attestations remain checkable. A key belongs to one
-- device, ever.
CREATE TABLE device_keys (
    key_number bigserial PRIMARY KEY,
    device_id text NOT NULL REFERENCES devices (device_id),
    algorithm text NOT NULL CHECK (algorithm IN ('ed25519')),
    public_key bytea NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (algorithm, public_key)
);
CREATE INDEX device_keys_by_device ON device_keys (device_id, key_number DESC);

-- Every status change of a device, append-only: the newest says whether it may report.
CREATE TABLE device_status_changes (
    change_number bigserial PRIMARY KEY,
    device_id text NOT NULL REFERENCES devices (device_id),
    status text NOT NULL CHECK (status IN ('active', 'disabled')),
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX device_status_by_device ON device_status_changes (device_id, change_number DESC);

-- Optional narrowing: a device with rows here may speak only for these locations of its site; a
-- device without any may speak for every location of its site.
CREATE TABLE device_locations (
    device_id text NOT NULL,
    site_id text NOT NULL,
    location_key text NOT NULL,
    PRIMARY KEY (device_id, location_key),
    FOREIGN KEY (device_id, site_id) REFERENCES devices (device_id, site_id),
    FOREIGN KEY (site_id, location_key) REFERENCES site_locations (site_id, location_key)
);

-- Site API tokens ------------------------------------------------------------------------------------
-- For standard EPCIS clients without device keys; their events are recorded as unattested. A token
-- is `tt_<token id: 16 hex digits>_<secret: 64 hex digits>`; only the SHA-256 of the secret is kept.
CREATE TABLE site_tokens (
    token_id text PRIMARY KEY CHECK (token_id ~ '^[0-9a-f]{16}$'),
    site_id text NOT NULL REFERENCES sites (site_id),
    secret_sha256 bytea NOT NULL CHECK (octet_length(secret_sha256) = 32),
    label text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE site_token_revocations (
    token_id text PRIMARY KEY REFERENCES site_tokens (token_id),
    revoked_at timestamptz NOT NULL DEFAULT now()
);

-- Capture jobs -----------------------------------------------------------------------------------------
-- One row per accepted capture (rejected captures store nothing). `leaf_indexes` holds, in document
-- order, the leaf index of each event's receipt (NULL for an event rejected under `proceed`); the
-- event hashes and ids are read back from the ledger. `errors` holds the RFC 7807 problems of the
-- rejected events.
CREATE TABLE capture_jobs (
    capture_id text PRIMARY KEY CHECK (capture_id ~ '^[0-9a-f]{32}$'),
    site_id text NOT NULL REFERENCES sites (site_id),
    device_id text REFERENCES devices (device_id),
    token_id text REFERENCES site_tokens (token_id),
    error_behaviour text NOT NULL CHECK (error_behaviour IN ('rollback', 'proceed')),
    created_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    appended integer NOT NULL CHECK (appended >= 0),
    leaf_indexes bigint[] NOT NULL,
    errors jsonb NOT NULL DEFAULT '[]',
    CHECK ((device_id IS NULL) <> (token_id IS NULL))
);
CREATE INDEX capture_jobs_by_site ON capture_jobs (site_id, created_at DESC);

-- Append-only tables: history is never rewritten (tagtrail_refuse_change comes from V1).
CREATE TRIGGER device_keys_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON device_keys
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_refuse_change();
CREATE TRIGGER device_status_changes_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON device_status_changes
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_refuse_change();
CREATE TRIGGER site_token_revocations_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON site_token_revocations
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_refuse_change();
CREATE TRIGGER capture_jobs_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON capture_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_refuse_change();

-- Privileges ------------------------------------------------------------------------------------------
-- Ingest reads the registry and records capture jobs; it changes nothing else. Administration runs
-- as the database owner (tagtrail site/device/token).
GRANT SELECT ON sites, site_locations, devices, device_keys, device_status_changes, device_locations,
    site_tokens, site_token_revocations TO tagtrail_ingest;
GRANT SELECT, INSERT ON capture_jobs TO tagtrail_ingest;
-- Readiness: ingest checks that the migrations it was built with are applied.
GRANT SELECT ON refinery_schema_history TO tagtrail_ingest;
-- Verifiers need the device keys (never the token hashes).
GRANT SELECT ON sites, site_locations, devices, device_keys, device_status_changes, device_locations
    TO tagtrail_reader;
