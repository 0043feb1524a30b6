//! PLACEHOLDER: the slack plugin's tests; its session replaces this file.
