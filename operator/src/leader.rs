//! Leader election on a `coordination.k8s.io/v1` Lease, with client-go's algorithm, so only one
//! operator replica reconciles at a time.
//!
//! ```text
//! acquire(): try every retry_period until the Lease is free, expired, or already ours
//! hold():    renew every retry_period; return (leadership lost) when another holder took it or
//!            no renewal succeeded for renew_deadline — the caller then stops reconciling
//! release(): on shutdown, hand the Lease over at once (empty holder, 1 s duration)
//! ```
//!
//! Expiry is judged on the local clock: a Lease counts as expired once its record has not changed
//! for its `leaseDurationSeconds` since this candidate first saw that record, so clock skew
//! between nodes does not matter. Every write carries the `resourceVersion` that was read, so two
//! candidates cannot both win: the loser gets a conflict.

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::Timestamp,
};
use kube::{
    Client,
    api::{Api, PostParams},
};
use parking_lot::Mutex;
use std::time::{Duration, Instant};
use tracing::{debug, error, info, warn};

/// One candidate for the Lease `name` in `namespace`.
pub struct LeaderElection {
    api: Api<Lease>,
    name: String,
    identity: String,
    /// How long the Lease stays valid after a renewal (client-go's default: 15 s).
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it gives up (default 10 s).
    pub renew_deadline: Duration,
    /// Pause between attempts (default 2 s).
    pub retry_period: Duration,
    /// The last Lease record seen and when it was first seen (local clock).
    observed: Mutex<Option<(LeaseSpec, Instant)>>,
}

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX).max(1)
}

impl LeaderElection {
    /// A candidate named `identity` (unique per process, e.g. the pod name).
    pub fn new(client: Client, namespace: &str, name: &str, identity: &str) -> Self {
        LeaderElection {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            observed: Mutex::new(None),
        }
    }

