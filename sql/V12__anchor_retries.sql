-- A reverted anchor no longer stops a chain's anchoring (anchor/README.md, "Faulty and lying
-- nodes"): the worker anchors the newest checkpoint again, even one of the same size, so a
-- reverted anchor must not hold the checkpoint's one live place on the chain.
-- Forward-only: never edit this file once it has landed.

DROP INDEX anchors_one_per_checkpoint;
CREATE UNIQUE INDEX anchors_one_per_checkpoint ON anchors (chain_id, contract, tree_size)
    WHERE state NOT IN ('abandoned', 'reverted');
