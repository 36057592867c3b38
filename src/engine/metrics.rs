//! What this node's engine counted since it started, for `GET /metrics`: jobs it finished by
//! status and profile, their durations (a histogram), and the cost, tokens and turns Claude
//! reported. Cluster-wide figures (queue length, running per node) come from the store when
//! the metrics are rendered, not from here.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::job::{Progress, Status};

/// Upper bounds (seconds) of the job duration histogram's buckets (`+Inf` is implied).
pub const DURATION_BUCKETS: &[f64] = &[1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0];

/// One histogram: a count per bucket (cumulative when rendered), the sum and the count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// `buckets[i]`: observations `<= DURATION_BUCKETS[i]` and above the previous bound.
    pub buckets: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; DURATION_BUCKETS.len()];
        }
        if let Some(i) = DURATION_BUCKETS.iter().position(|b| v <= *b) {
            self.buckets[i] += 1;
        }
        self.sum += v;
        self.count += 1;
    }

    /// `(upper bound, cumulative count)` per bucket, then `+Inf` with the total.
    pub fn cumulative(&self) -> Vec<(Option<f64>, u64)> {
        let mut out = Vec::with_capacity(DURATION_BUCKETS.len() + 1);
        let mut acc = 0;
        for (i, b) in DURATION_BUCKETS.iter().enumerate() {
            acc += self.buckets.get(i).copied().unwrap_or(0);
            out.push((Some(*b), acc));
        }
        out.push((None, self.count));
        out
    }
}

/// Token counts by kind, in the order they are rendered.
pub const TOKEN_KINDS: &[&str] = &["input", "output", "cache_read", "cache_creation"];

/// A copy of the counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// `(status, profile)` → jobs this node finished.
    pub finished: BTreeMap<(String, String), u64>,
    /// status → how long its jobs ran (from start to end).
    pub durations: BTreeMap<String, Histogram>,
    /// profile → USD Claude reported.
    pub cost_usd: BTreeMap<String, f64>,
    /// `(profile, kind)` → tokens.
    pub tokens: BTreeMap<(String, String), u64>,
    /// profile → turns.
    pub turns: BTreeMap<String, u64>,
    /// Jobs handed back to the queue when the node stopped.
    pub handed_back: u64,
}

/// The engine's counters (cheap to update: one short lock per finished job).
#[derive(Debug, Default)]
pub struct JobMetrics {
    inner: Mutex<MetricsSnapshot>,
}

impl JobMetrics {
    /// A job this node ran ended with `status` after `seconds` (when it started).
    pub fn job_ended(
        &self,
        profile: &str,
        status: Status,
        seconds: Option<f64>,
        progress: &Progress,
    ) {
        let Ok(mut m) = self.inner.lock() else {
            return;
        };
        let status = status.as_str().to_string();
        *m.finished
            .entry((status.clone(), profile.to_string()))
            .or_default() += 1;
        if let Some(s) = seconds.filter(|s| s.is_finite() && *s >= 0.0) {
            m.durations.entry(status).or_default().observe(s);
        }
        if let Some(c) = progress.cost_usd.filter(|c| c.is_finite() && *c >= 0.0) {
            *m.cost_usd.entry(profile.to_string()).or_default() += c;
        }
        if let Some(t) = &progress.tokens {
            for (kind, n) in
                TOKEN_KINDS
                    .iter()
                    .zip([t.input, t.output, t.cache_read, t.cache_creation])
            {
                *m.tokens
                    .entry((profile.to_string(), kind.to_string()))
                    .or_default() += n;
            }
        }
        if let Some(n) = progress.num_turns {
            *m.turns.entry(profile.to_string()).or_default() += n;
        }
    }

    pub fn job_handed_back(&self) {
        if let Ok(mut m) = self.inner.lock() {
            m.handed_back += 1;
        }
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        self.inner.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Tokens;

    #[test]
    fn counts_sum_by_profile_and_status_with_cumulative_buckets() {
        let m = JobMetrics::default();
        let p = Progress {
            cost_usd: Some(0.5),
            num_turns: Some(2),
            tokens: Some(Tokens {
                input: 10,
                output: 2,
                cache_read: 1,
                cache_creation: 0,
            }),
            ..Progress::default()
        };
        m.job_ended("code", Status::Succeeded, Some(0.5), &p);
        m.job_ended("code", Status::Succeeded, Some(70.0), &p);
        m.job_ended("review", Status::Failed, None, &Progress::default());
        m.job_ended("code", Status::Failed, Some(f64::NAN), &Progress::default());
        let s = m.snapshot();
        assert_eq!(
            s.finished.get(&("succeeded".into(), "code".into())),
            Some(&2)
        );
        assert_eq!(
            s.finished.get(&("failed".into(), "review".into())),
            Some(&1)
        );
        assert_eq!(s.cost_usd.get("code"), Some(&1.0));
        assert_eq!(s.tokens.get(&("code".into(), "input".into())), Some(&20));
        assert_eq!(s.turns.get("code"), Some(&4));
        let h = &s.durations["succeeded"];
        assert_eq!((h.count, h.sum), (2, 70.5));
        let cum = h.cumulative();
        assert_eq!(cum[0], (Some(1.0), 1));
        assert_eq!(cum[3], (Some(60.0), 1));
        assert_eq!(cum[4], (Some(300.0), 2));
        assert_eq!(cum.last(), Some(&(None, 2)));
        // A NaN duration is not observed.
        assert!(!s.durations.contains_key("failed"));
    }
}
