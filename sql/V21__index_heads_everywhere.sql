-- V21: the schema of the landed V20 on databases that applied an earlier text of it (82e9836's,
-- written before V20 landed, re-stamped by `ledger_store::migrate`): the runs' `retired` flag, the
-- index heads checkpoints commit to, and their grants. A no-op where the landed V20 ran.
-- Forward-only: never edit this file once it has landed.

ALTER TABLE index_runs ADD COLUMN IF NOT EXISTS retired boolean NOT NULL DEFAULT false;

CREATE TABLE IF NOT EXISTS index_heads (
    root bytea PRIMARY KEY CHECK (octet_length(root) = 32),
    size bigint NOT NULL CHECK (size > 0),
    head bytea NOT NULL CHECK (octet_length(head) >= 13)
);

GRANT SELECT, INSERT, DELETE ON index_heads TO tagtrail_ingest;
GRANT UPDATE (retired) ON index_runs TO tagtrail_ingest;
GRANT SELECT ON index_heads TO tagtrail_reader;
