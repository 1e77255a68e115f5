-- The anchor worker's records (anchor/README.md): one row per checkpoint it anchors on a chain, and
-- every transaction it signed for it, written before the transaction is sent. Together they are the
-- worker's state machine, so that a restarted worker resumes exactly where it stopped and never pays
-- twice for one checkpoint on one chain.
-- Forward-only: never edit this file once it has landed.

DO $$
BEGIN
    BEGIN
        CREATE ROLE tagtrail_anchor NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
END
$$;

-- One anchor: a checkpoint (tree size, root) published on one chain through one contract.
--   pending:   signed and sent (anchor_attempts holds every version), not in a block yet
--   included:  in block (block_number, block_hash) with fewer confirmations than required
--   confirmed: deep enough (or finalized); `proof` holds the header and the receipt's trie proof
--   reverted:  the transaction ran and failed (a wrong contract): the chain's anchoring stops
--   abandoned: its nonce was used by a transaction that is not ours; nothing was paid for it
-- Every attempt of an anchor shares its nonce, so at most one of them can ever be mined.
CREATE TABLE anchors (
    anchor_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chain text NOT NULL,
    chain_id bigint NOT NULL CHECK (chain_id > 0),
    contract bytea NOT NULL CHECK (octet_length(contract) = 20),
    sender bytea NOT NULL CHECK (octet_length(sender) = 20),
    tree_size bigint NOT NULL CHECK (tree_size > 0),
    root_hash bytea NOT NULL CHECK (octet_length(root_hash) = 32),
    checkpoint text NOT NULL,
    calldata bytea NOT NULL,
    nonce bigint NOT NULL CHECK (nonce >= 0),
    state text NOT NULL CHECK (state IN ('pending', 'included', 'confirmed', 'reverted', 'abandoned')),
    tx_hash bytea CHECK (octet_length(tx_hash) = 32),
    block_number bigint,
    block_hash bytea CHECK (octet_length(block_hash) = 32),
    gas_used bigint,
    fee_paid_wei numeric(78, 0),
    proof jsonb,
    reorgs integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    included_at timestamptz,
    confirmed_at timestamptz,
    CHECK ((state IN ('included', 'confirmed')) = (block_hash IS NOT NULL)),
    CHECK ((state = 'confirmed') = (proof IS NOT NULL))
);

-- Never two live anchors of one checkpoint on one chain and contract...
CREATE UNIQUE INDEX anchors_one_per_checkpoint ON anchors (chain_id, contract, tree_size)
    WHERE state <> 'abandoned';
-- ...and at most one unfinished anchor per chain and contract (they go one at a time, in nonce order).
CREATE UNIQUE INDEX anchors_one_open ON anchors (chain_id, contract)
    WHERE state IN ('pending', 'included');
CREATE INDEX anchors_by_size ON anchors (tree_size) WHERE state = 'confirmed';

-- Every signed transaction of an anchor (the first and each fee bump), stored before it is sent, so
-- that after a crash the worker re-sends exactly these bytes (the node answers "already known" or
-- mines it once) instead of signing something new.
CREATE TABLE anchor_attempts (
    tx_hash bytea PRIMARY KEY CHECK (octet_length(tx_hash) = 32),
    anchor_id bigint NOT NULL REFERENCES anchors (anchor_id),
    raw bytea NOT NULL,
    max_fee_per_gas numeric(78, 0) NOT NULL,
    max_priority_fee_per_gas numeric(78, 0) NOT NULL,
    signed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX anchor_attempts_by_anchor ON anchor_attempts (anchor_id, signed_at);

-- The worker reads checkpoints (and the migration history, for its readiness) and writes only its
-- own tables. Readers (trace-api, tagtrail audit, tagtrail anchors) see the anchors, not the signed
-- transactions.
GRANT USAGE ON SCHEMA public TO tagtrail_anchor;
GRANT SELECT ON checkpoints, signing_keys, refinery_schema_history TO tagtrail_anchor;
GRANT SELECT, INSERT, UPDATE ON anchors, anchor_attempts TO tagtrail_anchor;
GRANT SELECT ON anchors TO tagtrail_reader;
