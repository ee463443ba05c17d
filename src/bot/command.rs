//! What a person asked for: pure parsing of the message text.

use crate::model::AlertAction;

/// What the person asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    ClearCache,
    Help,
    /// `team <name>`: who is on call for that team.
    Team(String),
    /// `page <what is wrong>`: who is on call, and an alert for them.
    Page,
    /// `ack`, `take`, `close` (or `resolved`, `done`) in an alert's thread.
    Alert(AlertAction),
    /// Anything else is a request for help: tell them who is on call.
    WhoIsOnCall,
}

impl Command {
    /// Reads the message text once the bot's own mention is taken out; case and
    /// spacing do not matter, nor a trailing `.`, `!` or `?`.
    pub fn parse(text: &str, bot_user_id: &str) -> Self {
        let without_mention = strip_mentions_of(text, bot_user_id);
        let words: Vec<String> = without_mention
            .trim()
            .trim_end_matches(['.', '!', '?'])
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        match words
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["cache", "clear"] => Self::ClearCache,
            ["help"] => Self::Help,
            ["ack" | "acknowledge"] => Self::Alert(AlertAction::Acknowledge),
            ["take"] | ["take", "it"] => Self::Alert(AlertAction::Take),
            ["close" | "resolved" | "resolve" | "done"] => Self::Alert(AlertAction::Close),
            ["page", ..] => Self::Page,
            ["team", name @ ..] if !name.is_empty() => Self::Team(name.join(" ")),
            _ => Self::WhoIsOnCall,
        }
    }
}

/// Removes `<@U123>` and `<@U123|name>` mentions of `user_id` from `text`.
pub fn strip_mentions_of(text: &str, user_id: &str) -> String {
    let mut rest = text;
    let mut out = String::with_capacity(text.len());
    let open = format!("<@{user_id}");
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let end = match after.chars().next() {
            Some('>') => Some(1),
            Some('|') => after.find('>').map(|close| close + 1),
            _ => None,
        };
        match end {
            Some(end) => {
                out.push_str(&rest[..start]);
                out.push(' ');
                rest = &after[end..];
            }
            None => {
                out.push_str(&rest[..start + open.len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A small, bounded mutation fuzzer over command texts that runs with every
/// `cargo test`; `fuzz/` has the cargo-fuzz target for longer runs.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_read_whatever_the_case_spacing_and_mention() {
        let cases = [
            ("cache clear", Command::ClearCache),
            ("  CACHE   clear ", Command::ClearCache),
            ("<@UBOT> cache clear", Command::ClearCache),
            ("<@UBOT|ops> Cache Clear!", Command::ClearCache),
            ("cache clear <@UBOT>", Command::ClearCache),
            ("help", Command::Help),
            ("<@UBOT> HELP?", Command::Help),
            ("<@UBOT>", Command::WhoIsOnCall),
            ("", Command::WhoIsOnCall),
            ("who is on call?", Command::WhoIsOnCall),
            ("<@UBOT> the database is down, help", Command::WhoIsOnCall),
            ("cache clear please", Command::WhoIsOnCall),
            ("<@UBOT> page the database is down", Command::Page),
            ("<@UBOT> PAGE", Command::Page),
            ("<@UBOT> please page", Command::WhoIsOnCall),
            ("<@UOTHER> help", Command::WhoIsOnCall),
            ("<@UBOT", Command::WhoIsOnCall),
            ("<@UBOT> ack", Command::Alert(AlertAction::Acknowledge)),
            (
                "<@UBOT> Acknowledge.",
                Command::Alert(AlertAction::Acknowledge),
            ),
            ("<@UBOT> take", Command::Alert(AlertAction::Take)),
            ("<@UBOT> resolved", Command::Alert(AlertAction::Close)),
            ("<@UBOT> close", Command::Alert(AlertAction::Close)),
            ("<@UBOT> done!", Command::Alert(AlertAction::Close)),
            ("<@UBOT> the job is done", Command::WhoIsOnCall),
            ("<@UBOT|unterminated help", Command::WhoIsOnCall),
        ];
        for (text, expected) in cases {
            assert_eq!(Command::parse(text, "UBOT"), expected, "text {text:?}");
        }
    }

    #[test]
    fn mentions_of_the_bot_are_stripped_and_others_kept() {
        assert_eq!(
            strip_mentions_of("<@UBOT> ask <@UALICE>", "UBOT").trim(),
            "ask <@UALICE>"
        );
        assert_eq!(strip_mentions_of("é<@UBOT|ops>ü", "UBOT"), "é ü");
    }

    #[test]
    fn random_and_mutated_texts_never_panic() {
        let seeds = [
            "<@UBOT> cache clear",
            "<@UBOT|ops> team pay",
            "help?",
            "é<@UBOT>ü",
        ];
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..5_000 {
            let mut bytes = seeds[(next() as usize) % seeds.len()].as_bytes().to_vec();
            for _ in 0..(1 + next() % 6) {
                if bytes.is_empty() {
                    break;
                }
                let at = (next() as usize) % bytes.len();
                match next() % 3 {
                    0 => bytes[at] = next() as u8,
                    1 => bytes.truncate(at),
                    _ => bytes.splice(at..at, *b"<@UBOT").for_each(drop),
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            let _ = Command::parse(&text, "UBOT");
        }
    }
}
