//! PLACEHOLDER: replaced by the session that builds it.
