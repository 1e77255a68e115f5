-- A lookup pair's tag (ledger::history::Tag) now says which identifier its entry claims to bring
-- into being: bit 59 whether it claims the identifier the pair is found by, bit 60 whether it
-- claims another (ledger::history::claimed), so that a packing of an item into a case is a claim
-- under the case and a claim of something else under the item, and a party's claims of other
-- identifiers spend no more of the budget a history reads an item's left-out claims in than they
-- could be first of. Bit 58 keeps its meaning (V41: the entry claims something) and is set
-- whenever bit 59 or 60 is, so a binary of V41 reads these runs as it read its own. The runs
-- written before this have bit 58 alone, which a history reads as both: their format
-- (ledger_store's runs::KEY_FORMAT) is now 4, and the indexer rebuilds every run of an older
-- format in place, as V38 describes, without deleting anything first. A binary older than this
-- still derives format 3 tags, and its runs are refused from here on, so that it can neither
-- index nor merge (its appends go on). Format 0 stays allowed: it is how an owner marks runs to
-- rebuild (sql/README.md), and no binary writes it. NOT VALID: the runs stored now are not
-- judged, only rebuilt. Derived data only.
-- Forward-only: never edit this file once it has landed.

ALTER TABLE lookup_runs ADD CONSTRAINT lookup_runs_key_format_claim_pairs
    CHECK (key_format >= 4 OR key_format = 0) NOT VALID;
