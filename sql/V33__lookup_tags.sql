-- Each lookup pair now carries its entry's tag (ledger::history::Tag): who reported the entry (a
-- digest of the device or site its leaf record attests) and whether its event changes some item's
-- state. A history that must leave candidates out chooses among them from the lookup alone:
-- every state change is read, and observations are shared out by reporter, whatever their number,
-- without reading any entry's record (sql/README.md, "Lookup runs"). Pairs are 24 bytes:
-- (key, leaf index, tag), each a big-endian int8. Runs written before this have no tags: they are
-- deleted here, and the indexer rebuilds every run from the stored entries before it indexes
-- anything new. Derived data only: no ledger table changes.
-- Forward-only: never edit this file once it has landed.

DELETE FROM lookup_pages;
DELETE FROM lookup_runs;

ALTER TABLE lookup_pages DROP CONSTRAINT lookup_pages_pairs_check;
ALTER TABLE lookup_pages ADD CONSTRAINT lookup_pages_pairs_check
    CHECK (octet_length(pairs) > 0 AND octet_length(pairs) % 24 = 0);
