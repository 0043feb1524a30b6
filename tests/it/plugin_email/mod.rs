//! PLACEHOLDER: the email plugin's tests; its session replaces this file.
