//! Tenants (organisations) and the platform's own settings.

use chrono::{DateTime, Utc};
use smartqueue_core::Tenant;
use uuid::Uuid;

use crate::store::tx::transact;
use crate::store::{Actor, Store, StoreError, StoreResult};

/// Creates a tenant; a slug already in use is `slug_taken`.
pub async fn create(
    store: &dyn Store,
    name: &str,
    slug: &str,
    now: DateTime<Utc>,
) -> StoreResult<Tenant> {
    let tenant = Tenant {
        id: Uuid::new_v4(),
        name: name.to_owned(),
        slug: slug.to_owned(),
        is_active: true,
        created_at: now,
    };
    transact(store, move |tx| {
        if tx.tenant_by_slug(&tenant.slug)?.is_some() {
            return Err(StoreError::conflict(
                "slug_taken",
                format!("a tenant with slug {:?} already exists", tenant.slug),
            ));
        }
        tx.insert_tenant(&tenant)?;
        let after = serde_json::to_value(&tenant)?;
        tx.audit(
            tenant.id,
            &Actor::system(),
            "tenant.create",
            "tenant",
            tenant.id,
            None,
            Some(&after),
            now,
        )?;
        Ok(tenant.clone())
    })
    .await
}

/// The secret the access tokens are signed with: 384 random bits generated on the first start
/// and kept in the database, so every instance and every restart signs alike.
pub async fn signing_secret(store: &dyn Store) -> StoreResult<Vec<u8>> {
    const KEY: &str = "jwt_secret";
    transact(store, |tx| {
        if let Some(s) = tx.setting(KEY)? {
            return Ok(s.into_bytes());
        }
        let secret = hex::encode(rand::Rng::random::<[u8; 48]>(&mut rand::rng()));
        tx.insert_setting(KEY, &secret)?;
        Ok(secret.into_bytes())
    })
    .await
}
