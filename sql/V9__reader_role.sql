-- What trace-api (and any other reader of the log) may read besides the ledger's tables, which
-- earlier migrations granted to tagtrail_reader already: the migration history, so that its
-- readiness check can tell whether the database has the migrations it was built with. Readers
-- never see token hashes, capture jobs or anything they could write.
-- Forward-only: never edit this file once it has landed.

GRANT SELECT ON refinery_schema_history TO tagtrail_reader;
