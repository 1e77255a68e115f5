-- Credentials of those who query across items: `GET /events` and the rest of the EPCIS query
-- interface of trace-api. A `regulator` reads every event; a `partner` only the events reported
-- from the sites it is granted (at least one). A token is `tt_<token id: 16 hex digits>_<secret:
-- 64 hex digits>`, as a site's capture token is; only the SHA-256 of the secret is kept. A token
-- past `expires_at`, or revoked, is refused at once (trace-api reads both on every request).
-- Forward-only: never edit this file once it has landed.

CREATE TABLE access_tokens (
    token_id text PRIMARY KEY CHECK (token_id ~ '^[0-9a-f]{16}$'),
    role text NOT NULL CHECK (role IN ('regulator', 'partner')),
    sites text[] NOT NULL DEFAULT '{}',
    secret_sha256 bytea NOT NULL CHECK (octet_length(secret_sha256) = 32),
    label text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    -- A partner sees the sites it is granted, a regulator every site: a grant names sites
    -- exactly when it is a partner's.
    CHECK ((role = 'partner') = (cardinality(sites) > 0)),
    CHECK (expires_at IS NULL OR expires_at > created_at)
);

CREATE TABLE access_token_revocations (
    token_id text PRIMARY KEY REFERENCES access_tokens (token_id),
    revoked_at timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT ON access_tokens, access_token_revocations TO tagtrail_reader;
