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
    /// `who is on call at 22:00`, `payments on Saturday`: `subject` is what
    /// came before the time (a team, or nothing), `phrase` the time.
    OnCallAt {
        subject: String,
        phrase: String,
    },
    /// `next`, `who is next`: who takes over next, per rotation.
    Next,
    /// `when am I on?`: the asker's next shifts.
    WhenAmIOn,
    /// `take call [for <team>] <span>`: become the on-call person for a span.
    TakeCall {
        team: String,
        span: String,
    },
    /// `cover me [for <team>] <span>[, <note>]`: ask the team for someone to
    /// take the call for the asker over a span.
    CoverMe {
        team: String,
        span: String,
        /// What follows the first comma, as written.
        note: String,
    },
    /// `yes`: confirms what the bot asked in this thread.
    Yes,
    /// Anything else is a request for help: tell them who is on call.
    WhoIsOnCall,
}

impl Command {
    /// Reads the message text once the bot's own mention is taken out; case and
    /// spacing do not matter, nor a trailing `.`, `!` or `?`.
    pub fn parse(text: &str, bot_user_id: &str) -> Self {
        Self::parse_with_teams(text, bot_user_id, &|_| false)
    }

    /// [`Self::parse`], knowing which words name a team (`payments on Saturday`).
    pub fn parse_with_teams(text: &str, bot_user_id: &str, is_team: &dyn Fn(&str) -> bool) -> Self {
        let without_mention = strip_mentions_of(text, bot_user_id);
        if let Some(cover) = cover_me(&without_mention) {
            return cover;
        }
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
            ["when", "am", "i", "on"]
            | ["when", "am", "i", "on", "call"]
            | ["when", "am", "i", "on", "call", "next"]
            | ["when", "is", "my", "next", "shift"]
            | ["my", "shifts"] => Self::WhenAmIOn,
            ["next"] | ["who", "is", "next"] | ["who's", "next"] | ["whos", "next"] => Self::Next,
            ["take", "call", "for", team, span @ ..]
            | ["take", "the", "call", "for", team, span @ ..]
                if !span.is_empty() =>
            {
                Self::TakeCall {
                    team: (*team).to_owned(),
                    span: span.join(" "),
                }
            }
            ["take", "call", span @ ..] | ["take", "the", "call", span @ ..] => Self::TakeCall {
                team: String::new(),
                span: span.join(" "),
            },
            ["yes"] | ["confirm"] => Self::Yes,
            words => time_question(words, is_team).unwrap_or(Self::WhoIsOnCall),
        }
    }
}

/// `cover me [for <team>] <span>[, <note>]`; the note keeps its case.
fn cover_me(text: &str) -> Option<Command> {
    let (head, note) = match text.split_once(',') {
        Some((head, note)) => (head, note.trim()),
        None => (text, ""),
    };
    let words: Vec<String> = head
        .trim()
        .trim_end_matches(['.', '!', '?'])
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let (team, span) = match words.as_slice() {
        ["cover", "me", "for", team, span @ ..] if !span.is_empty() => ((*team).to_owned(), span),
        ["cover", "me", span @ ..] => (String::new(), span),
        _ => return None,
    };
    Some(Command::CoverMe {
        team,
        span: span.join(" "),
        note: note.to_owned(),
    })
}

/// How a question about on-call may start; what follows is a time, perhaps
/// after a team.
const QUESTION_STARTS: &[&[&str]] = &[
    &["who", "is", "on", "call"],
    &["who's", "on", "call"],
    &["whos", "on", "call"],
    &["who", "is", "oncall"],
    &["who", "is", "on"],
    &["who's", "on"],
    &["who", "will", "be", "on", "call"],
    &["who", "will", "be", "on"],
];

/// A question about on-call at a time: `who is on call <[for] team> <time>`, a
/// time alone (`tonight`, `on saturday`), or `<team> <time>`. A time word in a
/// help request ("prod is down at 10") is not a question: without the question
/// words, the rest must read as a time, and what comes before it as a team.
fn time_question(words: &[&str], is_team: &dyn Fn(&str) -> bool) -> Option<Command> {
    let asked = QUESTION_STARTS
        .iter()
        .find_map(|start| words.strip_prefix(*start));
    let rest = asked.unwrap_or(words);
    let marker = rest.iter().position(|word| starts_a_time(word))?;
    let subject = match &rest[..marker] {
        ["for", team @ ..] | team => team.join(" "),
    };
    let phrase = rest[marker..].join(" ");
    let reads_as_time = {
        // Whether it reads at all does not depend on the zone or the day.
        let probe = jiff::Timestamp::UNIX_EPOCH.to_zoned_datetime(jiff::tz::TimeZone::UTC);
        // A time outside the years the bot answers for is still a time: it
        // is answered in words, not taken for a help request.
        match super::when::parse_when(&phrase, &probe) {
            Ok(_) => true,
            Err(error) => error.out_of_range,
        }
    };
    let question = asked.is_some() || (reads_as_time && (subject.is_empty() || is_team(&subject)));
    question.then_some(Command::OnCallAt { subject, phrase })
}

