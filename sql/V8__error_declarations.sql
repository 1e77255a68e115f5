-- Error declarations (EPCIS 2.0 §7.4.1.4) as entries of their own. An event carrying
-- `errorDeclaration` has the CBV 2.0 hash of the event it declares erroneous (the hash leaves the
-- declaration out on purpose), so it is stored under its declaration key instead (see
-- ledger-store/src/entry.rs, `declaration_key`), and this table names, for each declaration, the
-- event hash it declares and the entry holding that event (NULL when the log did not hold it when
-- the declaration was appended; an event of that hash appended later is the declared one, which is
-- why readers find an event's declarations by its hash). Written by the sequencer in the
-- transaction that appends the declaration; checked by the audit.
-- Forward-only: never edit this file once it has landed.

CREATE TABLE error_declarations (
    declaration_leaf bigint PRIMARY KEY CHECK (declaration_leaf >= 0),
    declared_leaf bigint CHECK (declared_leaf >= 0 AND declared_leaf < declaration_leaf),
    event_hash bytea NOT NULL CHECK (octet_length(event_hash) = 32)
);
CREATE INDEX error_declarations_by_event_hash ON error_declarations (event_hash, declaration_leaf);

CREATE TRIGGER error_declarations_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON error_declarations
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_refuse_change();

GRANT SELECT, INSERT ON error_declarations TO tagtrail_ingest;
GRANT SELECT ON error_declarations TO tagtrail_reader;
