-- Event packs: the log's events stored a few consecutive entries to a row instead of one row each.
--
-- A row of `events` cost the sequencer a heap tuple, a primary-key entry (one WAL record each) and a
-- tuple slot in its COPY, per entry: more than the event's bytes. A pack holds consecutive entries
-- first_leaf .. first_leaf + cardinality(events) of one append: their event hashes (32 bytes each,
-- in leaf order) and their events' JSON text, exactly as hashed. The sequencer closes a pack at
-- about 7,600 bytes, so that a pack stays in its heap row uncompressed (toast_tuple_target below),
-- and never lets one span two appends. One event larger than that is a pack of its own,
-- compressed or moved out of line as PostgreSQL sees fit.
--
-- `events` becomes a view of the packs, one row per entry as before, for reading by hand; the
-- services read ranges and single entries through the packs' primary key (see sql/README.md).

DO $$
DECLARE
    first_gap bigint;
BEGIN
    SELECT leaf_index INTO first_gap FROM (
        SELECT leaf_index, row_number() OVER (ORDER BY leaf_index) - 1 AS expected FROM events
    ) numbered
    WHERE leaf_index <> expected
    ORDER BY leaf_index
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'the log has a gap before entry %: events are packed only from a gapless log', first_gap
            USING HINT = 'run tagtrail audit';
    END IF;
END
$$;

CREATE TABLE event_packs (
    first_leaf bigint PRIMARY KEY CHECK (first_leaf >= 0),
    event_hashes bytea NOT NULL,
    events text[] NOT NULL,
    CHECK (array_ndims(events) = 1 AND array_lower(events, 1) = 1
           AND array_position(events, NULL) IS NULL
           AND octet_length(event_hashes) = 32 * cardinality(events))
) WITH (toast_tuple_target = 8160);
ALTER TABLE event_packs ALTER COLUMN event_hashes SET STORAGE MAIN;
ALTER TABLE event_packs ALTER COLUMN events SET STORAGE MAIN;

CREATE TRIGGER event_packs_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON event_packs
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_refuse_change();

-- The stored events, eight entries to a pack.
INSERT INTO event_packs (first_leaf, event_hashes, events)
SELECT min(leaf_index),
       string_agg(event_hash, ''::bytea ORDER BY leaf_index),
       array_agg(event ORDER BY leaf_index)
FROM events
GROUP BY leaf_index / 8;

DROP TABLE events;

CREATE VIEW events AS
SELECT p.first_leaf + u.position - 1 AS leaf_index,
       substring(p.event_hashes FROM (32 * u.position - 31)::integer FOR 32) AS event_hash,
       u.event
FROM event_packs p
CROSS JOIN LATERAL unnest(p.events) WITH ORDINALITY AS u(event, position);

GRANT SELECT, INSERT ON event_packs TO tagtrail_ingest;
GRANT SELECT ON event_packs, events TO tagtrail_ingest, tagtrail_reader;
