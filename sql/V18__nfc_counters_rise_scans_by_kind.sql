-- What V16 and V17 were edited to say after they landed (the edited texts are kept in
-- ledger-store/superseded/ and re-stamped as V16 and V17; this brings both kinds of database to
-- one schema). Idempotent: a database migrated with the edited texts has all of it already.
-- Forward-only: never edit this file once it has landed.

-- A counter only goes up under one key version: whoever may move it cannot move it back (which
-- would make every URL read from the tag verify again). Registering the tag again under a newer
-- key version (the owner's `tagtrail nfc register`) starts it again.
CREATE OR REPLACE FUNCTION tagtrail_nfc_counter_rises() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.key_version = OLD.key_version AND NEW.last_counter < OLD.last_counter THEN
        RAISE EXCEPTION 'the counter of NFC tag % only goes up (% to %)', encode(OLD.uid, 'hex'),
            OLD.last_counter, NEW.last_counter
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.key_version < OLD.key_version THEN
        RAISE EXCEPTION 'NFC tag % cannot go back to an older key version', encode(OLD.uid, 'hex')
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS nfc_tags_counter_rises ON nfc_tags;
CREATE TRIGGER nfc_tags_counter_rises BEFORE UPDATE ON nfc_tags
    FOR EACH ROW EXECUTE FUNCTION tagtrail_nfc_counter_rises();

-- Readers see which items have a tag and its key version, never its UID.
REVOKE SELECT (uid) ON nfc_tags FROM tagtrail_reader;

-- By kind: a verdict reads an item's newest taps apart from its newest link scans, so that a
-- flood of link scans cannot push its taps out of what is read.
DROP INDEX IF EXISTS consumer_scans_item;
CREATE INDEX consumer_scans_item ON consumer_scans (item, kind, scanned_at DESC);
