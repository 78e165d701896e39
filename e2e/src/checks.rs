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
        || compare_with_render(client, namespace, dir, exporter, kinds, render_args),
    )
    .await
}

/// One comparison of a scrape with `render` of the objects fetched just before and after it:
/// ready when series, values and headers are equal; pending (with the difference) when they are
/// not or when the objects changed meanwhile. Scrapes are linted on the way: a structural
/// problem (e.g. a duplicate series) is an error, not a difference.
pub async fn compare_with_render(
    client: &Client,
    namespace: &str,
    dir: &Path,
    exporter: &Exporter,
    kinds: &[&ResourceKind],
    render_args: &[String],
) -> Result<Poll<Matched>> {
    let before = resources::fetch_list(client, kinds, namespace).await?;
    let text = exporter.scrape().await?;
    let after = resources::fetch_list(client, kinds, namespace).await?;
    let problems = expo::lint(&text);
    if !problems.is_empty() {
        return Err(Error::Parse {
            what: format!("the scrape of {} (lint)", exporter.label()),
            detail: problems.join("; "),
        });
    }
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
}

/// Scrapes `addr` (`GET /metrics`) every `every` in the background and lints each answer, until
/// the guard is finished: for checking that an exporter never serves a broken exposition (e.g.
/// duplicate series) while something happens.
pub fn lint_every_scrape(label: &str, addr: std::net::SocketAddr, every: Duration) -> ScrapeLinter {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let label = label.to_string();
    let task = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut report = LintReport::default();
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                match crate::http::get(addr, "/metrics").await {
                    Ok(r) if r.status == 200 => {
                        report.scrapes += 1;
                        let problems = expo::lint(&r.text());
                        if !problems.is_empty() {
                            report.bad.push(format!(
                                "scrape {} of {label}: {}",
                                report.scrapes,
                                problems.into_iter().take(5).collect::<Vec<_>>().join("; ")
                            ));
                        }
                    }
                    Ok(r) => report.failed.push(format!("HTTP {}", r.status)),
                    Err(e) => report.failed.push(e.to_string()),
                }
                tokio::time::sleep(every).await;
            }
            report
        }
    });
    ScrapeLinter { stop, task }
}

/// What [`lint_every_scrape`] saw.
#[derive(Debug, Default)]
pub struct LintReport {
    /// Scrapes answered 200.
    pub scrapes: usize,
    /// Structural problems, one line per bad scrape.
    pub bad: Vec<String>,
    /// Scrapes that failed (connection, non-200).
    pub failed: Vec<String>,
}

/// The background scraper of [`lint_every_scrape`].
pub struct ScrapeLinter {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<LintReport>,
}

impl ScrapeLinter {
    /// Stops scraping and returns what was seen.
    pub async fn finish(self) -> LintReport {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        self.task.await.unwrap_or_default()
    }
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
