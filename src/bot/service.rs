//! The bot service: reads a request, works out the answer, says it in the thread.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use super::command::{strip_mentions_of, Command};
use super::replies::{
    alert_text, escape, on_call_text, unknown_team_text, ALERTS_OFF_TEXT, ALERT_COMMANDS_HELP_TEXT,
    CACHE_CLEARED_TEXT, CACHE_JUST_CLEARED_TEXT, HELP_TEXT, LOOKUP_FAILED_TEXT, PAGE_HELP_TEXT,
    PAGE_HINT_TEXT, PAGING_OFF_TEXT, TAKE_CALL_OFF_TEXT,
};
use super::when::{parse_span, SPAN_FORMS};
use crate::alert_threads::AlertThreads;
use crate::alerting::{AlertMode, AlertOutcome, AlertRaiser};
use crate::model::{BotIdentity, OverrideClick, Request, RequestKind, SlashCommand, ThreadMessage};
use crate::oncall::OnCallDirectory;
use crate::overrides::{Confirmation, CoverRequest, Overrides, TakeRequest};
use crate::routing::{Destination, Routing};
use crate::slack::{ResponseKind, SlackApi, SlackError, SlackUser};
use crate::store::SharedState;
use moka::future::Cache;

/// `cache clear` is cheap to send and costly to honour (every answer after it
/// goes upstream): once per channel in this long.
pub const CACHE_CLEAR_INTERVAL: Duration = Duration::from_secs(10);

/// How soon a person's Home tab is published again.
pub const HOME_REPUBLISH_AFTER: Duration = Duration::from_secs(5);

/// How long an asker's zone and email are remembered.
const ASKER_TTL: Duration = Duration::from_secs(60 * 60);

/// Answers requests: decides what to say and says it in the request's thread.
pub struct Bot {
    identity: BotIdentity,
    pub(super) schedule: String,
    pub(super) directory: Arc<OnCallDirectory>,
    pub(super) slack: Arc<SlackApi>,
    alerts: Option<AlertRaiser>,
    /// The raised alerts' threads: buttons, text commands, webhook news.
    threads: Option<Arc<AlertThreads>>,
    pub(super) routing: Routing,
    /// When each channel last cleared the cache.
    clears: Mutex<HashMap<String, Instant>>,
    /// Tells the other replicas of a cache clear (`STATE_URL`).
    shared: Option<Arc<SharedState>>,
    /// Slack users' time zones and emails (`users.info`), for questions about
    /// time.
    askers: Cache<String, Arc<SlackUser>>,
    /// Taking the call: the policy, the requests waiting, the overrides made.
    overrides: Option<Arc<Overrides>>,
    /// Whose Home tab was published moments ago.
    pub(super) recent_homes: Cache<String, ()>,
}

impl Bot {
    pub fn new(
        identity: BotIdentity,
        schedule: String,
        directory: Arc<OnCallDirectory>,
        slack: Arc<SlackApi>,
    ) -> Self {
        Self {
            identity,
            schedule,
            directory,
            slack,
            alerts: None,
            threads: None,
            routing: Routing::default(),
            clears: Mutex::new(HashMap::new()),
            shared: None,
            askers: Cache::builder()
                .time_to_live(ASKER_TTL)
                .max_capacity(10_000)
                .build(),
            overrides: None,
            recent_homes: Cache::builder()
                .time_to_live(HOME_REPUBLISH_AFTER)
                .max_capacity(10_000)
                .build(),
        }
    }

    /// People may take the call, through this service.
    pub fn with_overrides(mut self, overrides: Arc<Overrides>) -> Self {
        self.overrides = Some(overrides);
        self
    }

    /// Taking the call, when it is set up.
    pub fn overrides(&self) -> Option<&Arc<Overrides>> {
        self.overrides.as_ref()
    }

