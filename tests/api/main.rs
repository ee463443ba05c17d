//! Integration tests: the real router and clients against Slack and OpsGenie fakes.

mod answers;
mod cache;
mod helpers;
mod lookup_failures;
mod smoke;
mod verification;
