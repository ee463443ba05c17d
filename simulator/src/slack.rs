//! The simulated Slack workspace: Web API methods the bot calls.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::{call_parameters, lock, simulate};

/// A message the bot posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub channel: String,
    pub thread_ts: Option<String>,
    pub text: String,
    pub ts: String,
    /// Block Kit, when the bot sent blocks; an update replaces text and blocks.
    pub blocks: Option<Value>,
    /// When the simulation received it.
    pub received_at: std::time::Instant,
}

/// A message only one person sees (`chat.postEphemeral`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ephemeral {
    pub channel: String,
    pub user: String,
    pub thread_ts: Option<String>,
    pub text: String,
}

/// A `chat.update` of one of the bot's messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub channel: String,
    pub ts: String,
    pub text: String,
    pub blocks: Option<Value>,
}

/// A Slack user group (`@handle`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserGroup {
    pub id: String,
    pub handle: String,
    pub users: Vec<String>,
}

#[derive(Debug)]
struct State {
    bot_token: String,
    user_token: Option<String>,
    bot_user_id: String,
    bot_id: String,
    /// (email, user id)
    people: Vec<(String, String)>,
    user_groups: Vec<UserGroup>,
    /// When true, only the user token may change user groups (a workspace setting).
    user_groups_need_user_token: bool,
    posts: Vec<Post>,
    /// Slack user id → IANA time zone, as profiles set it.
    time_zones: std::collections::HashMap<String, String>,
    /// People whose profile hides their email, with the display name they set.
    hidden_emails: std::collections::HashMap<String, String>,
    updates: Vec<Update>,
    ephemerals: Vec<Ephemeral>,
    /// Bodies posted to the slash commands' `response_url`.
    command_responses: Vec<Value>,
    /// Channel topics, and every topic the bot set, in order.
    topics: std::collections::HashMap<String, String>,
    topic_writes: Vec<(String, String)>,
    clock: u64,
    /// Socket Mode: the app-level token and the URL `apps.connections.open` gives.
    socket_mode: Option<(String, String)>,
    /// The bot token's scopes, as `auth.test` lists them in `x-oauth-scopes`.
    scopes: Vec<String>,
    /// The Enterprise Grid organisation the workspace belongs to.
    enterprise: Option<String>,
    /// People who are not plain members of this workspace, by user id.
    affiliations: std::collections::HashMap<String, Affiliation>,
    /// The app's Home tab is on (`app_home.home_tab_enabled`).
    home_enabled: bool,
    /// Every Home tab published, in order: (user, view).
    home_views: Vec<(String, Value)>,
    /// Triggers handed out with clicks, and when: good for three seconds, once.
    triggers: std::collections::HashMap<String, std::time::Instant>,
    /// Every form opened, in order: (trigger, view).
    forms: Vec<(String, Value)>,
    /// How long `chat.postMessage` takes to answer, after the message landed.
    post_delay: std::time::Duration,
}

/// Where a person of the simulation is from, and what they may do.
#[derive(Debug, Clone, Default)]
struct Affiliation {
    team: Option<String>,
    enterprise: Option<String>,
    /// `is_restricted` (multi-channel) or `is_ultra_restricted` (single-channel).
    restricted: bool,
    ultra_restricted: bool,
}

