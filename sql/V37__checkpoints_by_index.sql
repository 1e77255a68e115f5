-- An idle log's newest checkpoint may be signed again, at the same tree size and root, once the
-- verifiable index covers the whole tree and the checkpoint's index line did not (it was signed
-- while the index trailed, or before the index's first run): otherwise the entries its index left
-- out stayed unproven until the next entry was appended. A tree size may so have more than one
-- checkpoint, which differ in their `tagtrail-index` line only; they are told apart by the index
-- size the line names (0: none), read from the note itself, and the newest of a size is the one
-- with the largest index. The table is rewritten once (a few rows a second of the log's life).
-- Forward-only: never edit this file once it has landed.

ALTER TABLE checkpoints
    ADD COLUMN index_size bigint NOT NULL GENERATED ALWAYS AS (
        coalesce(substring(note FROM E'\ntagtrail-index ([0-9]+) ')::bigint, 0)) STORED;

ALTER TABLE checkpoints
    DROP CONSTRAINT checkpoints_pkey,
    ADD PRIMARY KEY (tree_size, index_size),
    ADD CONSTRAINT checkpoints_index_within_tree CHECK (index_size <= tree_size);

-- Checkpoints of one size are of one tree: a row whose root differs from a stored checkpoint's of
-- its size is refused. (The checkpoint signer inserts under its advisory lock, one at a time.)
CREATE FUNCTION tagtrail_checkpoint_agrees() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = public, pg_temp
    AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM checkpoints
               WHERE tree_size = NEW.tree_size AND root_hash <> NEW.root_hash) THEN
        RAISE EXCEPTION 'a checkpoint of tree size % with another root hash is stored already',
            NEW.tree_size;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER checkpoints_agree BEFORE INSERT ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION tagtrail_checkpoint_agrees();
