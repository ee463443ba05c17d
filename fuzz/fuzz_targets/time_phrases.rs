//! Any phrase, read as a time in any zone at any moment the bot may run:
//! reading it and writing what it reads (as Slack's dates, as the providers'
//! RFC 3339) never panics, and what is read lies in 1970..2099.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oncall_bot::bot::when::{parse_span, parse_when, When};
use oncall_bot::bot::slack_date;

const ZONES: [&str; 5] = ["UTC", "Europe/Berlin", "America/New_York", "Pacific/Chatham", "Asia/Kolkata"];

fuzz_target!(|input: (u8, u32, &str)| {
    let (zone, seconds, phrase) = input;
    let zone = jiff::tz::TimeZone::get(ZONES[usize::from(zone) % ZONES.len()]).expect("a zone");
    // Any moment from 1970 to 2106.
    let Ok(now) = jiff::Timestamp::from_second(i64::from(seconds)) else {
        return;
    };
    let now = now.to_zoned_datetime(zone);
    let write = |moment: jiff::Timestamp| {
        let time = std::time::SystemTime::try_from(moment).expect("a time");
        let _ = slack_date(time);
        let _ = oncall_bot::outbound::rfc3339(time);
        let seconds = moment.as_second();
        assert!((0..4_102_444_800).contains(&seconds) || seconds == 4_102_444_800, "{phrase}: {moment}");
    };
    match parse_when(phrase, &now) {
        Ok(When::At(moment)) => write(moment),
        Ok(When::Between { from, until }) => {
            write(from);
            write(until);
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
    if let Ok((from, until)) = parse_span(phrase, &now) {
        write(from);
        write(until);
    }
});
