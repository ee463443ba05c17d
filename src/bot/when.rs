//! When a person means, from a short phrase: "at 22:00", "tonight", "tomorrow",
//! "on Saturday", "on 2026-12-24 09:00", "next week". Read in the asker's time
//! zone (jiff does the zones and DST); pure, so tested as a table.
//!
//! The phrases are few and fixed, so a small parser of our own reads them: a
//! general natural-language date crate would also read what people did not
//! mean as a time, and the bot must answer "I cannot read that" rather than
//! guess.

use jiff::civil::{Date, Time, Weekday};
use jiff::{Timestamp, ToSpan, ZonedDateTime};

/// A moment, or a span of time (`from` inclusive, `until` exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    At(Timestamp),
    Between { from: Timestamp, until: Timestamp },
}

/// What the bot says when it cannot read a phrase: the forms it can.
pub const FORMS: &str = "`at 22:00`, `tonight`, `today`, `tomorrow`, `tomorrow 09:00`, \
`on Saturday`, `on Saturday 14:30`, `on 2026-12-24`, `on 2026-12-24 09:00`, `next week`";

/// The phrase could not be read, or names a time outside the years the bot
/// speaks of (1970 to 2099: what the providers and Slack's dates take, and
/// where every time the bot writes is safe).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", if *.out_of_range {
    format!("I answer for times from 1970 to 2099 only, and `{}` is not one of them", .phrase)
} else {
    format!("I could not read `{}` as a time", .phrase)
})]
pub struct NotUnderstood {
    pub phrase: String,
    pub out_of_range: bool,
}

/// The first moment the bot answers for: 1970-01-01T00:00:00Z.
const EARLIEST_SECONDS: i64 = 0;
/// The moment after the last one it answers for: 2100-01-01T00:00:00Z.
const BEYOND_SECONDS: i64 = 4_102_444_800;

/// `Err` when `when` reaches outside 1970..2099.
fn within_range(when: When, phrase: &str) -> Result<When, NotUnderstood> {
    let inside =
        |moment: &Timestamp| (EARLIEST_SECONDS..BEYOND_SECONDS).contains(&moment.as_second());
    let ok = match &when {
        When::At(moment) => inside(moment),
        // `until` is exclusive: the end of 2099 is still inside.
        When::Between { from, until } => inside(from) && until.as_second() <= BEYOND_SECONDS,
    };
    if ok {
        Ok(when)
    } else {
        Err(NotUnderstood {
            phrase: phrase.trim().to_owned(),
            out_of_range: true,
        })
    }
}

/// The hour "tonight" means, when it is still ahead.
const TONIGHT: i8 = 22;

/// Reads `phrase` (lower or upper case, a trailing `?` or `.` allowed) at `now`,
/// in `now`'s time zone; a time outside 1970..2099 is refused in words.
pub fn parse_when(phrase: &str, now: &ZonedDateTime) -> Result<When, NotUnderstood> {
    within_range(read_when(phrase, now)?, phrase)
}

fn read_when(phrase: &str, now: &ZonedDateTime) -> Result<When, NotUnderstood> {
    let not_understood = || NotUnderstood {
        phrase: phrase.trim().to_owned(),
        out_of_range: false,
    };
    let lowered = phrase
        .trim()
        .trim_end_matches(['?', '.', '!'])
        .to_lowercase();
    let words: Vec<&str> = lowered.split_whitespace().collect();
    let today = now.date();
    let day = |date: Date, time: Option<Time>| -> Result<When, NotUnderstood> {
        match time {
            Some(time) => at(date, time, now),
            None => whole_day(date, now),
        }
    };
    match words.as_slice() {
        ["now"] => Ok(When::At(now.timestamp())),
        ["tonight"] => {
            let tonight = at(today, Time::constant(TONIGHT, 0, 0, 0), now)?;
            Ok(match tonight {
                When::At(moment) if moment < now.timestamp() => When::At(now.timestamp()),
                other => other,
            })
        }
        ["today"] => Ok(When::Between {
            from: now.timestamp(),
            until: end_of(today, now)?,
        }),
        ["today", rest @ ..] => day(today, Some(time_of(rest).ok_or_else(not_understood)?)),
        ["tomorrow", rest @ ..] => {
            let tomorrow = today.tomorrow().map_err(|_| not_understood())?;
            let time = match rest {
                [] => None,
                rest => Some(time_of(rest).ok_or_else(not_understood)?),
            };
            day(tomorrow, time)
        }
        ["at", rest @ ..] => {
            let time = time_of(rest).ok_or_else(not_understood)?;
            let moment = at(today, time, now)?;
            match moment {
                // Already past today: the next one.
                When::At(moment) if moment < now.timestamp() => {
                    let tomorrow = today.tomorrow().map_err(|_| not_understood())?;
                    at(tomorrow, time, now)
                }
                other => Ok(other),
            }
        }
        ["next", "week"] => {
            let monday = next_weekday(today, Weekday::Monday, false);
            let from = start_of(monday, now)?;
            let after = monday.checked_add(7.days()).map_err(|_| not_understood())?;
            Ok(When::Between {
                from,
                until: start_of(after, now)?,
            })
        }
        ["on", day_word, rest @ ..] | [day_word, rest @ ..] => {
            let date = weekday(day_word)
                .map(|weekday| next_weekday(today, weekday, true))
                .or_else(|| day_word.parse::<Date>().ok())
                .ok_or_else(not_understood)?;
            if !(1970..=2099).contains(&date.year()) {
                return Err(NotUnderstood {
                    phrase: phrase.trim().to_owned(),
                    out_of_range: true,
                });
            }
            let time = match rest {
                [] => None,
                rest => Some(time_of(rest).ok_or_else(not_understood)?),
            };
            day(date, time)
        }
        [] => Err(not_understood()),
    }
}

