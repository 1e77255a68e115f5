-- A lookup pair's tag (ledger::history::Tag) now says, in bit 57, whether its entry is a receipt
-- (ledger::history::receives: a receiving, arriving or accepting event), so that a history reads
-- the receipts a share left out that could settle a shipment it rests on, without loading any
-- candidate. The runs written before this say no entry is one: their format (ledger_store's
-- runs::KEY_FORMAT) is now 2, and the indexer rebuilds every run of an older format in place, as
-- V38 describes, without deleting anything first. A binary older than this still derives format 1
-- tags, and its runs are refused from here on, so that it can neither index nor merge (its appends
-- go on). Format 0 stays allowed: it is how an owner marks runs to rebuild (sql/README.md), and no
-- binary writes it. NOT VALID: the runs stored now are not judged, only rebuilt. Derived data only.
-- Forward-only: never edit this file once it has landed.

ALTER TABLE lookup_runs ADD CONSTRAINT lookup_runs_key_format_receipts
    CHECK (key_format >= 2 OR key_format = 0) NOT VALID;
