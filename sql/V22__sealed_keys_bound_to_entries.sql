-- Sealed fields' keys bound to the entry that holds their value (ledger/README.md, "Sealed
-- fields"). From V22 on ingest keeps a document's keys in the sequencer's transaction that
-- appends its events, each field key with the leaf index of the entry whose event holds the
-- sealed value, and only for entries it appends: an acknowledged event's values can always be
-- opened, and no key is kept for a value no entry holds. A commitment keeps the keys of the first
-- entry that logged it (a later copy of the value gets none of its own), and `tagtrail erase`
-- destroys keys only through that entry. Forward-only: never edit this file once it has landed.

-- Keys kept before V22 were kept apart from the append, before it: they name no entry (-1). They
-- may belong to any entry holding their commitment, so erasure through any such entry destroys
-- them (as before V22). Keys kept for a capture whose append then failed name no event at all;
-- finding them would take a scan of every stored event, so they stay until erased by commitment.
ALTER TABLE sealed_field_keys ADD COLUMN leaf_index bigint NOT NULL DEFAULT -1
    CHECK (leaf_index >= -1);
ALTER TABLE sealed_field_keys ALTER COLUMN leaf_index DROP DEFAULT;
