-- Recalls (docs/ARCHITECTURE.md, "The consumer's verdict": recalls are recorded in the log).
-- Forward-only: never edit this file once it has landed.

-- trace-api's POST /recalls (the recall desk) authenticates the caller by its site's capture token
-- before it traces what the recall reaches: readers may read the tokens' ids, sites and secret
-- hashes (SHA-256 of 256 random bits: nothing to guess a token from) and their revocations. The
-- recall itself is captured through ingest with the caller's own token; readers still write
-- nothing.
GRANT SELECT ON site_tokens, site_token_revocations TO tagtrail_reader;

-- Regulators: organisations whose recalls hold for any item (a food-safety authority), besides
-- each item's brand. Named by the owner (`tagtrail org regulator --id ORG`, `--remove` to end
-- it); custody authority reads them with the rest of the registry, as of the registry's
-- generation.
CREATE TABLE organisation_regulators (
    organisation_id text PRIMARY KEY REFERENCES organisations (organisation_id),
    added_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER organisation_regulators_generation
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON organisation_regulators
    FOR EACH STATEMENT EXECUTE FUNCTION tagtrail_registry_changed();
GRANT SELECT ON organisation_regulators TO tagtrail_ingest, tagtrail_reader;
