//! The floor: the least any process can do per event on this benchmark's path,
//! to read the bot's figures against. It takes a POST on a keep-alive
//! connection, acks it, and posts one reply to Slack's `chat.postMessage` with
//! hyper on tokio's current-thread runtime, as the bot does; it checks no
//! signature, dedupes nothing, caches nothing, logs nothing and bounds nothing.
//! Not a product: `cargo bench --bench load -- --floor` runs the benchmark's
//! phases against it in place of `oncall-bot serve`.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// Set (to anything) in the environment of the benchmark's own executable,
/// started again as the floor's process.
pub const ENV: &str = "ONCALL_BENCH_FLOOR";

/// The fields of an Events API callback the reply needs.
#[derive(serde::Deserialize)]
struct Callback<'a> {
    #[serde(borrow)]
    event: Event<'a>,
}

#[derive(serde::Deserialize)]
struct Event<'a> {
    channel: &'a str,
    ts: &'a str,
}

/// Serves on `LISTEN_ADDR`, replying through `SLACK_API_URL` with
/// `SLACK_BOT_TOKEN`, until killed.
pub fn serve() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let variable = |name: &str| std::env::var(name).expect("set by the benchmark");
        let slack = variable("SLACK_API_URL");
        let post: hyper::Uri = format!("{}/chat.postMessage", slack.trim_end_matches('/'))
            .parse()
            .expect("a URL");
        let token = format!("Bearer {}", variable("SLACK_BOT_TOKEN"));
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let listener = tokio::net::TcpListener::bind(variable("LISTEN_ADDR"))
            .await
            .expect("the port is free");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (client, post, token) = (client.clone(), post.clone(), token.clone());
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let (client, post, token) = (client.clone(), post.clone(), token.clone());
                async move {
                    let body = request.into_body().collect().await;
                    let body = body.map(|body| body.to_bytes()).unwrap_or_default();
                    if let Ok(callback) = serde_json::from_slice::<Callback>(&body) {
                        let reply = serde_json::json!({
                            "channel": callback.event.channel,
                            "thread_ts": callback.event.ts,
                            "text": "On call for *SRE_schedule* right now: <@UALICE>",
                        });
                        let request = Request::post(post)
                            .header("authorization", token)
                            .header("content-type", "application/json; charset=utf-8")
                            .body(Full::new(Bytes::from(reply.to_string())))
                            .expect("a request");
                        tokio::spawn(async move {
                            if let Ok(response) = client.request(request).await {
                                let _ = response.into_body().collect().await;
                            }
                        });
                    }
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
}
