-- Brings a database migrated with an earlier text of V3 or V6 to the schema of their landed text.
-- V3 (before 8ae576e) kept the V1 table event_hashes and allowed lookup page kinds 1-3 only (event
-- hashes, kind 4, moved into the lookup runs later); V6 (before 4570cff) did not bound a pack to 256
-- entries, which readers of a range rely on. `tagtrail migrate` first re-stamps the history rows of
-- exactly those earlier texts (ledger-store/src/migrate.rs, ledger-store/superseded/), then this
-- migration changes what differs. On a database migrated with the landed texts it changes nothing.
-- Forward-only: never edit this file once it has landed.

DROP TABLE IF EXISTS event_hashes;

DO $$
DECLARE
    old_check text;
BEGIN
    SELECT conname INTO old_check FROM pg_constraint
    WHERE conrelid = 'lookup_pages'::regclass AND contype = 'c'
      AND pg_get_constraintdef(oid) LIKE '%kind <= 3%';
    IF old_check IS NOT NULL THEN
        EXECUTE format('ALTER TABLE lookup_pages DROP CONSTRAINT %I', old_check);
        ALTER TABLE lookup_pages ADD CONSTRAINT lookup_pages_kind_check CHECK (kind BETWEEN 1 AND 4);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'event_packs'::regclass AND contype = 'c'
                     AND pg_get_constraintdef(oid) LIKE '%cardinality(events) <= 256%') THEN
        ALTER TABLE event_packs ADD CONSTRAINT event_packs_at_most_256_entries
            CHECK (cardinality(events) BETWEEN 1 AND 256);
    END IF;
END $$;
