-- A subscription's delivery holds a lease on its row instead of a row lock. Until now the worker
-- that delivered a subscription kept its row locked, in an open transaction on a connection of its
-- own, for as long as the receiver took to answer (up to `[subscriptions] timeout`): a receiver
-- that answered slowly held a database connection and a transaction open, held back vacuum, and
-- made a request changing the credential's subscriptions wait (`503` after a second).
--
-- Now a worker claims a due subscription in a short transaction: it sets `lease_id` (a fresh
-- random id) and `leased_until` (when the claim lapses), commits, makes the delivery with no
-- transaction open, and records the outcome (`next_leaf`, retry state) in another short
-- transaction that matches the row by `lease_id` too, clearing the lease. A row whose lease has
-- not lapsed is not claimed again, and no credential's subscriptions are claimed while another of
-- its subscriptions holds a lease, in any process, so that one credential's receivers hold up one
-- worker of the whole deployment at most. A worker that outlives its lease records nothing (its
-- outcome matches no row); the next claim delivers the same range again, as after a crash.
-- Forward-only: never edit this file once it has landed.

ALTER TABLE subscriptions
    ADD COLUMN lease_id uuid,
    ADD COLUMN leased_until timestamptz,
    ADD CONSTRAINT subscriptions_lease_whole CHECK ((lease_id IS NULL) = (leased_until IS NULL));

CREATE INDEX subscriptions_leased ON subscriptions (token_id) WHERE lease_id IS NOT NULL;

GRANT UPDATE (lease_id, leased_until) ON subscriptions TO tagtrail_access;
