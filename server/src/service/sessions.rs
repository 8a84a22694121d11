//! Login sessions: refresh tokens rotate on every use, and a token presented twice (stolen and
//! replayed, or raced) ends its whole session.

use chrono::{DateTime, Utc};

use crate::store::tx::transact;
use crate::store::{RefreshOutcome, RefreshRecord, Store, StoreResult};

/// Stores the refresh token of a new session.
pub async fn start(store: &dyn Store, record: RefreshRecord) -> StoreResult<()> {
    transact(store, move |tx| tx.insert_refresh(&record)).await
}

/// Rotates the presented refresh token (by its hash) into `next`, which joins its session.
pub async fn rotate(
    store: &dyn Store,
    presented_hash: &str,
    next: RefreshRecord,
    now: DateTime<Utc>,
) -> StoreResult<RefreshOutcome> {
    let presented = presented_hash.to_owned();
    transact(store, move |tx| {
        let Some(token) = tx.refresh_token(&presented)? else {
            return Ok(RefreshOutcome::Invalid);
        };
        if token.revoked {
            return Ok(RefreshOutcome::Invalid);
        }
        if token.used {
            tx.revoke_refresh_family(token.family_id)?;
            return Ok(RefreshOutcome::Reused);
        }
        if token.expires_at < now {
            return Ok(RefreshOutcome::Invalid);
        }
        tx.mark_refresh_used(&presented, now)?;
        tx.insert_refresh(&RefreshRecord {
            family_id: token.family_id,
            user_id: token.user_id,
            tenant_id: token.tenant_id,
            ..next.clone()
        })?;
        Ok(RefreshOutcome::Rotated {
            user_id: token.user_id,
            tenant_id: token.tenant_id,
        })
    })
    .await
}
