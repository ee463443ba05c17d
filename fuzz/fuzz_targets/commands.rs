//! Any message text: command parsing never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oncall_bot::bot::Command;

fuzz_target!(|text: &str| {
    let _ = Command::parse(text, "UBOT");
});
