//! What is wrong with an input, field by field: every check of outside input reports all its
//! bad fields at once, and the HTTP layer answers them as the `fields` of a 400.

use std::collections::BTreeMap;

/// Field → what is wrong; the `fields` of a 400 answer.
pub type FieldErrors = BTreeMap<String, String>;