/// The forms a span to take the call for can have.
pub const SPAN_FORMS: &str = "`until 18:00`, `until tomorrow 09:00`, `09:00-13:00`, \
`tomorrow 09:00-13:00`, `on Saturday 08:00-20:00`";

/// A span to take the call for: `until <time>` (from now), or
/// `[<day>] HH:MM-HH:MM`. `Err` when it cannot be read, or reaches outside
/// 1970..2099.
pub fn parse_span(
    phrase: &str,
    now: &ZonedDateTime,
) -> Result<(Timestamp, Timestamp), NotUnderstood> {
    let (from, until) = read_span(phrase, now)?;
    within_range(When::Between { from, until }, phrase)?;
    Ok((from, until))
}

fn read_span(phrase: &str, now: &ZonedDateTime) -> Result<(Timestamp, Timestamp), NotUnderstood> {
    let not_understood = || NotUnderstood {
        phrase: phrase.trim().to_owned(),
        out_of_range: false,
    };
    let lowered = phrase
        .trim()
        .trim_end_matches(['?', '.', '!'])
        .to_lowercase();
    if let Some(until) = lowered.strip_prefix("until ") {
        // `until 18:00` reads as `at 18:00`: the next 18:00.
        let until = if until.starts_with(|c: char| c.is_ascii_digit()) {
            format!("at {until}")
        } else {
            until.to_owned()
        };
        let end = match parse_when(&until, now)? {
            When::At(moment) => moment,
            When::Between { from, .. } => from,
        };
        return Ok((now.timestamp(), end));
    }
    let words: Vec<&str> = lowered.split_whitespace().collect();
    let Some((range, day_words)) = words.split_last() else {
        return Err(not_understood());
    };
    let (start, end) = range.split_once('-').ok_or_else(not_understood)?;
    let (start, end) = (
        time_of(&[start]).ok_or_else(not_understood)?,
        time_of(&[end]).ok_or_else(not_understood)?,
    );
    let date = if day_words.is_empty() {
        now.date()
    } else {
        match parse_when(&day_words.join(" "), now)? {
            // One day (23 to 25 hours), not a week.
            When::Between { from, until } if until.duration_since(from).as_secs() <= 25 * 3600 => {
                from.to_zoned_datetime(now.time_zone().clone()).date()
            }
            _ => return Err(not_understood()),
        }
    };
    let (When::At(from), When::At(until)) = (at(date, start, now)?, at(date, end, now)?) else {
        return Err(not_understood());
    };
    if until <= from {
        return Err(not_understood());
    }
    Ok((from, until))
}

/// `22:00`, `9:30`, `9`, `9pm`, `9:30 pm`, optionally after `at`.
fn time_of(words: &[&str]) -> Option<Time> {
    let words = match words {
        ["at", rest @ ..] => rest,
        rest => rest,
    };
    let text: String = words.concat();
    let (clock, meridiem) = if let Some(clock) = text.strip_suffix("am") {
        (clock, Some(false))
    } else if let Some(clock) = text.strip_suffix("pm") {
        (clock, Some(true))
    } else {
        (text.as_str(), None)
    };
    let (hour, minute) = match clock.split_once(':') {
        Some((hour, minute)) if minute.len() == 2 => (hour, minute),
        Some(_) => return None,
        None => (clock, "00"),
    };
    if hour.is_empty() || hour.len() > 2 || !hour.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut hour: i8 = hour.parse().ok()?;
    let minute: i8 = minute.parse().ok()?;
    match meridiem {
        Some(_) if !(1..=12).contains(&hour) => return None,
        Some(true) if hour < 12 => hour += 12,
        Some(false) if hour == 12 => hour = 0,
        _ => {}
    }
    Time::new(hour, minute, 0, 0).ok()
}

