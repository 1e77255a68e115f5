-- Readers no longer read the token tables (V24 let them, for trace-api's POST /recalls): one
-- read-only credential leaked would have listed every site's token ids and secret hashes. The
-- recall desk authenticates the caller by its site's capture token through this function instead,
-- run as its owner: for one token id (the public half of a token) it answers the site, the
-- secret's SHA-256 (compared by the caller in constant time), whether it was revoked and the
-- registry's generation, and nothing else (no listing, no labels). The recall itself is captured
-- through ingest with the caller's own token; readers still write nothing.
-- Forward-only: never edit this file once it has landed.

REVOKE SELECT ON site_tokens, site_token_revocations FROM tagtrail_reader;
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
