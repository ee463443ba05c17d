//! "Cover me": someone on call asks for cover over a span; the bot posts the
//! request where the team sees it, with an **I'll cover** button; the first
//! click by someone the take-the-call policy allows makes the override for
//! them, in the asker's rotation only, and the request shows who covered it.
//! The asker may withdraw it; one still open when its span starts is marked
//! not covered, and the asker told. One override per request whichever
//! replica gets the clicks (a shared claim).

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::book::{Pending, Place, StoredPerson, StoredRotation};
use super::policy::Refusal;
use super::{new_id, rotations_phrase, Made, Overrides, Said, CANNOT_BE_SURE_TEXT};
use crate::model::{OverrideButton, RotationRef, ThreadMessage};
use crate::slack::markup::{escape, slack_date};

/// How long a request for cover is remembered after its span started.
const COVER_MARGIN: Duration = Duration::from_secs(60 * 60);

/// A request for cover, as the asker made it.
#[derive(Debug, Clone, Copy)]
pub struct CoverRequest<'a> {
    pub asker: &'a str,
    pub asker_team: Option<&'a str>,
    pub schedule: &'a str,
    pub label: &'a str,
    pub from: SystemTime,
    pub until: SystemTime,
    /// What the asker wrote for the team (escaped on its way in).
    pub note: &'a str,
    /// The channel it was asked in (none from the Home tab): the request is
    /// posted in the team's `announce_channel`, else there.
    pub asked_in: Option<&'a str>,
}

/// Where a request for cover stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CoverState {
    Open,
    Covered,
    Withdrawn,
    NotCovered,
}

/// A request for cover, remembered (here and in the shared state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cover {
    pub id: String,
    pub asker: String,
    pub asker_person: StoredPerson,
    pub schedule: String,
    pub label: String,
    pub from: SystemTime,
    pub until: SystemTime,
    pub rotations: Vec<StoredRotation>,
    pub note: String,
    /// The post carrying the buttons.
    pub post: Place,
    pub state: CoverState,
}

impl Cover {
    /// "*payments* (rotation *Weekly*) from … until …".
    fn what(&self) -> String {
        let rotations: Vec<RotationRef> = self.rotations.iter().cloned().map(Into::into).collect();
        format!(
            "*{}*{} from {} until {}",
            escape(&self.label),
            rotations_phrase(&rotations),
            slack_date(self.from),
            slack_date(self.until)
        )
    }

    fn note_line(&self) -> String {
        if self.note.trim().is_empty() {
            String::new()
        } else {
            format!(": {}", escape(self.note.trim()))
        }
    }
}

impl Overrides {
    /// `cover me …`: checks the asker as any taker (they must be in one of
    /// the schedule's rotations: that is whose place is covered), posts the
    /// request with its buttons, and says where. Nothing is made yet.
    pub async fn ask_cover(&self, request: CoverRequest<'_>) -> Result<String, String> {
        let standing = self
            .admit(
                request.asker,
                request.asker_team,
                request.schedule,
                request.label,
                request.from,
                request.until,
            )
            .await
            .map_err(|refusal| refusal.text())?;
        if !standing.member {
            return Err(format!(
                "You are in none of *{}*'s rotations, so there is no place of yours to cover.",
                escape(request.label)
            ));
        }
        let announce = self.announce_channel(request.schedule);
        let Some(channel) = announce.as_deref().or(request.asked_in) else {
            return Err(format!(
                "*{}* has no announce_channel to ask for cover in; ask with `@ops cover me …` \
                 in its channel instead.",
                escape(request.label)
            ));
        };
        let id = new_id();
        let mut cover = Cover {
            id: id.clone(),
            asker: request.asker.to_owned(),
            asker_person: StoredPerson::from(&standing.taker),
            schedule: request.schedule.to_owned(),
            label: request.label.to_owned(),
            from: request.from.max(SystemTime::now()),
            until: request.until,
            rotations: standing
                .rotations
                .iter()
                .map(StoredRotation::from)
                .collect(),
            note: crate::alerting::truncate_chars(request.note, 500),
            post: (channel.to_owned(), String::new()),
            state: CoverState::Open,
        };
        let post = ThreadMessage::plain(format!(
            "<@{}> needs cover for {}{}",
            cover.asker,
            cover.what(),
            cover.note_line()
        ))
        .with_button(OverrideButton::Cover {
            request: id.clone(),
        })
        .with_button(OverrideButton::Withdraw {
            request: id.clone(),
        });
        let ts = self
            .slack
            .post_message_with_blocks(channel, &post)
            .await
            .map_err(|error| {
                tracing::warn!(%error, "could not post a request for cover");
                "I could not post your request for cover just now; nothing changed. Please try \
                 again."
                    .to_owned()
            })?;
        cover.post.1 = ts;
        self.keep_cover(&cover).await;
        self.metrics.take_call("cover_asked");
        Ok(format!(
            "I asked in <#{channel}> for someone to cover {}. You will hear when someone does.",
            cover.what()
        ))
    }

    async fn keep_cover(&self, cover: &Cover) {
        let ttl = cover
            .from
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
            + COVER_MARGIN;
        self.covers.put(&cover.id, cover, ttl).await;
        let mut open = self
            .open_covers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cover.state == CoverState::Open && !open.contains(&cover.id) && open.len() < 10_000 {
            open.push(cover.id.clone());
        }
    }