    /// A cache clear here clears every replica's cache.
    pub fn with_shared_state(mut self, shared: Arc<SharedState>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Teams and channel defaults: which schedule a request is about.
    pub fn with_routing(mut self, routing: Routing) -> Self {
        self.routing = routing;
        self
    }

    /// Also raises an alert for every help request.
    pub fn with_alerts(mut self, alerts: AlertRaiser) -> Self {
        self.alerts = Some(alerts);
        self
    }

    /// Answers with an alert carry its state and buttons, and act on it.
    pub fn with_alert_threads(mut self, threads: Arc<AlertThreads>) -> Self {
        self.threads = Some(threads);
        self
    }

    /// The raised alerts' threads, when alerts are on.
    pub fn alert_threads(&self) -> Option<&Arc<AlertThreads>> {
        self.threads.as_ref()
    }

    pub fn identity(&self) -> &BotIdentity {
        &self.identity
    }

    /// The on-call source's name ("OpsGenie").
    pub fn source_name(&self) -> &'static str {
        self.directory.source_name()
    }

    /// Whether the last call to the on-call source succeeded (`None`: no call yet).
    pub fn source_healthy(&self) -> Option<bool> {
        self.directory.source_healthy()
    }

    /// Works out the reply and posts it in the request's thread.
    ///
    /// Each step is boxed: inline, the two would make every answer's task
    /// ~15 KB (nested HTTP client futures), copied at spawn and held for as long
    /// as a reply waits its turn; boxed, a step takes its memory only while it
    /// runs.
    pub async fn answer(&self, request: &Request) -> Result<(), SlackError> {
        let reply = Box::pin(self.reply_to(request)).await;
        self.post_reply(request, reply).await
    }

    /// Posts `reply` in the request's thread (with its blocks, and the alert
    /// it carries remembered, when it has them).
    pub async fn post_reply(
        &self,
        request: &Request,
        reply: ThreadMessage,
    ) -> Result<(), SlackError> {
        if !reply.has_blocks() {
            return Box::pin(self.slack.post_in_thread(
                &request.channel,
                &request.thread_ts,
                &reply.text,
            ))
            .await;
        }
        let ts = Box::pin(self.slack.post_message_in_thread(
            &request.channel,
            &request.thread_ts,
            &reply,
        ))
        .await?;
        if let (Some(card), Some(threads)) = (&reply.card, &self.threads) {
            threads.remember(request, &card.alias, ts, reply.text).await;
        }
        Ok(())
    }

    /// Answers `/oncall [what] [public]` at its `response_url`: the same answers
    /// as the mention forms, to the caller alone unless they add `public`.
    pub async fn answer_command(&self, command: &SlashCommand) -> Result<(), SlackError> {
        let text = command.text.trim();
        let (text, public) = match text.strip_suffix("public") {
            Some(rest) if rest.is_empty() || rest.ends_with(char::is_whitespace) => {
                (rest.trim(), true)
            }
            _ => (text, false),
        };
        let request = Request {
            kind: RequestKind::SlashCommand,
            channel: command.channel.clone(),
            user: command.user.clone(),
            ts: String::new(),
            thread_ts: String::new(),
            text: text.to_owned(),
            user_team: command.user_team.clone(),
        };
        let reply = Box::pin(self.reply_to(&request)).await;
        let kind = if public {
            ResponseKind::InChannel
        } else {
            ResponseKind::Ephemeral
        };
        self.slack
            .respond(&command.response_url, &reply, kind)
            .await
    }

    /// Posts `text` in a thread.
    pub async fn say_in_thread(
        &self,
        channel: &str,
        thread_ts: &str,
        text: &str,
    ) -> Result<(), SlackError> {
        self.slack.post_in_thread(channel, thread_ts, text).await
    }

    /// Tells `user` alone (an ephemeral message), logging a failure.
    pub async fn tell_privately(
        &self,
        channel: &str,
        user: &str,
        thread_ts: Option<&str>,
        text: &str,
    ) {
        if let Err(error) = self
            .slack
            .post_ephemeral(channel, user, thread_ts, text)
            .await
        {
            tracing::warn!(%error, "could not tell someone privately");
        }
    }

