-- trace-api's POST /recalls (the recall desk) authenticates a brand by its site's capture token
-- before it traces what the recall reaches: readers may read the tokens' ids, sites and secret
-- hashes (SHA-256 of 256 random bits: nothing to guess a token from) and their revocations. The
-- recall itself is captured through ingest with the caller's own token; readers still write
-- nothing.
-- Forward-only: never edit this file once it has landed.

GRANT SELECT ON site_tokens, site_token_revocations TO tagtrail_reader;
