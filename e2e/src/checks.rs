//! Assertions shared by the suites: a scrape equals what `render` makes of the same objects, a
//! scrape lints clean and covers every enabled resource, a change shows up within a deadline.

use crate::{
    Error, Exporter, Poll, Result, TestNs,
    expo::{self, Exposition},
    exporter,
    resources::{self, ResourceKind},
    wait_for,
};
use kube::Client;
use std::{path::Path, time::Duration};
use tokio::time::Instant;

/// Panics unless `text` lints clean, listing the problems.
pub fn assert_lint_clean(label: &str, text: &str) {
    let problems = expo::lint(text);
    assert!(
        problems.is_empty(),
        "the exposition of {label} has {} structural problems:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

/// Panics unless every resource in `kinds` has at least one family in `expo`.
pub fn assert_covers(label: &str, expo: &Exposition, kinds: &[&ResourceKind]) {
    let families = expo.family_order();
    let missing: Vec<&str> = kinds
        .iter()
        .filter(|k| !families.iter().any(|f| f.starts_with(k.metric_prefix)))
        .map(|k| k.name)
        .collect();
    assert!(
        missing.is_empty(),
        "the exposition of {label} has no family of the enabled resources {missing:?} (families: {families:?})"
    );
}

/// What [`wait_scrape_matches_render`] returns: the matching scrape, parsed, and its text.
pub struct Matched {
    /// The scrape, parsed.
    pub scrape: Exposition,
    /// The scrape's text.
    pub text: String,
}

/// Polls until a scrape of `exporter` has exactly the series, values and headers (HELP/TYPE text
/// and family order) that `statefleet-exporter render render_args` produces for the objects of
/// `kinds` fetched from the API. Objects may still be changing (controllers, the stand-in
/// kubelet), so a mismatch is retried until `timeout`; the last difference is in the error.
pub async fn wait_scrape_matches_render(
    ns: &TestNs,
    exporter: &Exporter,
    kinds: &[&ResourceKind],
    render_args: &[String],
    timeout: Duration,
) -> Result<Matched> {
    wait_matches_render_in(&ns.client(), ns.name(), ns.dir(), exporter, kinds, render_args, timeout).await
}

/// [`wait_scrape_matches_render`] for any client and namespace (e.g. on a control plane of the
/// test's own); `dir` holds the render input.
pub async fn wait_matches_render_in(
    client: &Client,
    namespace: &str,
    dir: &Path,
    exporter: &Exporter,
    kinds: &[&ResourceKind],
    render_args: &[String],
    timeout: Duration,
) -> Result<Matched> {
    wait_for(
        &format!("the scrape of {} to equal `render` of the API's objects", exporter.label()),
        timeout,
        Duration::from_millis(250),
        || async {
            let before = resources::fetch_list(client, kinds, namespace).await?;
            let text = exporter.scrape().await?;
            let after = resources::fetch_list(client, kinds, namespace).await?;
            if before != after {
                return Ok(Poll::Pending("objects changed while scraping".into()));
            }
            let rendered = exporter::render(&before, render_args, dir).await?;
            let parse = |what: &str, t: &str| {
                expo::parse(t).map_err(|e| Error::Parse { what: what.to_string(), detail: e.to_string() })
            };
            let scrape = parse("the scrape", &text)?;
            let expected = parse("the render output", &rendered)?;
            let d = expo::diff(&expected, &scrape);
            if !d.is_empty() {
                return Ok(Poll::Pending(format!("series differ (expected = render): {d}")));
            }
            if expected.header_texts() != scrape.header_texts() {
                return Ok(Poll::Pending(format!(
                    "headers differ: render has families {:?}, the scrape {:?}",
                    expected.family_order(),
                    scrape.family_order()
                )));
            }
            Ok(Poll::Ready(Matched { scrape, text }))
        },
    )
    .await
}

/// Polls the scrape every 20 ms until `holds` is true and returns how long it took, measured
/// from `since`. Fails after `timeout` with the last scrape's relevant lines.
pub async fn time_until_scrape(
    exporter: &Exporter,
    what: &str,
    since: Instant,
    timeout: Duration,
    holds: impl Fn(&Exposition) -> bool,
) -> Result<Duration> {
    wait_for(what, timeout, Duration::from_millis(20), || async {
        let scrape = exporter.scrape_parsed().await?;
        Ok(if holds(&scrape) {
            Poll::Ready(since.elapsed())
        } else {
            Poll::Pending(format!("{} samples, condition false", scrape.samples.len()))
        })
    })
    .await
}
