-- Leaf records move out of `events` into entry bundles: the log's entries 256 at a time, in the
-- C2SP tlog-tiles entry-bundle encoding (each leaf record as a big-endian u16 length and its bytes).
-- One row holds the records of entries `first` up to `width` (exclusive) of bundle `bundle_index`,
-- i.e. leaves 256 * bundle_index + first onwards. Each append writes the records it adds, cut at the
-- bundle boundaries, as new rows; a bundle is the concatenation of its rows in `first` order, and
-- the bundle at any width a tree size ended at is a prefix of rows. Nothing is written twice, and
-- reading the whole log's leaf records (the audit, a monitor) reads one row per 256 entries instead
-- of one `events` row per entry.
-- Forward-only: never edit this file once it has landed.

CREATE TABLE entry_bundles (
    bundle_index bigint NOT NULL CHECK (bundle_index >= 0),
    first smallint NOT NULL CHECK (first >= 0 AND first < 256),
    width smallint NOT NULL CHECK (width > first AND width <= 256),
    entries bytea NOT NULL CHECK (octet_length(entries) >= 2 * (width - first)),
    PRIMARY KEY (bundle_index, first)
);
-- Leaf records are mostly hashes: not worth compressing; stored out of line when large.
ALTER TABLE entry_bundles ALTER COLUMN entries SET STORAGE EXTERNAL;

CREATE TRIGGER entry_bundles_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON entry_bundles
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_refuse_change();

GRANT SELECT, INSERT ON entry_bundles TO tagtrail_ingest;
GRANT SELECT ON entry_bundles TO tagtrail_reader;

-- The records already stored, one row per bundle. A log has no gaps; if this one has, the migration
-- stops here (run `tagtrail audit` on it) rather than write bundles that hide the gap.
DO $$
DECLARE
    broken bigint;
BEGIN
    SELECT leaf_index / 256 INTO broken FROM events
        GROUP BY leaf_index / 256
        HAVING count(*) <> max(leaf_index % 256) + 1 OR min(leaf_index % 256) <> 0
        LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'the events of entry bundle % are not consecutive: the log has a gap', broken
            USING HINT = 'run tagtrail audit; this migration moves leaf records only out of a gapless log';
    END IF;
    IF (SELECT max(octet_length(leaf)) FROM events) > 65535 THEN
        RAISE EXCEPTION 'a stored leaf record is longer than an entry bundle can hold (65535 bytes)';
    END IF;
END
$$;

INSERT INTO entry_bundles (bundle_index, first, width, entries)
SELECT leaf_index / 256, 0, count(*),
       string_agg(substring(int4send(octet_length(leaf)) FROM 3) || leaf, ''::bytea ORDER BY leaf_index)
FROM events
GROUP BY leaf_index / 256;

ALTER TABLE events DROP COLUMN leaf;
