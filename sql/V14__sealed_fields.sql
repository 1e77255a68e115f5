-- Sealed fields (ledger/README.md, "Sealed fields"): the keys that open sealed event values are
-- kept here, apart from the log, so that destroying them (erasure) leaves in the log only
-- commitments nobody can open or confirm by guessing, and every proof still verifies. Nothing
-- here is plaintext: a batch key sealed to each recipient with HPKE, and each field's key wrapped
-- under its batch key. Forward-only: never edit this file once it has landed.

-- A batch key's envelopes, one per recipient (named by the hash of all of them: KeySet::grant_id).
CREATE TABLE sealed_grants (
    grant_id bytea NOT NULL CHECK (octet_length(grant_id) = 32),
    recipient bytea NOT NULL CHECK (octet_length(recipient) = 32),
    sealed_key bytea NOT NULL CHECK (octet_length(sealed_key) = 80),
    PRIMARY KEY (grant_id, recipient)
);

-- Each sealed field's key, wrapped under its batch key, named by the field's commitment.
CREATE TABLE sealed_field_keys (
    commitment bytea PRIMARY KEY CHECK (octet_length(commitment) = 32),
    grant_id bytea NOT NULL CHECK (octet_length(grant_id) = 32),
    wrapped bytea NOT NULL CHECK (octet_length(wrapped) = 48)
);
CREATE INDEX sealed_field_keys_by_grant ON sealed_field_keys (grant_id);

-- The written record of erasures: which commitment of which entry lost its keys, when, and the
-- operator's reference for the request (a ticket number; never a name or anything personal).
-- A commitment erased once is never given keys again (ingest checks this table).
CREATE TABLE erasures (
    erasure_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    erased_at timestamptz NOT NULL DEFAULT now(),
    leaf_index bigint NOT NULL CHECK (leaf_index >= 0),
    commitment bytea NOT NULL UNIQUE CHECK (octet_length(commitment) = 32),
    request text NOT NULL CHECK (length(request) BETWEEN 1 AND 200)
);
CREATE TRIGGER erasures_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON erasures
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_refuse_change();

-- Ingest stores keys (never updates or deletes them); readers serve them; erasure is the
-- owner's (`tagtrail erase`).
GRANT SELECT, INSERT ON sealed_grants, sealed_field_keys TO tagtrail_ingest;
GRANT SELECT ON erasures TO tagtrail_ingest;
GRANT SELECT ON sealed_grants, sealed_field_keys, erasures TO tagtrail_reader;
