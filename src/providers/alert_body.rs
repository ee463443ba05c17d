//! The body of a new alert: OpsGenie's `POST /v2/alerts`, which JSM's integration
//! API takes as it is.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::Alert;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateAlertBody<'a> {
    message: &'a str,
    alias: &'a str,
    description: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    responders: Vec<Responder<'a>>,
    tags: &'a [String],
    details: &'a BTreeMap<String, String>,
    source: &'a str,
    priority: &'a str,
}

#[derive(Debug, Serialize)]
struct Responder<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    name: &'a str,
}

impl<'a> From<&'a Alert> for CreateAlertBody<'a> {
    fn from(alert: &'a Alert) -> Self {
        Self {
            message: &alert.message,
            alias: &alert.alias,
            description: &alert.description,
            responders: alert
                .team
                .iter()
                .map(|team| Responder {
                    kind: "team",
                    name: team,
                })
                .collect(),
            tags: &alert.tags,
            details: &alert.details,
            source: &alert.source,
            priority: alert.priority.as_str(),
        }
    }
}

/// The 202 answer to an accepted request.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Accepted {
    #[serde(default)]
    pub request_id: String,
}
