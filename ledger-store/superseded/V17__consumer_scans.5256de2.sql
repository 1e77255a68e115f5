-- Consumers' scans of items, kept so that the verdict can see one serial scanned where one object
-- cannot be (ledger::verdict: copied_label, scanned_far_apart), and nothing personal: the item,
-- the time rounded down to 15 minutes, how it was scanned (a QR code or a verified NFC tap), and
-- at most a coarse region (a code the edge sets) and a one-degree cell (from a position the edge
-- sets). No address, no precise place, no device, no cookie. trace-api writes them in batches and
-- deletes them once older than its `[scans] retention` (30 days unless configured).
-- Forward-only: never edit this file once it has landed.

CREATE TABLE consumer_scans (
    scan_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The item's canonical GS1 Digital Link.
    item text NOT NULL CHECK (item LIKE 'https://id.gs1.org/%' AND length(item) <= 512),
    scanned_at timestamptz NOT NULL
        CHECK (scanned_at = date_bin('15 minutes', scanned_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')),
    kind text NOT NULL CHECK (kind IN ('qr', 'nfc')),
    region text CHECK (region ~ '^[A-Z]{2}(-[A-Z0-9]{1,3})?$'),
    -- The south-west corner of the one-degree cell, in whole degrees.
    cell_latitude smallint CHECK (cell_latitude BETWEEN -90 AND 89),
    cell_longitude smallint CHECK (cell_longitude BETWEEN -180 AND 179),
    CHECK ((cell_latitude IS NULL) = (cell_longitude IS NULL))
);

-- By kind: a verdict reads an item's newest taps apart from its newest link scans, so that a
-- flood of link scans cannot push its taps out of what is read.
CREATE INDEX consumer_scans_item ON consumer_scans (item, kind, scanned_at DESC);
CREATE INDEX consumer_scans_age ON consumer_scans (scanned_at);

-- trace-api's scans role records scans and expires them; readers (trace-api's verdicts, possibly
-- on a replica) read them.
GRANT SELECT, INSERT, DELETE ON consumer_scans TO tagtrail_scans;
GRANT USAGE ON SEQUENCE consumer_scans_scan_id_seq TO tagtrail_scans;
GRANT SELECT ON consumer_scans TO tagtrail_reader;
