-- Capture jobs are sealed (ingest/README.md, "Capture jobs"): `seal` is a MAC over every field a
-- job's answer shows, keyed with a secret derived from the checkpoint key that was primary when
-- ingest recorded the job: that key's 4-byte id, then the 32-byte HMAC-SHA-256. A row written or
-- edited by anyone without the key (the service role included) does not verify, and ingest serves
-- none that does not. Rows recorded before this migration have no seal and are not served either.
-- Forward-only: never edit this file once it has landed.

ALTER TABLE capture_jobs ADD COLUMN seal bytea CHECK (seal IS NULL OR octet_length(seal) = 36);
