-- Named queries of the EPCIS 2.0 REST binding (`POST /queries`, `GET /queries/{name}/events`):
-- each access token's own, by name. The parameters are kept as the query string would give them
-- (a JSON array of [name, value] pairs, checked by trace-api before they are stored); a named
-- query runs with its token's scope, and every answer is recorded in the access log as any query
-- is. trace-api writes them as its `tagtrail_access` role, on the primary.
-- Forward-only: never edit this file once it has landed.

CREATE TABLE named_queries (
    token_id text NOT NULL CHECK (token_id ~ '^[0-9a-f]{16}$'),
    name text NOT NULL CHECK (name ~ '^[A-Za-z0-9._~-]{1,64}$'),
    parameters jsonb NOT NULL CHECK (jsonb_typeof(parameters) = 'array'),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (token_id, name)
);

GRANT SELECT, INSERT, DELETE ON named_queries TO tagtrail_access;
