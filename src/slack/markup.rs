//! Slack's message markup: what must be escaped, and how a time is written so
//! that each reader sees it in their own time zone.

use std::time::SystemTime;

/// `text` safe to post as the bot: Slack's control characters escaped, so that
/// nothing a person typed (or a provider holds) can become `<!channel>`,
/// `<!here>`, a mention or a disguised link.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// A time as Slack shows it: in each reader's own time zone. Never panics:
/// a time outside 1970..2099 is shown as the nearest end.
pub fn slack_date(time: SystemTime) -> String {
    let seconds = crate::outbound::unix_seconds(time);
    format!(
        "<!date^{seconds}^{{date_short_pretty}} {{time}}|{}>",
        crate::outbound::rfc3339(time)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_date_before_1970_or_after_2099_is_written_as_the_nearest_end_without_panicking() {
        let before = SystemTime::UNIX_EPOCH - Duration::from_secs(86_400);
        assert_eq!(
            slack_date(before),
            "<!date^0^{date_short_pretty} {time}|1970-01-01T00:00:00Z>"
        );
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(400 * 365 * 86_400);
        assert_eq!(
            slack_date(far),
            "<!date^4102444799^{date_short_pretty} {time}|2099-12-31T23:59:59Z>"
        );
    }
}
