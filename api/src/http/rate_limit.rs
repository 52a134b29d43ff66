//! Per-token and per-tenant rate limits (`governor`'s GCRA, keyed): a request over either
//! budget answers 429 `RATE_LIMITED` with `Retry-After`, before anything executes. A
//! partner token is keyed by its record id, any other by role, tenant and subject; a
//! tenant's budget is shared by all its callers, so one tenant cannot take the server
//! from the others.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::auth::Caller;
use crate::clock::SharedClock;
use crate::domain::TenantId;

/// The server's clock, as governor reads time: budgets refill as it moves, so tests
/// move it instead of sleeping.
#[derive(Clone)]
struct ServerClock(SharedClock);

impl Clock for ServerClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        let micros = self.0.now().timestamp_micros();
        Nanos::from(u64::try_from(micros).unwrap_or(0).saturating_mul(1_000))
    }
}

type Limiter<K> = RateLimiter<K, DefaultKeyedStateStore<K>, ServerClock, NoOpMiddleware<Nanos>>;

/// Which budget a refused request exceeded, and when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub limit: &'static str,
    pub retry_after: Duration,
}

pub struct RateLimits {
    per_token: Option<Limiter<String>>,
    per_tenant: Option<Limiter<TenantId>>,
    clock: ServerClock,
    checks: AtomicU64,
}

/// `per_second` sustained with bursts of twice that; `None` for 0 (no limit).
fn quota(per_second: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(per_second)?;
    let burst = NonZeroU32::new(per_second.saturating_mul(2)).unwrap_or(rate);
    Some(Quota::per_second(rate).allow_burst(burst))
}

impl RateLimits {
    pub fn new(token_per_second: u32, tenant_per_second: u32, clock: SharedClock) -> Self {
        let clock = ServerClock(clock);
        Self {
            per_token: quota(token_per_second)
                .map(|q| RateLimiter::new(q, DefaultKeyedStateStore::default(), clock.clone())),
            per_tenant: quota(tenant_per_second)
                .map(|q| RateLimiter::new(q, DefaultKeyedStateStore::default(), clock.clone())),
            clock,
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one request from the caller's budgets.
    ///
    /// # Errors
    /// The first budget that is spent.
    pub fn check(&self, caller: &Caller) -> Result<(), Refusal> {
        // Keys not seen for a while are forgotten now and then, so the tables stay as
        // small as the set of active callers.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            if let Some(l) = &self.per_token {
                l.retain_recent();
            }
            if let Some(l) = &self.per_tenant {
                l.retain_recent();
            }
        }
        if let (Some(limiter), Some(tenant)) = (&self.per_tenant, caller.tenant) {
            limiter.check_key(&tenant).map_err(|not_until| Refusal {
                limit: "tenant",
                retry_after: not_until.wait_time_from(self.clock.now()),
            })?;
        }
        if let Some(limiter) = &self.per_token {
            let key = match caller.token_id {
                Some(jti) => jti.to_string(),
                None => format!(
                    "{}|{}|{}",
                    caller.role.as_claim(),
                    caller.tenant.map(|t| t.to_string()).unwrap_or_default(),
                    caller.subject
                ),
            };
            limiter.check_key(&key).map_err(|not_until| Refusal {
                limit: "token",
                retry_after: not_until.wait_time_from(self.clock.now()),
            })?;
        }
        Ok(())
    }
}
