//! Any bytes a signed slash command could carry, as a form (HTTP) or as a
//! Socket Mode payload: reading it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oncall_bot::slack::commands::{command_of_form, command_of_json};

fuzz_target!(|body: &[u8]| {
    let _ = command_of_form(body);
    let _ = command_of_json(body);
});
