-- The secret trace-api derives decoys from (ledger::sealed::Decoys): GET /sealed/{commitment}/
-- {recipient} answers a recipient a value is not sealed to with the value's field key and an
-- envelope no key opens, derived from this secret, the commitment and the recipient, so that
-- asking with someone's public key no longer tells whether the value was sealed to them. One
-- row, made here from the server's strong random source (gen_random_uuid, twice: 244 random
-- bits, hashed to 32 bytes), the same for every trace-api and replica of the database, so that
-- the same question always gets the same answer. Readers may read it (whoever reads the database
-- reads every envelope already); nobody changes it.
-- Forward-only: never edit this file once it has landed.

CREATE TABLE sealed_decoy_secret (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    secret bytea NOT NULL CHECK (octet_length(secret) = 32)
);
INSERT INTO sealed_decoy_secret (secret)
VALUES (sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')));
GRANT SELECT ON sealed_decoy_secret TO tagtrail_reader;