fn weekday(word: &str) -> Option<Weekday> {
    let days = [
        ("monday", Weekday::Monday),
        ("tuesday", Weekday::Tuesday),
        ("wednesday", Weekday::Wednesday),
        ("thursday", Weekday::Thursday),
        ("friday", Weekday::Friday),
        ("saturday", Weekday::Saturday),
        ("sunday", Weekday::Sunday),
    ];
    days.iter()
        .find(|(name, _)| word.len() >= 3 && name.starts_with(word))
        .map(|(_, day)| *day)
}

/// The next `weekday` from `today`: today itself when `inclusive`.
fn next_weekday(today: Date, weekday: Weekday, inclusive: bool) -> Date {
    let ahead =
        i64::from(weekday.to_monday_zero_offset() - today.weekday().to_monday_zero_offset())
            .rem_euclid(7);
    let ahead = if ahead == 0 && !inclusive { 7 } else { ahead };
    today.checked_add(ahead.days()).unwrap_or(today)
}

/// `date` at `time` in `now`'s zone: in a DST gap, the time after it; in an
/// overlap, the earlier of the two.
fn at(date: Date, time: Time, now: &ZonedDateTime) -> Result<When, NotUnderstood> {
    date.to_datetime(time)
        .to_zoned_datetime(now.time_zone().clone())
        .map(|zoned| When::At(zoned.timestamp()))
        .map_err(|_| NotUnderstood {
            phrase: date.to_string(),
            out_of_range: false,
        })
}

fn start_of(date: Date, now: &ZonedDateTime) -> Result<Timestamp, NotUnderstood> {
    date.to_zoned_datetime(now.time_zone().clone())
        .map(|zoned| zoned.timestamp())
        .map_err(|_| NotUnderstood {
            phrase: date.to_string(),
            out_of_range: false,
        })
}

fn end_of(date: Date, now: &ZonedDateTime) -> Result<Timestamp, NotUnderstood> {
    let next = date.tomorrow().map_err(|_| NotUnderstood {
        phrase: date.to_string(),
        out_of_range: false,
    })?;
    start_of(next, now)
}

