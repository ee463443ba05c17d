//! Integration tests: the real router and clients against Slack and OpsGenie fakes.

mod abuse;
mod alert_privileges;
mod alerts;
mod answers;
mod cache;
mod check;
mod demo;
mod escaping;
mod handovers;
mod helpers;
pub mod in_time;
mod jsm;
mod logs;
mod lookup_failures;
mod redis_server;
pub mod replicas;
mod resilience;
mod secrets;
mod slow_clients;
mod smoke;
mod socket_mode;
mod take_call;
mod teams;
pub mod two_way;
mod usergroup_sync;
mod verification;
mod web_api_shapes;
