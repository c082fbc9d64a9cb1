//! An instance's IAM instance profile association as EC2 records it, and
//! the (lagging) view IMDS serves from.
//!
//! The EC2 control plane sees a change at once (`DescribeInstances`,
//! `DescribeIamInstanceProfileAssociations`); IMDS serves the new profile
//! only `imds_association_lag` later, or at once after a reboot. Until then
//! `iam/info` and `security-credentials/` still answer for the old profile.

use std::time::{Duration, Instant, SystemTime};

/// One association (`iip-assoc-…`) of a profile (by name) with an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Association {
    pub id: String,
    pub profile: String,
    pub since: SystemTime,
}

/// The current association and what IMDS still shows until `visible_at`.
#[derive(Debug)]
pub struct Associations {
    current: Option<Association>,
    imds_before: Option<Association>,
    visible_at: Instant,
}

impl Associations {
    pub fn new(initial: Option<Association>, now: Instant) -> Self {
        Self {
            imds_before: initial.clone(),
            current: initial,
            visible_at: now,
        }
    }

    /// What EC2's API reports.
    pub fn current(&self) -> Option<&Association> {
        self.current.as_ref()
    }

    /// What IMDS serves at `now`.
    pub fn imds_view(&self, now: Instant) -> Option<&Association> {
        if now >= self.visible_at {
            self.current.as_ref()
        } else {
            self.imds_before.as_ref()
        }
    }

    /// When IMDS starts serving the current association.
    pub fn visible_at(&self) -> Instant {
        self.visible_at
    }

    /// Changes the association; IMDS follows after `lag`.
    pub fn set(&mut self, next: Option<Association>, now: Instant, lag: Duration) {
        self.imds_before = self.imds_view(now).cloned();
        self.current = next;
        self.visible_at = now + lag;
    }

    /// A reboot: IMDS serves the current association from now on.
    pub fn apply_now(&mut self, now: Instant) {
        self.imds_before = self.current.clone();
        self.visible_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assoc(id: &str, profile: &str) -> Association {
        Association {
            id: id.to_owned(),
            profile: profile.to_owned(),
            since: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn imds_lags_the_control_plane_until_lag_or_reboot() {
        let t0 = Instant::now();
        let lag = Duration::from_secs(5);
        let mut a = Associations::new(Some(assoc("a1", "old")), t0);
        a.set(None, t0, lag);
        a.set(Some(assoc("a2", "new")), t0 + Duration::from_secs(1), lag);
        assert_eq!(a.current().map(|x| x.profile.as_str()), Some("new"));
        let before = t0 + Duration::from_secs(2);
        assert_eq!(a.imds_view(before).map(|x| x.profile.as_str()), Some("old"));
        let after = t0 + Duration::from_secs(6);
        assert_eq!(a.imds_view(after).map(|x| x.profile.as_str()), Some("new"));
        a.set(Some(assoc("a3", "third")), after, lag);
        a.apply_now(after);
        assert_eq!(a.imds_view(after).map(|x| x.id.as_str()), Some("a3"));
    }
}
