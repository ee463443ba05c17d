//! Any bytes a signed request could carry: parsing never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oncall_bot::model::BotIdentity;
use oncall_bot::slack::events::Envelope;

fuzz_target!(|body: &[u8]| {
    let identity = BotIdentity {
        user_id: "UBOT".to_owned(),
        bot_id: Some("BBOT".to_owned()),
        team_id: Some("T1".to_owned()),
        enterprise_id: None,
    };
    let _ = Envelope::parse(body, &identity);
});
