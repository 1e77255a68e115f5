-- A subscription's delivery holds a claim on its credential instead of a row lock. Until now the
-- worker that delivered a subscription kept its row locked, in an open transaction on a
-- connection of its own, for as long as the receiver took to answer (up to `[subscriptions]
-- timeout`): a receiver that answered slowly held a database connection and a transaction open,
-- held back vacuum, and made a request changing the credential's subscriptions wait (`503` after
-- a second); and one credential's subscriptions were delivered one at a time in each process
-- only, so its silent receivers could hold a worker in every process.
--
-- Now a worker claims a due subscription in a short transaction, one claim at a time across
-- processes (an advisory lock): a row here, one per credential, naming the subscription, a fresh
-- random `lease_id` and when the claim lapses. No subscription of a credential is claimed while
-- its claim has not lapsed. The worker makes the delivery with no transaction open, then records
-- the outcome (`next_leaf`, retry state) in another short transaction that deletes the claim
-- matching `lease_id` and updates the subscription only if it did. Deleting the subscription (or
-- its named query) leaves the claim in place until the delivery is over, so that deleting and
-- making subscriptions again frees no credential's turn early. A worker that outlives its claim
-- records nothing; the next claim delivers the same range again, as after a crash.
-- Forward-only: never edit this file once it has landed.

CREATE TABLE subscription_claims (
    token_id text PRIMARY KEY,
    subscription_id uuid NOT NULL,
    lease_id uuid NOT NULL,
    leased_until timestamptz NOT NULL
);

GRANT SELECT, INSERT, UPDATE, DELETE ON subscription_claims TO tagtrail_access;