/// The whole of `date`, midnight to midnight (23 or 25 hours on DST days); from
/// now when `date` is today.
fn whole_day(date: Date, now: &ZonedDateTime) -> Result<When, NotUnderstood> {
    let (start, until) = (start_of(date, now)?, end_of(date, now)?);
    let from = if now.timestamp() < until {
        start.max(now.timestamp())
    } else {
        start
    };
    Ok(When::Between { from, until })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now(zone: &str, civil: &str) -> ZonedDateTime {
        civil
            .parse::<jiff::civil::DateTime>()
            .expect("a date-time")
            .in_tz(zone)
            .expect("a zone")
    }

    fn instant(zone: &str, civil: &str) -> Timestamp {
        now(zone, civil).timestamp()
    }

    #[test]
    fn phrases_read_as_moments_in_the_askers_zone() {
        // Monday 2026-11-23, 15:00 local.
        let cases = [
            ("Europe/Berlin", "at 22:00", "2026-11-23T22:00"),
            ("Europe/Berlin", "at 9", "2026-11-24T09:00"),
            ("Europe/Berlin", "at 9pm", "2026-11-23T21:00"),
            ("Europe/Berlin", "at 12am", "2026-11-24T00:00"),
            ("Europe/Berlin", "at 9:30 PM?", "2026-11-23T21:30"),
            ("Europe/Berlin", "tonight", "2026-11-23T22:00"),
            ("America/New_York", "tonight", "2026-11-23T22:00"),
            ("Asia/Kolkata", "tomorrow 09:00", "2026-11-24T09:00"),
            ("Asia/Kolkata", "tomorrow at 9am", "2026-11-24T09:00"),
            ("Pacific/Auckland", "on Saturday 14:30", "2026-11-28T14:30"),
            ("UTC", "on 2026-12-24 09:00", "2026-12-24T09:00"),
            ("UTC", "2026-12-24 at 9:00", "2026-12-24T09:00"),
            ("UTC", "today 16:00", "2026-11-23T16:00"),
            ("UTC", "sat 10", "2026-11-28T10:00"),
        ];
        for (zone, phrase, expected) in cases {
            let now = now(zone, "2026-11-23T15:00");
            assert_eq!(
                parse_when(phrase, &now),
                Ok(When::At(instant(zone, expected))),
                "{phrase} in {zone}"
            );
        }
        let late = now("Europe/Berlin", "2026-11-23T23:10");
        assert_eq!(
            parse_when("tonight", &late),
            Ok(When::At(late.timestamp())),
            "tonight, when it is later than 22:00 already, is now"
        );
    }

    #[test]
    fn a_time_outside_1970_to_2099_is_refused_in_words_not_read() {
        let now = now("UTC", "2026-11-23T15:00");
        for phrase in [
            "on 1969-12-31",
            "on 1969-12-31 23:59",
            "on 0001-01-01",
            "on 2100-01-01",
            "on 9999-12-31 09:00",
        ] {
            let refused = parse_when(phrase, &now).expect_err(phrase);
            assert!(refused.out_of_range, "{phrase}");
            assert_eq!(
                refused.to_string(),
                format!(
                    "I answer for times from 1970 to 2099 only, and `{phrase}` is not one of them"
                )
            );
        }
        for phrase in ["on 1970-01-01", "on 2099-12-31", "on 2099-12-31 23:59"] {
            assert!(parse_when(phrase, &now).is_ok(), "{phrase}");
        }
        for span in ["on 1969-12-31 09:00-10:00", "until on 2100-01-02"] {
            let refused = parse_span(span, &now).expect_err(span);
            assert!(refused.out_of_range, "{span}");
        }
        assert!(
            !parse_when("on someday", &now)
                .expect_err("unread")
                .out_of_range
        );
    }

    #[test]
    fn days_and_weeks_read_as_spans_from_midnight_to_midnight() {
        let zone = "Europe/Berlin";
        let monday = now(zone, "2026-11-23T15:00");
        let span = |from: &str, until: &str| When::Between {
            from: instant(zone, from),
            until: instant(zone, until),
        };
        for (phrase, from, until, why) in [
            ("on Saturday", "2026-11-28T00:00", "2026-11-29T00:00", ""),
            ("tomorrow", "2026-11-24T00:00", "2026-11-25T00:00", ""),
            (
                "next week",
                "2026-11-30T00:00",
                "2026-12-07T00:00",
                "next week starts next Monday, even on a Monday",
            ),
            (
                "on Monday",
                "2026-11-23T15:00",
                "2026-11-24T00:00",
                "today's weekday is today, from now",
            ),
            ("today", "2026-11-23T15:00", "2026-11-24T00:00", ""),
            ("on 2026-12-24", "2026-12-24T00:00", "2026-12-25T00:00", ""),
            (
                "on 2026-11-20",
                "2026-11-20T00:00",
                "2026-11-21T00:00",
                "a day gone by is the whole of it",
            ),
        ] {
            assert_eq!(
                parse_when(phrase, &monday),
                Ok(span(from, until)),
                "{phrase}: {why}"
            );
        }
    }

    #[test]
    fn dst_days_are_23_or_25_hours_and_a_missing_hour_moves_forward() {
        let zone = "Europe/Berlin";
        // Clocks go forward at 02:00 on Sunday 2026-03-29, back on 2026-10-25.
        let saturday = now(zone, "2026-03-28T12:00");
        let Ok(When::Between { from, until }) = parse_when("tomorrow", &saturday) else {
            panic!("a span");
        };
        assert_eq!(until.duration_since(from).as_secs(), 23 * 3600);
        assert_eq!(
            parse_when("tomorrow 02:30", &saturday),
            Ok(When::At(instant("UTC", "2026-03-29T01:30"))),
            "02:30 does not exist that night: 03:30 CEST"
        );
        let autumn = now(zone, "2026-10-24T12:00");
        let Ok(When::Between { from, until }) = parse_when("tomorrow", &autumn) else {
            panic!("a span");
        };
        assert_eq!(until.duration_since(from).as_secs(), 25 * 3600);
        assert_eq!(
            parse_when("tomorrow 02:30", &autumn),
            Ok(When::At(instant("UTC", "2026-10-25T00:30"))),
            "02:30 happens twice: the first, CEST"
        );
    }

    #[test]
    fn spans_to_take_the_call_for() {
        let zone = "Europe/Berlin";
        let monday = now(zone, "2026-11-23T15:00");
        let cases = [
            ("until 18:00", "2026-11-23T15:00", "2026-11-23T18:00"),
            (
                "until tomorrow 09:00",
                "2026-11-23T15:00",
                "2026-11-24T09:00",
            ),
            ("16:00-20:00", "2026-11-23T16:00", "2026-11-23T20:00"),
            (
                "tomorrow 09:00-13:00",
                "2026-11-24T09:00",
                "2026-11-24T13:00",
            ),
            (
                "on Saturday 08:00-20:00",
                "2026-11-28T08:00",
                "2026-11-28T20:00",
            ),
        ];
        for (phrase, from, until) in cases {
            assert_eq!(
                parse_span(phrase, &monday),
                Ok((instant(zone, from), instant(zone, until))),
                "{phrase}"
            );
        }
        for phrase in [
            "",
            "until",
            "tomorrow",
            "13:00-09:00",
            "soon-ish",
            "tomorrow 9-",
            "next week 09:00-10:00",
        ] {
            assert!(parse_span(phrase, &monday).is_err(), "{phrase:?}");
        }
    }

    #[test]
    fn what_is_not_a_time_is_refused_not_guessed() {
        let monday = now("UTC", "2026-11-23T15:00");
        for phrase in [
            "",
            "at",
            "at 25:00",
            "at 9:7",
            "at 13pm",
            "at noonish",
            "on the weekend",
            "on",
            "tomorrow afternoon",
            "soon",
            "2026-13-01",
            "on 2026-02-30",
            "next month",
            "at -1",
        ] {
            assert!(
                parse_when(phrase, &monday).is_err(),
                "{phrase:?} should not be read"
            );
        }
        assert_eq!(
            parse_when("whenever", &monday)
                .expect_err("refused")
                .to_string(),
            "I could not read `whenever` as a time"
        );
    }

    /// A small, bounded fuzzer that runs with every `cargo test` (the
    /// `time_phrases` cargo-fuzz target explores the same for longer): phrases
    /// made of the words the parser knows and of absurd dates, times and spans,
    /// read in several zones at moments from 1970 to 2106, never panic, and
    /// what they read lies in 1970..2099 and can be written.
    #[test]
    fn any_phrase_of_known_and_absurd_words_never_panics_and_reads_within_range() {
        let words = [
            "on",
            "at",
            "until",
            "tomorrow",
            "today",
            "tonight",
            "next",
            "week",
            "now",
            "saturday",
            "mon",
            "1969-12-31",
            "1970-01-01",
            "2099-12-31",
            "2100-01-01",
            "9999-12-31",
            "0001-01-01",
            "-0001-01-01",
            "00:00",
            "23:59",
            "24:00",
            "25:99",
            "9pm",
            "12am",
            "13pm",
            "09:00-13:00",
            "23:00-01:00",
            "0:00-23:59",
            "-",
            ":",
            "9999999999",
            "2026-02-30",
            "2026-13-01",
            "?",
            "",
            "  ",
            "é",
            "\u{0}",
        ];
        let zones = [
            "UTC",
            "Europe/Berlin",
            "America/New_York",
            "Pacific/Chatham",
        ];
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let length = (next() % 5) as usize;
            let phrase: Vec<&str> = (0..length)
                .map(|_| words[(next() % words.len() as u64) as usize])
                .collect();
            let phrase = phrase.join(" ");
            let zone = jiff::tz::TimeZone::get(zones[(next() % 4) as usize]).expect("a zone");
            let seconds = (next() % 4_294_967_295) as i64;
            let Ok(moment) = Timestamp::from_second(seconds) else {
                continue;
            };
            let now = moment.to_zoned_datetime(zone);
            let check = |moment: Timestamp| {
                assert!(
                    (0..=BEYOND_SECONDS).contains(&moment.as_second()),
                    "`{phrase}` at {now}: {moment}"
                );
                let time = std::time::SystemTime::try_from(moment).expect("a time");
                let _ = crate::slack::markup::slack_date(time);
            };
            match parse_when(&phrase, &now) {
                Ok(When::At(moment)) => check(moment),
                Ok(When::Between { from, until }) => {
                    check(from);
                    check(until);
                }
                Err(error) => drop(error.to_string()),
            }
            if let Ok((from, until)) = parse_span(&phrase, &now) {
                check(from);
                check(until);
            }
        }
    }
}
