-- Recipients of sealed values (ledger/README.md, "Sealed fields"): each organisation's registered
-- X25519 keys, which capturers seal its data to, and their retirement. A key belongs to one
-- organisation, ever; an organisation rotates by adding its new key and retiring the old one.
-- Retirement is final (a retired key may be compromised): ingest refuses a document whose key set
-- sends a batch key to a retired key; what was sealed to it before stays as it is (its holder can
-- still open it; `tagtrail erase` destroys it). Keys not registered here (a consumer's own key,
-- one per purchase) stay accepted and unpublished. Forward-only: never edit this file once it has
-- landed.

CREATE TABLE recipient_keys (
    key_number bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organisation_id text NOT NULL REFERENCES organisations (organisation_id),
    public_key bytea NOT NULL UNIQUE CHECK (octet_length(public_key) = 32),
    added_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX recipient_keys_by_organisation ON recipient_keys (organisation_id);

CREATE TABLE recipient_key_retirements (
    key_number bigint PRIMARY KEY REFERENCES recipient_keys (key_number),
    retired_at timestamptz NOT NULL DEFAULT now()
);

-- History is never rewritten (tagtrail_refuse_change comes from V1).
CREATE TRIGGER recipient_keys_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON recipient_keys
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_refuse_change();
CREATE TRIGGER recipient_key_retirements_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON recipient_key_retirements
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_refuse_change();

-- Ingest reads retirements at capture; readers list the keys. Only the owner registers and
-- retires them (`tagtrail recipient add|retire`).
GRANT SELECT ON recipient_keys, recipient_key_retirements TO tagtrail_ingest, tagtrail_reader;
