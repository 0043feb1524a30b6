//! PLACEHOLDER: the jira plugin's tests; its session replaces this file.
