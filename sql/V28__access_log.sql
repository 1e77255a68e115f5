-- The access log: who looked at what through trace-api's credentialed routes (the EPCIS query
-- interface, traces, exports), one entry per answer, written before the answer leaves. It is a
-- second log of the ledger's kind (RFC 6962 tree, C2SP signed checkpoints and hash tiles): an entry
-- is canonical JSON (ledger::access_log), its leaf hash SHA-256(0x00 || entry), so that the
-- operator cannot drop or rewrite an entry once a checkpoint covering it was published without
-- the checkpoints contradicting each other. Entries are private (a grantee lists its own); their
-- leaf hashes, salted by each entry's nonce, are public.
-- Forward-only: never edit this file once it has landed.

DO $$
BEGIN
    BEGIN
        CREATE ROLE tagtrail_access NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
END
$$;

-- Leaf indexes are gapless: an appender takes the access log's advisory lock and writes the next.
CREATE TABLE access_log (
    leaf_index bigint PRIMARY KEY CHECK (leaf_index >= 0),
    -- The id of the token that asked (the grantee), as the entry names it.
    token_id text NOT NULL CHECK (token_id ~ '^[0-9a-f]{16}$'),
    entry text NOT NULL CHECK (octet_length(entry) <= 65536),
    leaf_hash bytea NOT NULL CHECK (octet_length(leaf_hash) = 32)
);

CREATE INDEX access_log_by_token ON access_log (token_id, leaf_index);

-- The access log's signed checkpoints (C2SP signed notes), one per size signed.
CREATE TABLE access_log_checkpoints (
    tree_size bigint PRIMARY KEY CHECK (tree_size > 0),
    root_hash bytea NOT NULL CHECK (octet_length(root_hash) = 32),
    note text NOT NULL,
    signed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_refuse_change();
CREATE TRIGGER access_log_checkpoints_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON access_log_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_refuse_change();

-- trace-api's access-log role appends entries and checkpoints and reads them back; nobody else
-- reads who looked at what (not even the reader role a replica serves with).
GRANT SELECT, INSERT ON access_log, access_log_checkpoints TO tagtrail_access;