/// A Slack workspace on loopback.
pub struct SlackWorkspace {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

/// Every scope `manifest.yml` asks for.
const FULL_SCOPES: &[&str] = &[
    "app_mentions:read",
    "channels:read",
    "channels:write.topic",
    "chat:write",
    "commands",
    "im:history",
    "im:write",
    "users:read",
    "users:read.email",
    "usergroups:read",
    "usergroups:write",
];

const METHODS: &[&str] = &[
    "apps.connections.open",
    "conversations.open",
    "conversations.info",
    "conversations.setTopic",
    "auth.test",
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "chat.getPermalink",
    "users.lookupByEmail",
    "users.info",
    "usergroups.list",
    "usergroups.users.list",
    "usergroups.users.update",
    "views.publish",
    "views.open",
];

impl SlackWorkspace {
    /// A workspace whose bot has `bot_token`, `bot_user_id` and `bot_id`, with
    /// `people` as (email, Slack user id).
    pub async fn start(
        bot_token: &str,
        bot_user_id: &str,
        bot_id: &str,
        people: &[(&str, &str)],
    ) -> Self {
        let state = Arc::new(Mutex::new(State {
            bot_token: bot_token.to_owned(),
            user_token: None,
            bot_user_id: bot_user_id.to_owned(),
            bot_id: bot_id.to_owned(),
            people: people
                .iter()
                .map(|(email, id)| ((*email).to_owned(), (*id).to_owned()))
                .collect(),
            user_groups: Vec::new(),
            user_groups_need_user_token: false,
            posts: Vec::new(),
            time_zones: std::collections::HashMap::new(),
            hidden_emails: std::collections::HashMap::new(),
            updates: Vec::new(),
            ephemerals: Vec::new(),
            command_responses: Vec::new(),
            topics: std::collections::HashMap::new(),
            topic_writes: Vec::new(),
            clock: 1_700_000_000,
            socket_mode: None,
            scopes: FULL_SCOPES
                .iter()
                .map(|scope| (*scope).to_owned())
                .collect(),
            enterprise: None,
            affiliations: std::collections::HashMap::new(),
            home_enabled: true,
            home_views: Vec::new(),
            triggers: std::collections::HashMap::new(),
            forms: Vec::new(),
            post_delay: std::time::Duration::ZERO,
        }));
        let server = MockServer::start().await;
        for method in METHODS {
            let state = Arc::clone(&state);
            let route = Mock::given(path(format!("/{method}")));
            simulate(
                &server,
                route,
                Method {
                    name: method,
                    state,
                },
            )
            .await;
        }
        let route = Mock::given(wiremock::matchers::method("POST"))
            .and(wiremock::matchers::path_regex(r"^/commands/"));
        let responses = CommandResponses {
            state: Arc::clone(&state),
        };
        simulate(&server, route, responses).await;
        Self { server, state }
    }

    /// A `response_url` for one slash command, as Slack hands it out.
    pub fn response_url(&self) -> String {
        format!("{}/commands/T0SIM/1/sim", self.server.uri())
    }

    /// What the bot posted to the slash commands' `response_url`, in order.
    pub fn command_responses(&self) -> Vec<Value> {
        lock(&self.state).command_responses.clone()
    }

    /// The Web API base URL (`SLACK_API_URL`).
    pub fn url(&self) -> String {
        self.server.uri()
    }

    /// The underlying server: for recorded requests and injected faults.
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// Every message the bot posted, in order.
    pub fn posts(&self) -> Vec<Post> {
        lock(&self.state).posts.clone()
    }

    /// Sets a channel's topic, as a person would.
    pub fn set_topic(&self, channel: &str, topic: &str) {
        lock(&self.state)
            .topics
            .insert(channel.to_owned(), topic.to_owned());
    }

    /// Every `conversations.setTopic` the bot made: (channel, topic).
    pub fn topic_writes(&self) -> Vec<(String, String)> {
        lock(&self.state).topic_writes.clone()
    }

    /// Sets `user`'s time zone (`users.info` `tz`), as their profile would.
    pub fn set_time_zone(&self, user: &str, zone: &str) {
        lock(&self.state)
            .time_zones
            .insert(user.to_owned(), zone.to_owned());
    }

    /// Every `chat.update`, in order.
    pub fn updates(&self) -> Vec<Update> {
        lock(&self.state).updates.clone()
    }

    /// Every ephemeral message, in order.
    pub fn ephemerals(&self) -> Vec<Ephemeral> {
        lock(&self.state).ephemerals.clone()
    }

    /// The message at `ts` as it reads now (after any updates).
    pub fn message(&self, ts: &str) -> Option<Post> {
        lock(&self.state)
            .posts
            .iter()
            .find(|post| post.ts == ts)
            .cloned()
    }

    pub fn add_user_group(&self, id: &str, handle: &str, users: &[&str]) {
        lock(&self.state).user_groups.push(UserGroup {
            id: id.to_owned(),
            handle: handle.to_owned(),
            users: users.iter().map(|user| (*user).to_owned()).collect(),
        });
    }

    pub fn user_group(&self, handle: &str) -> Option<UserGroup> {
        lock(&self.state)
            .user_groups
            .iter()
            .find(|group| group.handle == handle)
            .cloned()
    }

    /// Makes user groups editable only with `user_token`, as workspaces that
    /// restrict who may edit them do; the bot token then gets `permission_denied`.
    pub fn restrict_user_group_edits(&self, user_token: &str) {
        let mut state = lock(&self.state);
        state.user_token = Some(user_token.to_owned());
        state.user_groups_need_user_token = true;
    }

