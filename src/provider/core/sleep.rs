//! `core.sleep`: waits `create_duration` on create and `destroy_duration` on destroy.

use async_trait::async_trait;

use super::{
    attrs, duration_prop, new_id, null::imported, precise_sleep, triggers, CoreProvider, SLEEP,
};
use crate::provider::{
    Attribute, OpContext, Property, ProviderResult, ResourceSchema, ResourceType, Snapshot, Type,
};
use crate::value::Value;

pub struct Sleep;

#[async_trait]
impl ResourceType<CoreProvider> for Sleep {
    fn type_name(&self) -> &'static str {
        SLEEP
    }

    fn schema(&self) -> ResourceSchema {
        ResourceSchema {
            type_name: SLEEP,
            description: "Waits create_duration on create and destroy_duration on destroy.",
            properties: vec![
                Property::new("create_duration", Type::Duration).describe("Wait on create."),
                Property::new("destroy_duration", Type::Duration).describe("Wait on destroy."),
                triggers(),
            ],
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
        precise_sleep(duration_prop(desired, "create_duration")).await;
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
        prior: &Snapshot,
    ) -> ProviderResult<()> {
        precise_sleep(duration_prop(&prior.properties, "destroy_duration")).await;
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
