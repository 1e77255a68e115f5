-- Signed access grants (`tagtrail grant issue`): a regulator's or partner's access held by a
-- key. `note` is the grant as signed (ledger/README.md, "Access grant, version 1"); the other
-- columns repeat what it says, to list and check it without parsing. trace-api verifies the
-- note's signature and the request's (made by the grantee's key) on every request, and reads
-- the revocation with it, so that a revoked or expired grant fails at once. Grants and access
-- tokens share one space of ids: the access log, named queries and subscriptions name either.
-- Forward-only: never edit this file once it has landed.

CREATE TABLE access_grants (
    grant_id text PRIMARY KEY CHECK (grant_id ~ '^[0-9a-f]{16}$'),
    role text NOT NULL CHECK (role IN ('regulator', 'partner')),
    sites text[] NOT NULL DEFAULT '{}',
    permissions text[] NOT NULL
        CHECK (cardinality(permissions) > 0
               AND permissions <@ ARRAY['query', 'export', 'subscribe']::text[]),
    -- The grantee's Ed25519 note verifier key (name+id+base64).
    grantee text NOT NULL CHECK (length(grantee) BETWEEN 1 AND 512),
    note text NOT NULL CHECK (octet_length(note) BETWEEN 1 AND 8192),
    label text NOT NULL DEFAULT '',
    issued_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    CHECK ((role = 'partner') = (cardinality(sites) > 0)),
    CHECK (expires_at > issued_at)
);

CREATE TABLE access_grant_revocations (
    grant_id text PRIMARY KEY REFERENCES access_grants (grant_id),
    revoked_at timestamptz NOT NULL DEFAULT now()
);

-- One space of ids: a grant's id is no token's, and a token's no grant's.
CREATE FUNCTION credential_id_unused() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'access_grants' THEN
        IF EXISTS (SELECT 1 FROM access_tokens WHERE token_id = NEW.grant_id) THEN
            RAISE EXCEPTION 'credential id % is an access token''s', NEW.grant_id
                USING ERRCODE = 'unique_violation';
        END IF;
    ELSIF EXISTS (SELECT 1 FROM access_grants WHERE grant_id = NEW.token_id) THEN
        RAISE EXCEPTION 'credential id % is an access grant''s', NEW.token_id
            USING ERRCODE = 'unique_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER access_grants_id_unused BEFORE INSERT ON access_grants
    FOR EACH ROW EXECUTE FUNCTION credential_id_unused();
CREATE TRIGGER access_tokens_id_unused BEFORE INSERT ON access_tokens
    FOR EACH ROW EXECUTE FUNCTION credential_id_unused();

GRANT SELECT ON access_grants, access_grant_revocations TO tagtrail_reader;
