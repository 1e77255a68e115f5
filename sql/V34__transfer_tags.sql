-- A transfer with a business transaction (a TransactionEvent ADD with a bizTransactionList whose
-- destinationList names a possessing or owning party) now changes an item's state: it hands the
-- item to that party (docs/ARCHITECTURE.md, "Custody authority"). The tags of lookup pairs
-- written before this (ledger::history::Tag, since V33) say such an entry changes nothing. The
-- runs are deleted here, and the indexer rebuilds every run from the stored entries, their tags
-- derived anew, before it indexes anything new (as after V33). Derived data only: no ledger table
-- changes.
-- Forward-only: never edit this file once it has landed.

DELETE FROM lookup_pages;
DELETE FROM lookup_runs;
