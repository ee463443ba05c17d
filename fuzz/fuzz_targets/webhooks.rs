//! Any body a provider's webhook could deliver with the right token: reading
//! it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oncall_bot::providers::webhook::parse_alert_update;

fuzz_target!(|body: &[u8]| {
    let _ = parse_alert_update(body);
});