    /// This candidate's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Waits until this candidate holds the Lease.
    pub async fn acquire(&self) {
        info!(lease = %self.name, identity = %self.identity, "waiting for leadership");
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    info!(lease = %self.name, identity = %self.identity, "became the leader");
                    return;
                }
                Ok(false) => debug!(lease = %self.name, "the lease is held by another candidate"),
                Err(error) => warn!(%error, lease = %self.name, "failed to read or take the lease"),
            }
            tokio::time::sleep(self.retry_period).await;
        }
    }

    /// Renews the Lease until leadership is lost; returns then.
    pub async fn hold(&self) {
        let mut renewed = Instant::now();
        loop {
            tokio::time::sleep(self.retry_period).await;
            match tokio::time::timeout(self.renew_deadline, self.try_acquire_or_renew()).await {
                Ok(Ok(true)) => renewed = Instant::now(),
                Ok(Ok(false)) => {
                    error!(lease = %self.name, "another candidate took the lease");
                    return;
                }
                Ok(Err(error)) => warn!(%error, lease = %self.name, "failed to renew the lease"),
                Err(_) => warn!(lease = %self.name, "renewing the lease timed out"),
            }
            if renewed.elapsed() >= self.renew_deadline {
                error!(
                    lease = %self.name,
                    deadline = ?self.renew_deadline,
                    "could not renew the lease in time"
                );
                return;
            }
        }
    }

    /// Hands the Lease over if this candidate holds it.
    pub async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else { return Ok(()) };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        let now = MicroTime(Timestamp::now());
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.acquire_time = Some(now.clone());
        spec.renew_time = Some(now);
        self.api.replace(&self.name, &PostParams::default(), &lease).await?;
        info!(lease = %self.name, "released the lease");
        Ok(())
    }

    /// One attempt: `true` when this candidate holds the Lease afterwards.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta { name: Some(self.name.clone()), ..Default::default() },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(seconds(self.lease_duration)),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observe(created.spec.unwrap_or_default());
                    Ok(true)
                }
                Err(kube::Error::Api(status)) if status.is_already_exists() || status.is_conflict() => {
                    Ok(false)
                }
                Err(error) => Err(error),
            };
        };
        let current = lease.spec.clone().unwrap_or_default();
        let holder = current.holder_identity.clone().unwrap_or_default();
        if !holder.is_empty() && holder != self.identity && !self.expired(&current) {
            return Ok(false);
        }
        let mut spec = current;
        if holder != self.identity {
            // As client-go: every change of holder counts, a takeover of a released Lease too.
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            spec.holder_identity = Some(self.identity.clone());
        }
        spec.lease_duration_seconds = Some(seconds(self.lease_duration));
        spec.renew_time = Some(now);
        lease.spec = Some(spec);
        // `lease` keeps the resourceVersion it was read with: a concurrent writer makes this fail.
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(replaced) => {
                self.observe(replaced.spec.unwrap_or_default());
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.is_conflict() => Ok(false),
            Err(error) => Err(error),
        }
    }

    fn observe(&self, spec: LeaseSpec) {
        *self.observed.lock() = Some((spec, Instant::now()));
    }

    /// Whether `spec` has gone unchanged for longer than its duration since this candidate first
    /// saw it (seeing a new record restarts the clock).
    fn expired(&self, spec: &LeaseSpec) -> bool {
        let mut observed = self.observed.lock();
        let since = match observed.as_ref() {
            Some((seen, at)) if seen == spec => *at,
            _ => {
                *observed = Some((spec.clone(), Instant::now()));
                return false;
            }
        };
        let duration =
            Duration::from_secs(u64::try_from(spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0));
        since.elapsed() >= duration
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{ApiServerVerifier, with_deadline};
    use serde_json::json;

    const PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/statefleet-system/leases/statefleet-operator";

    fn candidate(client: &Client, identity: &str) -> LeaderElection {
        LeaderElection::new(client.clone(), "statefleet-system", "statefleet-operator", identity)
    }

    fn holder(verifier: &ApiServerVerifier) -> serde_json::Value {
        verifier.cluster.lock().objects[PATH]["spec"]["holderIdentity"].clone()
    }

    #[tokio::test]
    async fn the_first_candidate_creates_and_holds_the_lease() {
        let (client, verifier) = ApiServerVerifier::new();
        let a = candidate(&client, "a");
        let b = candidate(&client, "b");
        assert!(with_deadline(a.try_acquire_or_renew()).await.expect("creates"));
        assert_eq!(holder(&verifier), "a");
        assert_eq!(verifier.cluster.lock().objects[PATH]["spec"]["leaseDurationSeconds"], 15);
        assert!(!with_deadline(b.try_acquire_or_renew()).await.expect("reads"), "a's lease is fresh");
        assert!(with_deadline(a.try_acquire_or_renew()).await.expect("renews"));
        assert_eq!(holder(&verifier), "a");
    }

    #[tokio::test]
    async fn an_expired_lease_is_taken_over() {
        let (client, verifier) = ApiServerVerifier::new();
        let a = candidate(&client, "a");
        let b = candidate(&client, "b");
        assert!(with_deadline(a.try_acquire_or_renew()).await.expect("creates"));
        assert!(!with_deadline(b.try_acquire_or_renew()).await.expect("reads"));
        // b saw the same record, unchanged, longer ago than its duration: a stopped renewing.
        {
            let mut observed = b.observed.lock();
            let (_, at) = observed.as_mut().expect("observed");
            *at = Instant::now().checked_sub(Duration::from_secs(16)).expect("a past instant");
        }
        assert!(with_deadline(b.try_acquire_or_renew()).await.expect("takes over"));
        let spec = verifier.cluster.lock().objects[PATH]["spec"].clone();
        assert_eq!(
            (spec["holderIdentity"].clone(), spec["leaseTransitions"].clone()),
            (json!("b"), json!(1))
        );
        // a notices on its next renewal.
        assert!(!with_deadline(a.try_acquire_or_renew()).await.expect("reads"));
    }

    #[tokio::test]
    async fn a_released_lease_is_free_at_once() {
        let (client, verifier) = ApiServerVerifier::new();
        let a = candidate(&client, "a");
        let b = candidate(&client, "b");
        assert!(with_deadline(a.try_acquire_or_renew()).await.expect("creates"));
        with_deadline(b.release()).await.expect("b holds nothing: a no-op");
        assert_eq!(holder(&verifier), "a");
        with_deadline(a.release()).await.expect("releases");
        assert!(holder(&verifier).is_null());
        assert!(with_deadline(b.try_acquire_or_renew()).await.expect("takes the free lease"));
        assert_eq!(holder(&verifier), "b");
    }

    #[tokio::test]
    async fn a_concurrent_write_makes_the_attempt_lose() {
        let (client, verifier) = ApiServerVerifier::new();
        let a = candidate(&client, "a");
        assert!(with_deadline(a.try_acquire_or_renew()).await.expect("creates"));
        with_deadline(a.release()).await.expect("releases");
        // Someone else writes between our read and our write: the replace conflicts.
        verifier.cluster.lock().stale_writes = true;
        assert!(!with_deadline(a.try_acquire_or_renew()).await.expect("a conflict is a lost round"));
    }
}
