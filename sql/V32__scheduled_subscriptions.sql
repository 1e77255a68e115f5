-- Scheduled subscriptions (EPCIS 2.0 REST binding, `QueryScheduleSubscription`): `schedule` is
-- the binding's schedule object as given (JSON text, read by epcis::query::QuerySchedule), NULL
-- for a stream subscription. A scheduled subscription is due at its next scheduled time
-- (`next_attempt_at`); then it delivers every matching event logged since its last delivery, in
-- as many deliveries as that takes, and waits for the next time. `fire_started_at` is when the
-- current round began (NULL between rounds), so that a round that found nothing sends one empty
-- report (`report_if_empty`) and a round that delivered events sends none.
-- Forward-only: never edit this file once it has landed.

ALTER TABLE subscriptions
    ADD COLUMN schedule text CHECK (length(schedule) BETWEEN 2 AND 2048),
    ADD COLUMN fire_started_at timestamptz;

GRANT UPDATE (fire_started_at) ON subscriptions TO tagtrail_access;
