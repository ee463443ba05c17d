//! Any body a provider's webhook could deliver with the right token or
//! signature: reading it never panics (OpsGenie's and JSM's alert updates,
//! PagerDuty's v3 incident events).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oncall_bot::providers::pagerduty::webhook::{parse_incident_event, signature_matches};
use oncall_bot::providers::webhook::parse_alert_update;

fuzz_target!(|body: &[u8]| {
    let _ = parse_alert_update(body);
    let _ = parse_incident_event(body);
    // Its signature header comes from outside too: the input's first bytes.
    let split = body.len().min(96);
    let header = String::from_utf8_lossy(&body[..split]);
    let _ = signature_matches(b"secret", &header, &body[split..]);
});
