//! PLACEHOLDER: the hipchat plugin's tests; its session replaces this file.
