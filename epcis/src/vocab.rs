//! CBV 2.0 vocabularies: business steps, dispositions, and the other standard code lists.
