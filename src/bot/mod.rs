//! What the bot says and does when a person asks it something: [`command`]
//! reads the message, [`replies`] words the answer, [`service`] does the work.

pub mod command;
mod forms;
mod home;
mod in_time;
pub mod replies;
pub mod service;
pub mod when;

pub use command::Command;
pub use forms::{FormErrors, FormRequest};
pub use replies::{slack_date, HELP_TEXT};
pub use service::Bot;
