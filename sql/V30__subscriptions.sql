-- Subscriptions to named queries (EPCIS 2.0 REST binding, `POST /queries/{name}/subscriptions`
-- with `stream: true`): trace-api delivers each new matching event to `dest` by webhook, once per
-- batch, from `next_leaf` on. `next_leaf` (the ledger leaf the next delivery reads from) moves only
-- once the receiver answered 2xx, in the transaction that holds the row locked for the delivery,
-- so that two trace-api processes never deliver one batch at once and a restart resumes where
-- the receiver last acknowledged. `signature_token` is the client's secret for the HMAC of each
-- delivery (the binding's `signatureToken`), never shown again. Deleting the named query deletes
-- its subscriptions.
-- Forward-only: never edit this file once it has landed.

CREATE TABLE subscriptions (
    subscription_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_id text NOT NULL,
    query_name text NOT NULL,
    dest text NOT NULL CHECK (length(dest) BETWEEN 1 AND 2048),
    signature_token text CHECK (length(signature_token) BETWEEN 1 AND 256),
    report_if_empty boolean NOT NULL DEFAULT false,
    next_leaf bigint NOT NULL CHECK (next_leaf >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    last_notified_at timestamptz,
    failures integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_failure text CHECK (length(last_failure) <= 512),
    FOREIGN KEY (token_id, query_name) REFERENCES named_queries (token_id, name) ON DELETE CASCADE
);

CREATE INDEX subscriptions_due ON subscriptions (next_attempt_at);
CREATE INDEX subscriptions_of_query ON subscriptions (token_id, query_name);

GRANT SELECT, INSERT, DELETE ON subscriptions TO tagtrail_access;
GRANT UPDATE (next_leaf, last_notified_at, failures, next_attempt_at, last_failure)
    ON subscriptions TO tagtrail_access;