    /// Tells `user` something in the bot's DM with them, logging a failure.
    pub async fn tell_by_dm(&self, user: &str, text: &str) {
        let sent = async {
            let channel = self.slack.open_dm(user).await?;
            self.slack.post_message(&channel, text).await
        };
        if let Err(error) = sent.await {
            tracing::warn!(%error, "could not tell someone by DM");
        }
    }

    /// Answers a slash command's caller alone at its `response_url`, logging a
    /// failure.
    pub async fn respond_privately(&self, response_url: &str, text: &str) {
        let message = ThreadMessage::plain(text.to_owned());
        if let Err(error) = self
            .slack
            .respond(response_url, &message, ResponseKind::Ephemeral)
            .await
        {
            tracing::warn!(%error, "could not answer at the response_url");
        }
    }

    /// Says what became of a click on Confirm or Undo where it happened: at
    /// the click's `response_url` in place of an ephemeral message (or of a
    /// message at the top of a channel the bot may not be in, such as a public
    /// `/oncall` answer), in place of the message clicked (`in_place`), else
    /// in its thread.
    pub async fn say_where_clicked(
        &self,
        click: &OverrideClick,
        reply: &ThreadMessage,
        in_place: bool,
    ) -> Result<(), SlackError> {
        let replace_at_url = click.ephemeral || (!in_place && click.thread_ts.is_none());
        match (&click.response_url, &click.message_ts) {
            (Some(url), _) if replace_at_url => {
                self.slack
                    .respond(url, reply, ResponseKind::ReplaceOriginal)
                    .await
            }
            (_, Some(ts)) if in_place && !click.ephemeral => {
                self.slack.update_message(&click.channel, ts, reply).await
            }
            (_, Some(ts)) if !click.ephemeral => {
                let thread_ts = click.thread_ts.as_deref().unwrap_or(ts);
                self.slack
                    .post_message_in_thread(&click.channel, thread_ts, reply)
                    .await
                    .map(drop)
            }
            _ => Err(SlackError::Request(
                "the click names no place to answer".to_owned(),
            )),
        }
    }

    /// Tells the clicker alone: an ephemeral message by the one clicked (at
    /// the click's `response_url`, which leaves the message as it was, when
    /// that message is ephemeral itself).
    pub async fn tell_clicker(&self, click: &OverrideClick, text: &str) -> Result<(), SlackError> {
        match &click.response_url {
            Some(url) if click.ephemeral => {
                self.slack
                    .respond(
                        url,
                        &ThreadMessage::plain(text.to_owned()),
                        ResponseKind::Ephemeral,
                    )
                    .await
            }
            _ => {
                self.slack
                    .post_ephemeral(
                        &click.channel,
                        &click.user,
                        click.thread_ts.as_deref(),
                        text,
                    )
                    .await
            }
        }
    }

