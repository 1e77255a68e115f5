-- A lookup pair's tag (ledger::history::Tag) now says, in bit 58, whether its entry claims to
-- bring an identifier into being (ledger::history::claims: commissioning it, producing it by a
-- transformation, packing into it), so that a history reads the claims a share left out that
-- could be the first logged of an identifier under no registered company prefix, without loading
-- any candidate. The runs written before this say no entry is one: their format (ledger_store's
-- runs::KEY_FORMAT) is now 3, and the indexer rebuilds every run of an older format in place, as
-- V38 describes, without deleting anything first. A binary older than this still derives format 2
-- tags, and its runs are refused from here on, so that it can neither index nor merge (its appends
-- go on). Format 0 stays allowed: it is how an owner marks runs to rebuild (sql/README.md), and no
-- binary writes it. NOT VALID: the runs stored now are not judged, only rebuilt. Derived data only.
-- Forward-only: never edit this file once it has landed.

ALTER TABLE lookup_runs ADD CONSTRAINT lookup_runs_key_format_claims
    CHECK (key_format >= 3 OR key_format = 0) NOT VALID;
