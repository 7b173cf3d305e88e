//! `core.null`: does nothing; a change of `triggers` replaces it.

use async_trait::async_trait;

use super::{attrs, new_id, triggers, CoreProvider, NULL};
use crate::provider::{
    Attribute, OpContext, ProviderResult, ResourceSchema, ResourceType, Snapshot,
};
use crate::value::Value;

pub struct Null;

#[async_trait]
impl ResourceType<CoreProvider> for Null {
    fn type_name(&self) -> &'static str {
        NULL
    }

    fn schema(&self) -> ResourceSchema {
        ResourceSchema {
            type_name: NULL,
            description: "Does nothing; a change of triggers replaces it.",
            properties: vec![triggers()],
            attributes: vec![Attribute::new("id", "A random id, new on every create.")],
            data_source: false,
            managed: true,
        }
    }

    async fn create(
        &self,
        _: &CoreProvider,
        _ctx: &OpContext,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        let id = new_id();
        Ok(Snapshot {
            attributes: attrs(&[("id", id.clone().into())]),
            id,
            properties: desired.clone(),
        })
    }

    async fn read(
        &self,
        _: &CoreProvider,
        _ctx: &OpContext,
        prior: &Snapshot,
    ) -> ProviderResult<Option<Snapshot>> {
        Ok(Some(prior.clone()))
    }

    async fn update(
        &self,
        _: &CoreProvider,
        _ctx: &OpContext,
        prior: &Snapshot,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        Ok(Snapshot {
            properties: desired.clone(),
            ..prior.clone()
        })
    }

    async fn delete(
        &self,
        _: &CoreProvider,
        _ctx: &OpContext,
        _prior: &Snapshot,
    ) -> ProviderResult<()> {
        Ok(())
    }

    async fn import(
        &self,
        _: &CoreProvider,
        _ctx: &OpContext,
        id: &str,
    ) -> ProviderResult<Option<Snapshot>> {
        Ok(Some(imported(id)))
    }
}

/// A null or sleep resource adopted by id: nothing to read, the id is all there is.
pub(super) fn imported(id: &str) -> Snapshot {
    Snapshot {
        id: id.to_string(),
        properties: Value::map(),
        attributes: attrs(&[("id", id.into())]),
    }
}