    /// What the bot says to `request`. The answers other than who is on call
    /// are boxed: inline, the largest of them (taking the call, cover) would
    /// size every answer's future.
    pub async fn reply_to(&self, request: &Request) -> ThreadMessage {
        let is_team = |name: &str| self.routing.team_named(name).is_some();
        match Command::parse_with_teams(&request.text, &self.identity.user_id, &is_team) {
            Command::OnCallAt { subject, phrase } => {
                let schedule = if subject.is_empty() {
                    self.schedule_for(request).to_owned()
                } else {
                    match self.routing.team_named(&subject) {
                        Some(team) => team.schedule.clone(),
                        None => {
                            return ThreadMessage::plain(unknown_team_text(&subject, &self.routing))
                        }
                    }
                };
                if phrase == "now" {
                    return self.who_is_on_call(request, &schedule, false).await;
                }
                ThreadMessage::plain(
                    Box::pin(self.on_call_in_time(request, &schedule, &phrase)).await,
                )
            }
            Command::Next => {
                ThreadMessage::plain(Box::pin(self.next_on_call(self.schedule_for(request))).await)
            }
            Command::WhenAmIOn => ThreadMessage::plain(Box::pin(self.my_shifts(request)).await),
            Command::TakeCall { team, span } => {
                Box::pin(self.ask_to_take_call(request, &team, &span)).await
            }
            Command::CoverMe { team, span, note } => {
                Box::pin(self.ask_for_cover(request, &team, &span, &note)).await
            }
            Command::Yes => match (&self.overrides, request.ts == request.thread_ts) {
                (_, true) => ThreadMessage::plain(
                    "There is nothing to confirm here: reply `@ops yes` in the thread where I \
                     asked."
                        .to_owned(),
                ),
                (None, false) => ThreadMessage::plain(TAKE_CALL_OFF_TEXT.to_owned()),
                (Some(overrides), false) => Box::pin(overrides.confirm(Confirmation::InThread {
                    channel: &request.channel,
                    thread_ts: &request.thread_ts,
                    user: &request.user,
                }))
                .await
                .into_message(),
            },
            Command::Alert(action) => ThreadMessage::plain(match &self.threads {
                Some(threads) => Box::pin(threads.by_text(request, action)).await,
                None => ALERTS_OFF_TEXT.to_owned(),
            }),
            Command::WhoIsOnCall => {
                let schedule = self.schedule_for(request);
                self.who_is_on_call(request, schedule, false).await
            }
            Command::Page => {
                let schedule = self.schedule_for(request);
                self.who_is_on_call(request, schedule, true).await
            }
            Command::Team(name) => match self.routing.team_named(&name) {
                Some(team) => self.who_is_on_call(request, &team.schedule, false).await,
                None => ThreadMessage::plain(unknown_team_text(&name, &self.routing)),
            },
            Command::Help => ThreadMessage::plain(self.help_text()),
            Command::ClearCache => ThreadMessage::plain(Box::pin(self.clear_cache(request)).await),
        }
    }

    /// The schedule and how it is named (a team named, else the channel's,
    /// else the default) and the span read in the asker's zone; `Err` is the
    /// answer when either cannot be had.
    async fn schedule_and_span(
        &self,
        request: &Request,
        team: &str,
        span: &str,
        what: &str,
    ) -> Result<(String, String, SystemTime, SystemTime), ThreadMessage> {
        let (schedule, label) = if team.is_empty() {
            let text = strip_mentions_of(&request.text, &self.identity.user_id);
            match self.routing.destination(&request.channel, &text) {
                Destination::Team(team) => (team.schedule.clone(), team.name.clone()),
                Destination::Default => (self.schedule.clone(), self.schedule.clone()),
            }
        } else {
            match self.routing.team_named(team) {
                Some(team) => (team.schedule.clone(), team.name.clone()),
                None => return Err(ThreadMessage::plain(self.unknown_team(team))),
            }
        };
        let zone = self
            .user_zone(&request.user)
            .await
            .and_then(|name| jiff::tz::TimeZone::get(&name).ok())
            .unwrap_or(jiff::tz::TimeZone::UTC);
        let now = jiff::Timestamp::now().to_zoned_datetime(zone);
        let (from, until) = parse_span(span, &now).map_err(|error| {
            ThreadMessage::plain(format!(
                "{}. To {what}, write e.g. {SPAN_FORMS}.",
                escape(&error.to_string())
            ))
        })?;
        let (Ok(from), Ok(until)) = (SystemTime::try_from(from), SystemTime::try_from(until))
        else {
            return Err(ThreadMessage::plain(format!(
                "That is no time I can take. To {what}, write e.g. {SPAN_FORMS}."
            )));
        };
        Ok((schedule, label, from, until))
    }