    /// A click on **I'll cover**: the first allowed clicker takes the call for
    /// the request's span in the asker's rotation; the post then says who
    /// covered it. Anything else is for the clicker alone.
    pub async fn cover(&self, id: &str, user: &str, user_team: Option<&str>) -> Said {
        let Some(cover) = self.covers.get(id).await else {
            return Said::Private("That request for cover is no longer open.".to_owned());
        };
        match cover.state {
            CoverState::Open => {}
            CoverState::Covered => {
                return Said::Private("Someone covered that already, thank you.".to_owned())
            }
            CoverState::Withdrawn | CoverState::NotCovered => {
                return Said::Private("That request for cover is no longer open.".to_owned())
            }
        }
        if cover.asker == user {
            return Said::Private("You cannot cover yourself.".to_owned());
        }
        let standing = match self
            .admit(
                user,
                user_team,
                &cover.schedule,
                &cover.label,
                cover.from,
                cover.until,
            )
            .await
        {
            Ok(standing) => standing,
            Err(refusal) => return Said::Private(refusal.text()),
        };
        let asked: Vec<RotationRef> = cover.rotations.iter().cloned().map(Into::into).collect();
        let shares = standing
            .rotations
            .iter()
            .any(|rotation| asked.contains(rotation));
        if standing.member && !shares {
            return Said::Private(
                Refusal::NotInRotation {
                    label: cover.label.clone(),
                }
                .text(),
            );
        }
        let claim = format!("covered:{id}");
        match self.first_time(&claim).await {
            Some(true) => {}
            Some(false) => {
                return Said::Private("Someone covered that already, thank you.".to_owned())
            }
            None => return Said::Private(CANNOT_BE_SURE_TEXT.to_owned()),
        }
        let pending = Pending {
            id: new_id(),
            asker: user.to_owned(),
            schedule: cover.schedule.clone(),
            label: cover.label.clone(),
            from: cover.from,
            until: cover.until,
            taker: StoredPerson::from(&standing.taker),
            rotations: cover.rotations.clone(),
            thread: Some(cover.post.clone()),
        };
        match self.make(&pending).await {
            Made::Done(_) => {}
            Made::NotMade { text, .. } => {
                self.not_done(&claim).await;
                return Said::Private(text);
            }
        }
        let covered = Cover {
            state: CoverState::Covered,
            ..cover
        };
        // The asker is told by DM as everyone an override replaces is.
        self.keep_cover(&covered).await;
        self.metrics.take_call("covered");
        Said::Public(
            ThreadMessage::plain(format!(
                "<@{}>'s request for cover for {}{} was covered by <@{user}>.",
                covered.asker,
                covered.what(),
                covered.note_line()
            ))
            .with_button(OverrideButton::Undo { made: pending.id }),
        )
    }

    /// A click on **Withdraw**: only the asker's counts.
    pub async fn withdraw(&self, id: &str, user: &str) -> Said {
        let Some(cover) = self.covers.get(id).await else {
            return Said::Private("That request for cover is no longer open.".to_owned());
        };
        if cover.asker != user {
            return Said::Private(format!(
                "Only <@{}>, who asked for cover, can withdraw it.",
                cover.asker
            ));
        }
        if cover.state != CoverState::Open {
            return Said::Private("That request for cover is no longer open.".to_owned());
        }
        match self.first_time(&format!("covered:{id}")).await {
            Some(true) => {}
            Some(false) => {
                return Said::Private("Someone covered that already, so it stays.".to_owned())
            }
            None => return Said::Private(CANNOT_BE_SURE_TEXT.to_owned()),
        }
        let withdrawn = Cover {
            state: CoverState::Withdrawn,
            ..cover
        };
        self.keep_cover(&withdrawn).await;
        self.metrics.take_call("cover_withdrawn");
        Said::Public(ThreadMessage::plain(format!(
            "<@{}> withdrew their request for cover for {}.",
            withdrawn.asker,
            withdrawn.what()
        )))
    }

    /// Marks the requests whose span has started while still open as not
    /// covered, and tells their askers (once, whichever replica does it).
    /// Returns how many were marked.
    pub async fn expire_covers(&self, now: SystemTime) -> usize {
        let ids: Vec<String> = self
            .open_covers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut marked = 0;
        for id in ids {
            let Some(cover) = self.covers.get(&id).await else {
                self.forget_open_cover(&id);
                continue;
            };
            if cover.state != CoverState::Open {
                self.forget_open_cover(&id);
                continue;
            }
            if now < cover.from {
                continue;
            }
            if self.first_time(&format!("covered:{id}")).await != Some(true) {
                self.forget_open_cover(&id);
                continue;
            }
            self.forget_open_cover(&id);
            let expired = Cover {
                state: CoverState::NotCovered,
                ..cover
            };
            self.keep_cover(&expired).await;
            self.metrics.take_call("not_covered");
            let text = format!(
                "Not covered: <@{}>'s request for cover for {} found nobody in time.",
                expired.asker,
                expired.what()
            );
            let (channel, ts) = &expired.post;
            if let Err(error) = self
                .slack
                .update_message(channel, ts, &ThreadMessage::plain(text))
                .await
            {
                tracing::warn!(%error, "could not mark a request for cover as not covered");
            }
            let dm = ThreadMessage::plain(format!(
                "Nobody covered {} in time: you are still on call then.",
                expired.what()
            ));
            if let Err(error) = self.direct_message(&expired.asker, &dm).await {
                tracing::warn!(%error, "could not tell the asker their request was not covered");
            }
            marked += 1;
        }
        marked
    }

    /// Marks requests that found nobody in time, every `tick` until dropped.
    pub async fn run_cover_expiry(
        self: std::sync::Arc<Self>,
        tick: Duration,
        handle: crate::supervise::LoopHandle,
    ) {
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            self.expire_covers(SystemTime::now()).await;
            handle.succeeded();
        }
    }

    fn forget_open_cover(&self, id: &str) {
        self.open_covers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|open| open != id);
    }
}
