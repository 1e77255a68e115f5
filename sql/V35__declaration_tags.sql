-- An error declaration of an observation (a sighting, a reading) is now an observation itself: it
-- changes nobody's state, and withdraws the sighting only when the sighting's own reporter declares
-- it (docs/ARCHITECTURE.md, "Custody authority"). The tags of lookup pairs written before this
-- (ledger::history::Tag, since V33) say such an entry changes state. The runs are deleted here, and
-- the indexer rebuilds every run from the stored entries, their tags derived anew, before it
-- indexes anything new (as after V33). Derived data only: no ledger table changes.
-- Forward-only: never edit this file once it has landed.

DELETE FROM lookup_pages;
DELETE FROM lookup_runs;
