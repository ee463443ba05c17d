//! Any bytes a signed interactivity request could carry (the form body, and
//! the JSON payload in it): reading it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oncall_bot::slack::interactions::{payload_of_form, Interaction};

fuzz_target!(|body: &[u8]| {
    if let Some(payload) = payload_of_form(body) {
        let _ = Interaction::parse(payload.as_bytes());
    }
    let _ = Interaction::parse(body);
});
