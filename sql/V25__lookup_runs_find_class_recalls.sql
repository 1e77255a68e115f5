-- The lookups now find a recall of a lot or of a whole product (an ObjectEvent whose quantityList
-- names the class, with disposition recalled, or lifting it) under the lookup names of what it
-- recalls (ledger::history::RecalledClass), so that a consumer's scan of an item sees its lot's
-- recall and a link naming a lot or a product answers whether it is recalled. Runs written before
-- this have no such keys: they are deleted here, and the indexer rebuilds every run from the
-- stored events before it indexes anything new (sql/README.md, "Lookup runs"). Derived data only:
-- no ledger table changes.
-- Forward-only: never edit this file once it has landed.

DELETE FROM lookup_pages;
DELETE FROM lookup_runs;