    /// Turns on Socket Mode for `app_token`: `apps.connections.open` hands out the
    /// returned server's URL.
    pub fn enable_socket_mode(&self, app_token: &str) -> std::io::Result<super::SocketModeServer> {
        let server = super::SocketModeServer::start()?;
        lock(&self.state).socket_mode = Some((app_token.to_owned(), server.url()));
        Ok(server)
    }

    /// Makes the workspace part of the Enterprise Grid organisation
    /// `enterprise` (`auth.test` then names it).
    pub fn join_enterprise(&self, enterprise: &str) {
        lock(&self.state).enterprise = Some(enterprise.to_owned());
    }

    /// Adds a person (email, user id) to the simulation.
    pub fn add_person(&self, email: &str, user: &str) {
        lock(&self.state)
            .people
            .push((email.to_owned(), user.to_owned()));
    }

    /// Hides `user`'s email from their profile (`users.info`), which then
    /// shows only the display name they chose, whatever it is.
    pub fn hide_email_of(&self, user: &str, display_name: &str) {
        lock(&self.state)
            .hidden_emails
            .insert(user.to_owned(), display_name.to_owned());
    }

    /// Makes `user` a person of the workspace `team` (and organisation
    /// `enterprise`), as `users.info` then says: someone of a Slack Connect
    /// partner, or of a sister workspace.
    pub fn set_home_of(&self, user: &str, team: &str, enterprise: Option<&str>) {
        let mut state = lock(&self.state);
        let affiliation = state.affiliations.entry(user.to_owned()).or_default();
        affiliation.team = Some(team.to_owned());
        affiliation.enterprise = enterprise.map(str::to_owned);
    }

    /// Makes `user` a guest: multi-channel (`is_restricted`), or single-channel
    /// (`is_ultra_restricted`) when `single_channel`.
    pub fn make_guest(&self, user: &str, single_channel: bool) {
        let mut state = lock(&self.state);
        let affiliation = state.affiliations.entry(user.to_owned()).or_default();
        affiliation.restricted = !single_channel;
        affiliation.ultra_restricted = single_channel;
    }

    /// Grants the bot token exactly these scopes.
    pub fn set_scopes(&self, scopes: &[&str]) {
        lock(&self.state).scopes = scopes.iter().map(|scope| (*scope).to_owned()).collect();
    }

    /// `chat.postMessage` answers only after `delay`, the message posted
    /// already (a slow Slack: work stays in flight meanwhile).
    pub fn set_post_delay(&self, delay: std::time::Duration) {
        lock(&self.state).post_delay = delay;
    }

    /// Turns the app's Home tab off (or on again), as its settings do.
    pub fn set_home_enabled(&self, enabled: bool) {
        lock(&self.state).home_enabled = enabled;
    }

    /// The Home tab `user` sees: the last one published for them.
    pub fn home_of(&self, user: &str) -> Option<Value> {
        lock(&self.state)
            .home_views
            .iter()
            .rev()
            .find(|(to, _)| to == user)
            .map(|(_, view)| view.clone())
    }

    /// How many Home tabs were published, to anyone.
    pub fn home_publishes(&self) -> usize {
        lock(&self.state).home_views.len()
    }

    /// A `trigger_id`, as Slack hands one out with a click: it opens one
    /// form within three seconds.
    pub fn issue_trigger(&self) -> String {
        let mut state = lock(&self.state);
        state.clock += 1;
        let trigger = format!("{}.{}.simtrigger", state.clock, state.triggers.len());
        state
            .triggers
            .insert(trigger.clone(), std::time::Instant::now());
        trigger
    }

