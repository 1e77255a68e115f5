-- Lookup runs replace the per-pair lookup tables of V1 (event_epcs, event_parents, event_locations).
-- A B-tree row per (identifier, entry) pair cost a random index insertion per EPC of every event; the
-- indexer now writes each step's pairs as one sorted run of pages and merges runs in the background
-- (a log-structured merge; see ledger/src/store/runs.rs and sql/README.md). The dropped tables are
-- derived data: the indexer rebuilds the runs of every entry already indexed from the stored events.
-- Forward-only: never edit this file once it has landed.

DROP TABLE event_epcs, event_parents, event_locations;

-- A run: the lookup pairs of entries first_leaf..end_leaf, sorted. Live runs cover consecutive,
-- disjoint ranges from entry 0. A merge replaces `fan_in` runs of one level by one run of the next
-- level in one transaction.
CREATE TABLE lookup_runs (
    run_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    first_leaf bigint NOT NULL CHECK (first_leaf >= 0),
    end_leaf bigint NOT NULL,
    level smallint NOT NULL CHECK (level >= 0),
    pairs bigint NOT NULL CHECK (pairs >= 0),
    CHECK (end_leaf > first_leaf)
);

-- A page of a run: consecutive pairs of one kind (1 EPC, 2 parentID, 3 readPoint/bizLocation), in
-- (key, leaf index) order, each pair 16 bytes: tagtrail_lookup_key(id) and the leaf index, both
-- big-endian int8. first_key/last_key are the keys of its first and last pair; page numbers the
-- pages of a run in run order. Pages are at most 7 KiB and stay inline (no TOAST, no compression).
CREATE TABLE lookup_pages (
    run_id bigint NOT NULL,
    kind smallint NOT NULL CHECK (kind BETWEEN 1 AND 3),
    last_key bigint NOT NULL,
    page integer NOT NULL CHECK (page >= 0),
    first_key bigint NOT NULL CHECK (first_key <= last_key),
    pairs bytea NOT NULL CHECK (octet_length(pairs) > 0 AND octet_length(pairs) % 16 = 0),
    PRIMARY KEY (run_id, kind, last_key, page)
) WITH (toast_tuple_target = 8160);
ALTER TABLE lookup_pages ALTER COLUMN pairs SET STORAGE EXTERNAL;

-- The indexer merges runs: it deletes what it merged. These are derived tables, not the ledger;
-- the ledger tables stay append-only for every role.
GRANT SELECT, INSERT, DELETE ON lookup_runs, lookup_pages TO tagtrail_ingest;
GRANT SELECT ON lookup_runs, lookup_pages TO tagtrail_reader;