/// Whether a word can begin a time: `at`, `on`, `tonight`, a weekday, a date…
fn starts_a_time(word: &str) -> bool {
    const WORDS: &[&str] = &[
        "at",
        "on",
        "now",
        "tonight",
        "today",
        "tomorrow",
        "next",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    WORDS.contains(&word) || (word.len() == 10 && word.as_bytes()[4] == b'-')
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
            ("<@UBOT> when am I on?", Command::WhenAmIOn),
            (
                "<@UBOT> take call until 18:00",
                Command::TakeCall {
                    team: String::new(),
                    span: "until 18:00".into(),
                },
            ),
            (
                "<@UBOT> take call for payments tomorrow 09:00-13:00",
                Command::TakeCall {
                    team: "payments".into(),
                    span: "tomorrow 09:00-13:00".into(),
                },
            ),
            ("<@UBOT> yes", Command::Yes),
            (
                "<@UBOT> cover me tomorrow 09:00-13:00, Dentist at 10",
                Command::CoverMe {
                    team: String::new(),
                    span: "tomorrow 09:00-13:00".into(),
                    note: "Dentist at 10".into(),
                },
            ),
            (
                "<@UBOT> Cover me for payments on Saturday 08:00-20:00",
                Command::CoverMe {
                    team: "payments".into(),
                    span: "on saturday 08:00-20:00".into(),
                    note: String::new(),
                },
            ),
            ("when is my next shift", Command::WhenAmIOn),
            ("<@UBOT> next", Command::Next),
            ("who is next?", Command::Next),
            ("<@UBOT> who is on call", Command::WhoIsOnCall),
            ("<@UBOT> prod is down at 10, help", Command::WhoIsOnCall),
            ("<@UBOT> the db on prod is down", Command::WhoIsOnCall),
            ("<@UBOT|unterminated help", Command::WhoIsOnCall),
        ];
        for (text, expected) in cases {
            assert_eq!(Command::parse(text, "UBOT"), expected, "text {text:?}");
        }
    }

    #[test]
    fn questions_about_a_time_name_the_time_and_the_team_before_it() {
        let at = |subject: &str, phrase: &str| Command::OnCallAt {
            subject: subject.into(),
            phrase: phrase.into(),
        };
        let is_team = |name: &str| name == "payments";
        let cases = [
            ("<@UBOT> who is on call at 22:00?", at("", "at 22:00")),
            ("who's on call tonight", at("", "tonight")),
            ("<@UBOT> who is on call tomorrow", at("", "tomorrow")),
            (
                "who is on call on 2026-12-24 09:00",
                at("", "on 2026-12-24 09:00"),
            ),
            ("who is on call next week", at("", "next week")),
            (
                "who is on call for payments on Saturday",
                at("payments", "on saturday"),
            ),
            (
                "<@UBOT> payments on Saturday",
                at("payments", "on saturday"),
            ),
            ("<@UBOT> tonight", at("", "tonight")),
            ("<@UBOT> on Saturday?", at("", "on saturday")),
            // Asked, but not a time the bot reads: the answer shows the forms.
            ("who is on call at noonish", at("", "at noonish")),
        ];
        for (text, expected) in cases {
            assert_eq!(
                Command::parse_with_teams(text, "UBOT", &is_team),
                expected,
                "text {text:?}"
            );
        }
        // A time word in a help request, or before what is not a team, is not
        // a question about time.
        for text in [
            "<@UBOT> checkout on Saturday broke",
            "<@UBOT> billing on Saturday",
            "<@UBOT> on prod the db is down",
            "<@UBOT> at noon the db died",
        ] {
            assert_eq!(
                Command::parse_with_teams(text, "UBOT", &is_team),
                Command::WhoIsOnCall,
                "text {text:?}"
            );
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
