//! PLACEHOLDER: the pagerduty plugin's tests; its session replaces this file.
