-- The ledger: events, device batches, tiles of tree hashes, checkpoints and signing keys, append-only;
-- and the lookup tables that trail the append (built by the indexer in sorted batches).
-- Byte layouts (leaf record, device batch statement, tiles, signed notes) are documented in the
-- ledger crate; this file only stores them. Forward-only: never edit this file once it has landed.

-- Roles ----------------------------------------------------------------------------------------------
-- Group roles (NOLOGIN). Services log in as their own roles that are members of these; see sql/README.md.
-- Roles are cluster-wide, so creating them tolerates their existence (and a concurrent creator).
DO $$
BEGIN
    BEGIN
        CREATE ROLE tagtrail_ingest NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
    BEGIN
        CREATE ROLE tagtrail_reader NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
END
$$;

-- Append-only enforcement ----------------------------------------------------------------------------
CREATE FUNCTION tagtrail_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger table % is append-only: % is refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'ledger rows are never changed; tagtrail audit detects rows changed behind its back';
END
$$;

-- Signing keys: the public halves of the keys that signed checkpoints, in the C2SP verifier-key format
-- `<name>+<key id hex>+<base64 of 0x01 || Ed25519 public key>`.
CREATE TABLE signing_keys (
    verifier_key text PRIMARY KEY,
    added_at timestamptz NOT NULL DEFAULT now()
);

-- Device batches: what a device signed over a capture batch, once per batch: the statement (its
-- canonical bytes), the signature, and the batch's event hashes in batch order (32 bytes each), from
-- which each event's path to the statement's batch root is recomputed. statement_hash is the SHA-256
-- of the statement bytes; leaf records name their batch by it.
CREATE TABLE device_batches (
    statement_hash bytea PRIMARY KEY CHECK (octet_length(statement_hash) = 32),
    statement bytea NOT NULL,
    signature_algorithm text NOT NULL,
    signature bytea NOT NULL,
    event_hashes bytea NOT NULL CHECK (octet_length(event_hashes) % 32 = 0),
    first_leaf_index bigint NOT NULL CHECK (first_leaf_index >= 0)
);

-- Events: the hot table, one row per log entry, written with COPY under the sequencer lock.
-- Narrow on purpose: only the sequential primary key is indexed here; every other lookup is in the
-- trailing tables below. `event` is the event's JSON text exactly as hashed (with its @context).
CREATE TABLE events (
    leaf_index bigint PRIMARY KEY CHECK (leaf_index >= 0),
    event_hash bytea NOT NULL CHECK (octet_length(event_hash) = 32),
    leaf bytea NOT NULL,
    event text NOT NULL
);

-- Tiles of tree hashes in the C2SP tlog-tiles layout: tile (level, tile_index) holds the hashes of
-- tree level 8 * level, numbers 256 * tile_index onwards. A batch that leaves a tile partial stores it
-- at its new width as a new row; a later row of the same tile extends it (prefixes never change).
CREATE TABLE tiles (
    level smallint NOT NULL CHECK (level >= 0 AND level < 8),
    tile_index bigint NOT NULL CHECK (tile_index >= 0),
    width smallint NOT NULL CHECK (width BETWEEN 1 AND 256),
    hashes bytea NOT NULL CHECK (octet_length(hashes) = 32 * width),
    PRIMARY KEY (level, tile_index, width)
);

-- Checkpoints: C2SP signed notes over (origin, tree size, root hash).
CREATE TABLE checkpoints (
    tree_size bigint PRIMARY KEY CHECK (tree_size > 0),
    root_hash bytea NOT NULL CHECK (octet_length(root_hash) = 32),
    note text NOT NULL,
    signed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER signing_keys_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_refuse_change();
CREATE TRIGGER device_batches_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON device_batches
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_refuse_change();
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_refuse_change();
CREATE TRIGGER tiles_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON tiles
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_refuse_change();
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_refuse_change();

-- Lookup tables, derived from events ------------------------------------------------------------------
-- Built by the indexer in batches sorted by key, trailing the append by well under a second; entries
-- at or above index_watermark.indexed_size are not in them yet. Derived data: an administrator may
-- rebuild them, the services only insert.
--
-- Identifiers (EPCs, parent ids, locations) are looked up by a 64-bit key, tagtrail_lookup_key(id):
-- the first 8 bytes of SHA-256(id) as a signed big-endian integer. Narrow keys keep these B-trees
-- small and cheap to extend; a lookup returns candidate entries whose event is then read anyway, so
-- the (2^-64) chance of two identifiers sharing a key costs nothing but a filtered row. The indexes
-- are not unique (the indexer writes each (key, entry) pair once): no uniqueness check per insert.
CREATE FUNCTION tagtrail_lookup_key(id text) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN ('x' || left(encode(sha256(convert_to(id, 'UTF8')), 'hex'), 16))::bit(64)::bigint;

CREATE TABLE index_watermark (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    indexed_size bigint NOT NULL CHECK (indexed_size >= 0)
);
INSERT INTO index_watermark (indexed_size) VALUES (0);

-- Event hash -> leaf index; the unique constraint backs the sequencer's duplicate check.
CREATE TABLE event_hashes (
    event_hash bytea PRIMARY KEY CHECK (octet_length(event_hash) = 32),
    leaf_index bigint NOT NULL
);

-- EPC (epcList, childEPCs, inputEPCList, outputEPCList) -> events.
CREATE TABLE event_epcs (
    epc_key bigint NOT NULL,
    leaf_index bigint NOT NULL
);
CREATE INDEX event_epcs_by_key ON event_epcs (epc_key, leaf_index);

-- parentID -> events.
CREATE TABLE event_parents (
    parent_key bigint NOT NULL,
    leaf_index bigint NOT NULL
);
CREATE INDEX event_parents_by_key ON event_parents (parent_key, leaf_index);

-- readPoint and bizLocation ids -> events.
CREATE TABLE event_locations (
    location_key bigint NOT NULL,
    leaf_index bigint NOT NULL
);
CREATE INDEX event_locations_by_key ON event_locations (location_key, leaf_index);

-- eventTime -> events, as block ranges: the earliest and latest eventTime of entries
-- first_leaf..end_leaf (one row per indexing step). Entries arrive roughly in time order, so a time
-- range query reads the few ranges that overlap it, like a BRIN index, at a fraction of the cost of
-- a row per event.
CREATE TABLE event_time_ranges (
    first_leaf bigint PRIMARY KEY,
    end_leaf bigint NOT NULL,
    min_time timestamptz NOT NULL,
    max_time timestamptz NOT NULL,
    CHECK (end_leaf > first_leaf AND max_time >= min_time)
);

-- Privileges ------------------------------------------------------------------------------------------
GRANT USAGE ON SCHEMA public TO tagtrail_ingest, tagtrail_reader;
GRANT SELECT, INSERT ON signing_keys, device_batches, events, tiles, checkpoints,
    event_hashes, event_epcs, event_parents, event_locations, event_time_ranges TO tagtrail_ingest;
GRANT SELECT, UPDATE ON index_watermark TO tagtrail_ingest;
GRANT SELECT ON signing_keys, device_batches, events, tiles, checkpoints, index_watermark,
    event_hashes, event_epcs, event_parents, event_locations, event_time_ranges TO tagtrail_reader;