    /// `take call …`: handed to the overrides service, which checks the
    /// asker and asks them to confirm.
    async fn ask_to_take_call(&self, request: &Request, team: &str, span: &str) -> ThreadMessage {
        let Some(overrides) = &self.overrides else {
            return ThreadMessage::plain(TAKE_CALL_OFF_TEXT.to_owned());
        };
        let (schedule, label, from, until) = match self
            .schedule_and_span(request, team, span, "take the call")
            .await
        {
            Ok(found) => found,
            Err(answer) => return answer,
        };
        let thread = (request.kind != RequestKind::SlashCommand)
            .then_some((request.channel.as_str(), request.thread_ts.as_str()));
        overrides
            .ask(TakeRequest {
                asker: &request.user,
                asker_team: request.user_team.as_deref(),
                schedule: &schedule,
                label: &label,
                from,
                until,
                thread,
            })
            .await
    }

    /// `cover me …`: the request is posted where the team sees it.
    async fn ask_for_cover(
        &self,
        request: &Request,
        team: &str,
        span: &str,
        note: &str,
    ) -> ThreadMessage {
        let Some(overrides) = &self.overrides else {
            return ThreadMessage::plain(TAKE_CALL_OFF_TEXT.to_owned());
        };
        let (schedule, label, from, until) = match self
            .schedule_and_span(request, team, span, "ask for cover")
            .await
        {
            Ok(found) => found,
            Err(answer) => return answer,
        };
        let asked = overrides
            .ask_cover(CoverRequest {
                asker: &request.user,
                asker_team: request.user_team.as_deref(),
                schedule: &schedule,
                label: &label,
                from,
                until,
                note,
                asked_in: Some(&request.channel),
            })
            .await;
        ThreadMessage::plain(match asked {
            Ok(text) | Err(text) => text,
        })
    }

    /// `cache clear`, at most once per channel in [`CACHE_CLEAR_INTERVAL`], in
    /// every replica.
    async fn clear_cache(&self, request: &Request) -> String {
        if !self.may_clear(&request.channel) {
            tracing::info!(user = %request.user, "cache cleared moments ago; not again");
            return CACHE_JUST_CLEARED_TEXT.to_owned();
        }
        self.directory.clear();
        if let Some(shared) = &self.shared {
            shared.announce_cache_clear().await;
        }
        tracing::info!(user = %request.user, "on-call cache cleared");
        CACHE_CLEARED_TEXT.to_owned()
    }

    /// The answer when no team is called `name`.
    pub(super) fn unknown_team(&self, name: &str) -> String {
        unknown_team_text(name, &self.routing)
    }

    /// Every schedule the bot knows: the default, then each team's.
    pub(super) fn known_schedules(&self) -> Vec<String> {
        let mut schedules = vec![self.schedule.clone()];
        for team in self.routing.teams() {
            if !schedules.contains(&team.schedule) {
                schedules.push(team.schedule.clone());
            }
        }
        schedules
    }

    async fn asker(&self, user: &str) -> Option<Arc<SlackUser>> {
        let lookup = async { self.slack.user(user).await.map(Arc::new).map_err(Arc::new) };
        match self.askers.try_get_with_by_ref(user, lookup).await {
            Ok(asker) => Some(asker),
            Err(error) => {
                tracing::warn!(%error, "could not look up the asker");
                None
            }
        }
    }

    /// The asker's time zone name from their Slack profile.
    pub(super) async fn user_zone(&self, user: &str) -> Option<String> {
        self.asker(user).await.and_then(|asker| asker.tz.clone())
    }

    /// The asker's email from their Slack profile.
    pub(super) async fn user_email(&self, user: &str) -> Option<String> {
        self.asker(user).await.and_then(|asker| asker.email.clone())
    }

