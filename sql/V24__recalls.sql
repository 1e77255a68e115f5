-- Recalls (docs/ARCHITECTURE.md, "The consumer's verdict": recalls are recorded in the log).
-- Forward-only: never edit this file once it has landed.

-- trace-api's POST /recalls (the recall desk) authenticates the caller by its site's capture token
-- before it traces what the recall reaches. Readers may not read the token tables: this function,
-- run as its owner, answers for one token id (the public half of a token) its site, its secret's
-- SHA-256 (compared by the caller in constant time), whether it was revoked and the registry's
-- generation, and nothing else (no listing, no labels). The recall itself is captured through
-- ingest with the caller's own token; readers still write nothing.
CREATE FUNCTION tagtrail_site_token(token text)
RETURNS TABLE (site_id text, secret_sha256 bytea, revoked boolean, generation bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT t.site_id, t.secret_sha256, r.token_id IS NOT NULL,
           (SELECT g.generation FROM registry_generation g)
    FROM site_tokens t LEFT JOIN site_token_revocations r USING (token_id)
    WHERE t.token_id = token
$$;
REVOKE ALL ON FUNCTION tagtrail_site_token(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tagtrail_site_token(text) TO tagtrail_reader;

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
