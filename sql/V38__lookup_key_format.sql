-- A lookup run records the format of the keys and tags its pairs hold (ledger_store's
-- runs::KEY_FORMAT), so that changing them no longer takes a migration that deletes every run
-- (V33 to V36). While such a migration had deleted the runs, an older ingest still running went on
-- indexing and rebuilt them with the keys it knew (after V36: runs without eventID keys), and the
-- new binaries never noticed. From here on:
-- - key_format has no default: a binary older than this migration names none, so its runs are
--   refused (NOT NULL) and it can no longer index or merge; the new binaries do both.
-- - A later format change adds CHECK (key_format >= <its format>) NOT VALID, which refuses the
--   older binaries' runs the same way without judging the runs already stored.
-- - The indexer rebuilds every run of an older format than its own in place, from the stored
--   entries, in the transaction that deletes it: the runs never stop covering their entries, so
--   lookups and the sequencer's duplicate check never see a gap.
-- The runs stored now were written by whichever binaries ran through the last rebuild, older ones
-- included: they are marked format 0 and rebuilt once. Derived data only.
-- Forward-only: never edit this file once it has landed.

ALTER TABLE lookup_runs ADD COLUMN key_format smallint;
UPDATE lookup_runs SET key_format = 0;
ALTER TABLE lookup_runs ALTER COLUMN key_format SET NOT NULL;