    /// The schedule a request is about: a team it names, else its channel's
    /// team, else the default.
    pub(super) fn schedule_for(&self, request: &Request) -> &str {
        let text = strip_mentions_of(&request.text, &self.identity.user_id);
        match self.routing.destination(&request.channel, &text) {
            Destination::Team(team) => &team.schedule,
            Destination::Default => &self.schedule,
        }
    }

    /// Whether `channel` may clear the cache now; if so, remembers that it did.
    fn may_clear(&self, channel: &str) -> bool {
        let now = Instant::now();
        let mut clears = self.clears.lock().unwrap_or_else(PoisonError::into_inner);
        clears.retain(|_, at| now.saturating_duration_since(*at) < CACHE_CLEAR_INTERVAL);
        if clears.contains_key(channel) {
            return false;
        }
        clears.insert(channel.to_owned(), now);
        true
    }

    fn help_text(&self) -> String {
        let mut text = HELP_TEXT.to_owned();
        if self.alert_mode() == Some(AlertMode::Page) {
            text.push('\n');
            text.push_str(PAGE_HELP_TEXT);
        }
        if self.threads.is_some() {
            text.push('\n');
            text.push_str(ALERT_COMMANDS_HELP_TEXT);
        }
        if !self.routing.teams().is_empty() {
            text.push_str(&format!(
                "\n• `@ops <team>` or `@ops team <name>`: who is on call for a team: {}",
                self.routing.describe_teams()
            ));
        }
        text
    }

    fn alert_mode(&self) -> Option<AlertMode> {
        self.alerts.as_ref().map(AlertRaiser::mode)
    }

    /// The on-call answer for `schedule`, and the alert for the request when on.
    /// `paging`: the person wrote `@ops page …`.
    pub(super) async fn who_is_on_call(
        &self,
        request: &Request,
        schedule: &str,
        paging: bool,
    ) -> ThreadMessage {
        let alert = async {
            if request.kind == RequestKind::SlashCommand {
                // A command answers the caller alone: it pages nobody.
                return None;
            }
            match (&self.alerts, paging) {
                (Some(alerts), _) if alerts.mode() == AlertMode::Every || paging => {
                    let text = strip_mentions_of(&request.text, &self.identity.user_id);
                    let text = if paging {
                        without_page_word(&text)
                    } else {
                        &text
                    };
                    let outcome = alerts.raise_for(request, text).await;
                    Some((alert_text(outcome, alerts.system_name()), Some(outcome)))
                }
                (Some(_), false) => Some((PAGE_HINT_TEXT.to_owned(), None)),
                (None, true) => Some((PAGING_OFF_TEXT.to_owned(), None)),
                _ => None,
            }
        };
        let (answer, alert) = tokio::join!(self.on_call_answer(schedule), alert);
        let Some((alert, outcome)) = alert else {
            return ThreadMessage::plain(answer);
        };
        let card = match (outcome, &self.threads, &self.alerts) {
            (Some(AlertOutcome::Raised(_)), Some(threads), Some(alerts)) => {
                Some(threads.new_card(&alerts.alias_of(request)))
            }
            _ => None,
        };
        ThreadMessage {
            text: format!("{answer}\n{alert}"),
            card,
            buttons: Vec::new(),
        }
    }

    async fn on_call_answer(&self, schedule: &str) -> String {
        match self.directory.on_call(schedule).await {
            Ok(answer) => {
                let people = self.directory.responders(&answer.on_call).await;
                on_call_text(
                    &answer.on_call,
                    &people,
                    answer.freshness,
                    self.directory.source_name(),
                )
            }
            Err(failure) => {
                tracing::error!(error = %failure, %schedule, "no on-call answer");
                LOOKUP_FAILED_TEXT.to_owned()
            }
        }
    }
}

/// `page the database is down` → `the database is down`.
fn without_page_word(text: &str) -> &str {
    let text = text.trim_start();
    match text.get(..4) {
        Some(word) if word.eq_ignore_ascii_case("page") => text[4..].trim_start(),
        _ => text,
    }
}