    /// Every form opened, in order.
    pub fn forms(&self) -> Vec<Value> {
        lock(&self.state)
            .forms
            .iter()
            .map(|(_, view)| view.clone())
            .collect()
    }
}

/// How long a trigger may open a form.
const TRIGGER_LIFETIME: std::time::Duration = std::time::Duration::from_secs(3);

/// A view's blocks checked as Slack does the parts the bot uses: at most 100,
/// each a known type with its text within bounds.
fn view_blocks_valid(view: &Value) -> bool {
    let Some(blocks) = view["blocks"].as_array() else {
        return false;
    };
    let plain_within = |text: &Value, limit: usize| {
        text["type"] == "plain_text"
            && text["text"]
                .as_str()
                .is_some_and(|text| !text.is_empty() && text.chars().count() <= limit)
    };
    blocks.len() <= 100
        && blocks.iter().all(|block| match block["type"].as_str() {
            Some("section") => block["text"]["text"]
                .as_str()
                .is_some_and(|text| !text.is_empty() && text.chars().count() <= 3_000),
            Some("header") => plain_within(&block["text"], 150),
            Some("divider") => true,
            Some("context") => block["elements"].as_array().is_some_and(|e| !e.is_empty()),
            Some("actions") => block["elements"]
                .as_array()
                .is_some_and(|e| !e.is_empty() && e.len() <= 25),
            Some("input") => {
                plain_within(&block["label"], 2_000)
                    && block["element"]["type"].is_string()
                    && block["element"]["options"]
                        .as_array()
                        .is_none_or(|options| options.len() <= 100)
            }
            _ => false,
        })
}

/// The `blocks` of a JSON body, checked as Slack does the parts the bot uses:
/// a list of blocks, each with a type, a section's text at most 3,000
/// characters, at most 25 elements in an actions block.
fn blocks_of(request: &Request) -> Result<Option<Value>, &'static str> {
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return Ok(None);
    };
    let Some(blocks) = body.get("blocks") else {
        return Ok(None);
    };
    let Some(list) = blocks.as_array() else {
        return Err("invalid_blocks_format");
    };
    for block in list {
        let valid = match block["type"].as_str() {
            Some("section") => block["text"]["text"]
                .as_str()
                .is_some_and(|text| !text.is_empty() && text.chars().count() <= 3_000),
            Some("context") => block["elements"].as_array().is_some_and(|e| !e.is_empty()),
            Some("actions") => block["elements"]
                .as_array()
                .is_some_and(|e| !e.is_empty() && e.len() <= 25),
            _ => false,
        };
        if !valid {
            return Err("invalid_blocks");
        }
    }
    Ok(Some(blocks.clone()))
}

/// Slack's `response_url`: takes a JSON message, answers `ok` in plain text.
struct CommandResponses {
    state: Arc<Mutex<State>>,
}

impl Respond for CommandResponses {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        match serde_json::from_slice::<Value>(&request.body) {
            Ok(body) if body["text"].as_str().is_some_and(|text| !text.is_empty()) => {
                lock(&self.state).command_responses.push(body);
                ResponseTemplate::new(200).set_body_string("ok")
            }
            _ => ResponseTemplate::new(400).set_body_string("invalid_payload"),
        }
    }
}

struct Method {
    name: &'static str,
    state: Arc<Mutex<State>>,
}

fn ok(mut body: Value) -> ResponseTemplate {
    body["ok"] = json!(true);
    ResponseTemplate::new(200).set_body_json(body)
}

fn refused(error: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": error}))
}

