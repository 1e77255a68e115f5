-- NFC tags that cannot be copied (NXP NTAG 424 DNA, ledger::nfc): each registered tag's UID, the
-- item it is attached to, the key version it is programmed with, and the greatest read counter
-- of a tap trace-api accepted from it. A tap is accepted only when its counter is greater, checked
-- and stored in one UPDATE, so a URL copied from a tag verifies once and, of two requests with
-- one counter, one wins. Registered with `tagtrail nfc register`; a re-programmed tag is
-- registered again under a newer key version, and its counter starts again.
-- The keys themselves are never here: trace-api reads them from a file of its own.
-- Forward-only: never edit this file once it has landed.

DO $$
BEGIN
    BEGIN
        CREATE ROLE tagtrail_scans NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
END
$$;

CREATE TABLE nfc_tags (
    uid bytea PRIMARY KEY CHECK (octet_length(uid) = 7),
    -- The item's canonical GS1 Digital Link (https://id.gs1.org/01/.../21/...): one spelling
    -- whatever split of its company prefix an EPC URI of it has.
    item text NOT NULL CHECK (item LIKE 'https://id.gs1.org/%' AND length(item) <= 512),
    key_version integer NOT NULL CHECK (key_version BETWEEN 0 AND 65535),
    -- -1: no tap accepted yet under this key version.
    last_counter integer NOT NULL DEFAULT -1 CHECK (last_counter BETWEEN -1 AND 16777215),
    last_tap_at timestamptz,
    registered_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX nfc_tags_item ON nfc_tags (item);

-- A counter only goes up under one key version: whoever may move it cannot move it back (which
-- would make every URL read from the tag verify again). Registering the tag again under a newer
-- key version (the owner's `tagtrail nfc register`) starts it again.
CREATE FUNCTION tagtrail_nfc_counter_rises() RETURNS trigger
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

CREATE TRIGGER nfc_tags_counter_rises BEFORE UPDATE ON nfc_tags
    FOR EACH ROW EXECUTE FUNCTION tagtrail_nfc_counter_rises();

-- trace-api's tap check, as a login role in tagtrail_scans on the primary (its reading role may
-- be on a replica, and writes nothing): it reads a tag and moves its counter, nothing else.
GRANT SELECT (uid, item, key_version, last_counter) ON nfc_tags TO tagtrail_scans;
GRANT UPDATE (last_counter, last_tap_at) ON nfc_tags TO tagtrail_scans;
-- Readers may see which items have a tag (the scan page asks a consumer to tap it).
GRANT SELECT (item, key_version) ON nfc_tags TO tagtrail_reader;
