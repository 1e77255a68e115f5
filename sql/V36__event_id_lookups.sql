-- An event is now looked up by its eventID too (ledger_store::event_id_lookup_name, among the EPC
-- keys), so that GET /events/{eventID} reads one lookup instead of scanning the log a page at a
-- time (which answered 404 for an event past its first page). The runs are deleted here, and the
-- indexer rebuilds every run from the stored entries, their keys derived anew, before it indexes
-- anything new (as after V33). Derived data only: no ledger table changes.
-- Forward-only: never edit this file once it has landed.

DELETE FROM lookup_pages;
DELETE FROM lookup_runs;
