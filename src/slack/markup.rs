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

/// A time as Slack shows it: in each reader's own time zone.
pub fn slack_date(time: SystemTime) -> String {
    let seconds = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or(0);
    format!(
        "<!date^{seconds}^{{date_short_pretty}} {{time}}|{}>",
        humantime::format_rfc3339_seconds(time)
    )
}
