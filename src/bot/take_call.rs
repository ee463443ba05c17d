//! Taking the call from Slack: `@ops take call until 18:00` (or
//! `tomorrow 09:00-13:00`, `for payments …`). The bot asks the asker to confirm
//! (a Confirm button, or `@ops yes` in the thread); only the asker's
//! confirmation counts. Then an override in the schedule makes them the
//! on-call person for the span, the people they replace are mentioned, and the
//! cached answer for the schedule is dropped.

use std::time::{Duration, SystemTime};

use jiff::Timestamp;

use super::replies::{escape, slack_date};
use super::service::Bot;
use super::when::{parse_span, SPAN_FORMS};
use crate::model::{Request, TakeCallCard, ThreadMessage};
use crate::providers::ActionError;

/// How long a question to confirm stays open.
pub const CONFIRM_WITHIN: Duration = Duration::from_secs(10 * 60);

/// What the bot asked someone to confirm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTake {
    pub asker: String,
    pub email: String,
    pub schedule: String,
    pub from: SystemTime,
    pub until: SystemTime,
}

impl Bot {
    /// `take call …`: asks the asker to confirm the span.
    pub(super) async fn ask_to_take_call(
        &self,
        request: &Request,
        team: &str,
        span: &str,
    ) -> ThreadMessage {
        let schedule = if team.is_empty() {
            self.schedule_for(request).to_owned()
        } else {
            match self.routing_team(team) {
                Some(schedule) => schedule,
                None => return ThreadMessage::plain(self.unknown_team(team)),
            }
        };
        let zone = self
            .user_zone(&request.user)
            .await
            .and_then(|name| jiff::tz::TimeZone::get(&name).ok())
            .unwrap_or(jiff::tz::TimeZone::UTC);
        let now = Timestamp::now().to_zoned_datetime(zone);
        let (from, until) = match parse_span(span, &now) {
            Ok(span) => span,
            Err(error) => {
                return ThreadMessage::plain(format!(
                    "{}. To take the call, write e.g. {SPAN_FORMS}.",
                    escape(&error.to_string())
                ))
            }
        };
        let (from, until) = (
            SystemTime::try_from(from).unwrap_or(SystemTime::UNIX_EPOCH),
            SystemTime::try_from(until).unwrap_or(SystemTime::UNIX_EPOCH),
        );
        if until <= SystemTime::now() {
            return ThreadMessage::plain(format!(
                "That span is over already (it ended {}); nothing to take.",
                slack_date(until)
            ));
        }
        let Some(email) = self.user_email(&request.user).await else {
            return ThreadMessage::plain(
                "I cannot see your email in Slack, so I cannot put you in the schedule.".to_owned(),
            );
        };
        let replaced = self.replaced_by(&schedule, from).await;
        let pending = PendingTake {
            asker: request.user.clone(),
            email,
            schedule: schedule.clone(),
            from,
            until,
        };
        self.pending_takes
            .insert(
                (request.channel.clone(), request.thread_ts.clone()),
                pending,
            )
            .await;
        let text = format!(
            "<@{}>, take the call for *{}* from {} until {}{}? Confirm with the button, or reply `@ops yes` here.",
            request.user,
            escape(&schedule),
            slack_date(from),
            slack_date(until),
            replaced
                .map(|names| format!(", replacing {names}"))
                .unwrap_or_default()
        );
        ThreadMessage::plain(text).with_confirm(TakeCallCard {
            thread_ts: request.thread_ts.clone(),
        })
    }

    /// Who is on call for `schedule` at `at`, named, when anyone is.
    async fn replaced_by(&self, schedule: &str, at: SystemTime) -> Option<String> {
        let people = self.directory.on_call_at(schedule, at).await.ok()?;
        if people.is_empty() {
            return None;
        }
        let mut names = Vec::new();
        for person in &people {
            names.push(self.directory.mention_of(person).await);
        }
        Some(names.join(", "))
    }

    /// A confirmation (the button, or `yes`) by `user` in the thread: only the
    /// asker's counts. Returns the thread reply.
    pub async fn confirm_take(&self, channel: &str, thread_ts: &str, user: &str) -> String {
        let key = (channel.to_owned(), thread_ts.to_owned());
        let Some(pending) = self.pending_takes.get(&key).await else {
            return "There is nothing to confirm in this thread (a request to take the call expires after 10 minutes).".to_owned();
        };
        if pending.asker != user {
            return format!(
                "Only <@{}>, who asked to take the call, can confirm it.",
                pending.asker
            );
        }
        self.pending_takes.invalidate(&key).await;
        let replaced = self.replaced_by(&pending.schedule, pending.from).await;
        let from = pending.from.max(SystemTime::now());
        match self
            .directory
            .take_call(&pending.schedule, &pending.email, from, pending.until)
            .await
        {
            Ok(()) => {
                self.directory.forget(&pending.schedule).await;
                tracing::info!(schedule = %pending.schedule, "call taken through an override");
                format!(
                    "Done: <@{}> is on call for *{}* from {} until {}{}.",
                    pending.asker,
                    escape(&pending.schedule),
                    slack_date(from),
                    slack_date(pending.until),
                    replaced
                        .map(|names| format!(", replacing {names}"))
                        .unwrap_or_default()
                )
            }
            Err(ActionError::Refused(reason)) => format!(
                "{} did not take the override: {}. Nothing changed.",
                self.source_name(),
                escape(reason.trim_end_matches('.'))
            ),
            Err(error) => {
                tracing::warn!(%error, "could not create the override");
                format!(
                    "I could not reach {} to take the call; nothing changed. Please try again.",
                    self.source_name()
                )
            }
        }
    }
}