impl Respond for Method {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = lock(&self.state);
        let token = request
            .headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default()
            .to_owned();
        let with_user_token = state.user_token.as_deref() == Some(token.as_str());
        if token.is_empty() {
            return refused("not_authed");
        }
        if self.name == "apps.connections.open" {
            return match &state.socket_mode {
                Some((app_token, url)) if *app_token == token => ok(json!({ "url": url })),
                _ if token == state.bot_token => refused("not_allowed_token_type"),
                _ => refused("invalid_auth"),
            };
        }
        if token != state.bot_token && !with_user_token {
            return refused("invalid_auth");
        }
        let parameters = call_parameters(request);
        let parameter = |name: &str| parameters.get(name).cloned().unwrap_or_default();
        match self.name {
            "auth.test" => ok(json!({
                "url": "https://simulated.slack.com/", "team": "Simulated", "user": "ops",
                "team_id": "TSIM", "user_id": state.bot_user_id, "bot_id": state.bot_id,
                "enterprise_id": state.enterprise, "is_enterprise_install": false
            }))
            .insert_header("x-oauth-scopes", state.scopes.join(",").as_str()),
            "chat.postMessage" => {
                let (channel, text) = (parameter("channel"), parameter("text"));
                if channel.is_empty() {
                    return refused("channel_not_found");
                }
                if text.is_empty() {
                    return refused("no_text");
                }
                state.clock += 1;
                let ts = format!("{}.000100", state.clock);
                let thread_ts = parameters.get("thread_ts").cloned();
                let blocks = match blocks_of(request) {
                    Ok(blocks) => blocks,
                    Err(error) => return refused(error),
                };
                state.posts.push(Post {
                    channel: channel.clone(),
                    thread_ts,
                    text: text.clone(),
                    ts: ts.clone(),
                    blocks,
                    received_at: std::time::Instant::now(),
                });
                let bot_id = state.bot_id.clone();
                ok(json!({
                    "channel": channel, "ts": ts,
                    "message": {"type": "message", "ts": ts, "text": text, "bot_id": bot_id}
                }))
                .set_delay(state.post_delay)
            }
            "chat.update" => {
                let (channel, ts, text) =
                    (parameter("channel"), parameter("ts"), parameter("text"));
                let blocks = match blocks_of(request) {
                    Ok(blocks) => blocks,
                    Err(error) => return refused(error),
                };
                if text.is_empty() && blocks.is_none() {
                    return refused("no_text");
                }
                let bot_id = state.bot_id.clone();
                let Some(post) = state
                    .posts
                    .iter_mut()
                    .find(|post| post.ts == ts && post.channel == channel)
                else {
                    return refused("message_not_found");
                };
                post.text = text.clone();
                post.blocks = blocks.clone();
                state.updates.push(Update {
                    channel: channel.clone(),
                    ts: ts.clone(),
                    text: text.clone(),
                    blocks,
                });
                ok(json!({
                    "channel": channel, "ts": ts, "text": text,
                    "message": {"type": "message", "text": text, "bot_id": bot_id}
                }))
            }
            "chat.postEphemeral" => {
                let (channel, user, text) =
                    (parameter("channel"), parameter("user"), parameter("text"));
                if channel.is_empty() {
                    return refused("channel_not_found");
                }
                if !state.people.iter().any(|(_, id)| *id == user) {
                    return refused("user_not_in_channel");
                }
                if text.is_empty() {
                    return refused("no_text");
                }
                state.clock += 1;
                let message_ts = format!("{}.000200", state.clock);
                state.ephemerals.push(Ephemeral {
                    channel,
                    user,
                    thread_ts: parameters.get("thread_ts").cloned(),
                    text,
                });
                ok(json!({ "message_ts": message_ts }))
            }
            "conversations.info" => {
                let channel = parameter("channel");
                if !channel.starts_with('C') && !channel.starts_with('G') {
                    return refused("channel_not_found");
                }
                let topic = state.topics.get(&channel).cloned().unwrap_or_default();
                ok(json!({"channel": {
                    "id": channel, "is_channel": true,
                    "topic": {"value": topic, "creator": "UADMIN", "last_set": 0}
                }}))
            }
            "conversations.setTopic" => {
                let (channel, topic) = (parameter("channel"), parameter("topic"));
                if !channel.starts_with('C') && !channel.starts_with('G') {
                    return refused("channel_not_found");
                }
                if topic.chars().count() > 250 {
                    return refused("too_long");
                }
                state.topics.insert(channel.clone(), topic.clone());
                state.topic_writes.push((channel.clone(), topic.clone()));
                ok(json!({"channel": {"id": channel, "topic": {"value": topic}}}))
            }
            "conversations.open" => {
                let user = parameter("users");
                if user.contains(',') || !state.people.iter().any(|(_, id)| *id == user) {
                    return refused("user_not_found");
                }
                ok(json!({"channel": {"id": format!("D{user}")}}))
            }
            "chat.getPermalink" => {
                let (channel, ts) = (parameter("channel"), parameter("message_ts"));
                if channel.is_empty() || ts.is_empty() {
                    return refused("invalid_arguments");
                }
                ok(json!({
                    "channel": channel,
                    "permalink": format!(
                        "https://simulated.slack.com/archives/{channel}/p{}",
                        ts.replace('.', "")
                    )
                }))
            }
            "users.lookupByEmail" => {
                let email = parameter("email");
                match state
                    .people
                    .iter()
                    .find(|(known, _)| known.eq_ignore_ascii_case(&email))
                {
                    Some((email, id)) => ok(json!({"user": {
                        "id": id, "team_id": "TSIM",
                        "name": email.split('@').next().unwrap_or_default(),
                        "profile": {"email": email}
                    }})),
                    None => refused("users_not_found"),
                }
            }
            "users.info" => {
                let id = parameter("user");
                match state.people.iter().find(|(_, known)| *known == id) {
                    Some((email, id)) => {
                        let handle = email.split('@').next().unwrap_or_default();
                        let mut name = handle.chars();
                        let real_name = name
                            .next()
                            .map(|first| first.to_uppercase().chain(name).collect::<String>())
                            .unwrap_or_default();
                        let tz = state.time_zones.get(id).cloned();
                        let affiliation = state.affiliations.get(id).cloned().unwrap_or_default();
                        // Someone of another workspace carries their own
                        // organisation (or none); members carry this one's.
                        let (team, enterprise) = match affiliation.team {
                            Some(team) => (team, affiliation.enterprise),
                            None => ("TSIM".to_owned(), state.enterprise.clone()),
                        };
                        let profile = match state.hidden_emails.get(id) {
                            Some(display_name) => {
                                json!({"display_name": display_name, "real_name": real_name})
                            }
                            None => {
                                json!({"display_name": "", "real_name": real_name, "email": email})
                            }
                        };
                        let mut user = json!({
                            "id": id, "team_id": team, "name": handle, "real_name": real_name,
                            "tz": tz,
                            "is_restricted": affiliation.restricted,
                            "is_ultra_restricted": affiliation.ultra_restricted,
                            "profile": profile
                        });
                        if let Some(enterprise) = enterprise {
                            user["enterprise_user"] =
                                json!({"enterprise_id": enterprise, "enterprise_name": "Org"});
                        }
                        ok(json!({ "user": user }))
                    }
                    None => refused("user_not_found"),
                }
            }
            "usergroups.list" => {
                let groups: Vec<Value> = state
                    .user_groups
                    .iter()
                    .map(|group| {
                        json!({
                            "id": group.id, "team_id": "TSIM", "is_usergroup": true,
                            "name": group.handle, "handle": group.handle,
                            "description": "", "is_external": false,
                            "date_create": 1_600_000_000, "date_update": 1_600_000_000,
                            "date_delete": 0, "created_by": "UADMIN",
                            "user_count": group.users.len(),
                            "prefs": {"channels": [], "groups": []}
                        })
                    })
                    .collect();
                ok(json!({ "usergroups": groups }))
            }
            "usergroups.users.list" => {
                let id = parameter("usergroup");
                match state.user_groups.iter().find(|group| group.id == id) {
                    Some(group) => ok(json!({ "users": group.users })),
                    None => refused("no_such_subteam"),
                }
            }
            "usergroups.users.update" => {
                if state.user_groups_need_user_token && !with_user_token {
                    return refused("permission_denied");
                }
                let id = parameter("usergroup");
                let users: Vec<String> = parameter("users")
                    .split(',')
                    .map(str::trim)
                    .filter(|user| !user.is_empty())
                    .map(str::to_owned)
                    .collect();
                if users.is_empty() {
                    return refused("no_users_provided");
                }
                let known = |user: &String| state.people.iter().any(|(_, id)| id == user);
                if !users.iter().all(known) {
                    return refused("invalid_users");
                }
                match state.user_groups.iter_mut().find(|group| group.id == id) {
                    Some(group) => {
                        group.users = users;
                        let group = group.clone();
                        ok(json!({"usergroup": {
                            "id": group.id, "team_id": "TSIM", "is_usergroup": true,
                            "name": group.handle, "handle": group.handle,
                            "users": group.users, "user_count": group.users.len()
                        }}))
                    }
                    None => refused("no_such_subteam"),
                }
            }
            "views.publish" => {
                let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
                    return refused("invalid_arguments");
                };
                let user = body["user_id"].as_str().unwrap_or_default().to_owned();
                if !state.people.iter().any(|(_, id)| *id == user) {
                    return refused("invalid_arguments");
                }
                if !state.home_enabled {
                    // Slack's page names no code for this; the simulation's
                    // stand-in.
                    return refused("not_enabled");
                }
                let view = body["view"].clone();
                if view["type"] != "home" || !view_blocks_valid(&view) {
                    return refused("invalid_arguments");
                }
                state.home_views.push((user, view.clone()));
                ok(json!({ "view": view }))
            }
            "views.open" => {
                let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
                    return refused("invalid_arguments");
                };
                let trigger = body["trigger_id"].as_str().unwrap_or_default().to_owned();
                match state.triggers.remove(&trigger) {
                    None => return refused("invalid_trigger_id"),
                    Some(issued) if issued.elapsed() > TRIGGER_LIFETIME => {
                        return refused("expired_trigger_id")
                    }
                    Some(_) => {}
                }
                let view = body["view"].clone();
                let title_ok = view["title"]["text"]
                    .as_str()
                    .is_some_and(|title| title.chars().count() <= 24);
                if view["type"] != "modal" || !title_ok || !view_blocks_valid(&view) {
                    return refused("invalid_arguments");
                }
                state.forms.push((trigger, view.clone()));
                ok(json!({ "view": view }))
            }
            _ => ResponseTemplate::new(404),
        }
    }
}
