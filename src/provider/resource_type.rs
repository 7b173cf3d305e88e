//! How a provider is organised inside: each resource type is one value implementing
//! [`ResourceType`], listed once in the provider's table ([`TypedProvider::types`]). The
//! provider hands every type its shared context (clients, pacing, settings: the provider
//! itself), and [`Provider`] dispatches through the table, so adding a type is one file
//! and one line of the table.

use async_trait::async_trait;

use super::{
    default_diff, DiffResult, Limits, OpContext, Property, Provider, ProviderError, ProviderResult,
    ResourceSchema, Snapshot,
};
use crate::diag::Diagnostic;
use crate::value::{PropertyPath, Value};

/// One resource type of a provider whose shared context is `P`. Defaults mirror those of
/// [`Provider`]; a data source only (`managed: false`) implements [`ResourceType::read_data`].
#[async_trait]
pub trait ResourceType<P: Send + Sync + 'static>: Send + Sync {
    /// The full type name, as the schema gives it (`aws.iam.role`).
    fn type_name(&self) -> &'static str;

    fn schema(&self) -> ResourceSchema;

    /// See [`Provider::validate`].
    fn validate(&self, _properties: &Value) -> Vec<Diagnostic> {
        Vec::new()
    }

    /// See [`Provider::diff`].
    fn diff(
        &self,
        _p: &P,
        schema: &ResourceSchema,
        prior: &Snapshot,
        desired: &Value,
    ) -> DiffResult {
        default_diff(schema, prior, desired)
    }

    async fn create(&self, _p: &P, _ctx: &OpContext, _desired: &Value) -> ProviderResult<Snapshot> {
        Err(data_source_only(self.type_name()))
    }

    async fn read(
        &self,
        _p: &P,
        _ctx: &OpContext,
        _prior: &Snapshot,
    ) -> ProviderResult<Option<Snapshot>> {
        Err(data_source_only(self.type_name()))
    }

    async fn update(
        &self,
        _p: &P,
        _ctx: &OpContext,
        _prior: &Snapshot,
        _desired: &Value,
    ) -> ProviderResult<Snapshot> {
        Err(data_source_only(self.type_name()))
    }

    async fn delete(&self, _p: &P, _ctx: &OpContext, _prior: &Snapshot) -> ProviderResult<()> {
        Err(data_source_only(self.type_name()))
    }

    /// See [`Provider::import`]: by default, a read of a snapshot holding only the id.
    async fn import(&self, p: &P, ctx: &OpContext, id: &str) -> ProviderResult<Option<Snapshot>> {
        let prior = Snapshot {
            id: id.to_string(),
            ..Snapshot::default()
        };
        self.read(p, ctx, &prior).await
    }

    /// See [`Provider::identity`].
    fn identity(&self, _properties: &Value) -> Option<String> {
        None
    }

    /// The import id a create of `desired` would give its object, when the properties
    /// name it (a role's name, a Kubernetes object's kind, namespace and name): the
    /// default [`ResourceType::find`] imports by it.
    fn adopt_id(&self, _desired: &Value) -> Option<String> {
        None
    }

    /// See [`Provider::find`]: by default, an import by [`ResourceType::adopt_id`].
    async fn find(
        &self,
        p: &P,
        ctx: &OpContext,
        desired: &Value,
    ) -> ProviderResult<Option<Snapshot>> {
        match self.adopt_id(desired) {
            Some(id) => self.import(p, ctx, &id).await,
            None => Err(super::cannot_adopt(self.type_name())),
        }
    }

    /// See [`Provider::plan_details`].
    async fn plan_details(
        &self,
        _p: &P,
        _prior: &Snapshot,
        _desired: &Value,
    ) -> ProviderResult<Vec<String>> {
        Ok(Vec::new())
    }

    /// See [`Provider::recorded`].
    fn recorded(&self, desired: &Value) -> Value {
        desired.clone()
    }

    /// See [`Provider::secret_paths`].
    fn secret_paths(&self, _properties: &Value) -> Vec<PropertyPath> {
        Vec::new()
    }

    /// See [`Provider::secret_attributes`].
    fn secret_attributes(&self, _properties: &Value) -> Vec<PropertyPath> {
        Vec::new()
    }

    /// See [`Provider::restart`].
    async fn restart(&self, _p: &P, _ctx: &OpContext, _prior: &Snapshot) -> ProviderResult<()> {
        Err(super::cannot_restart(self.type_name()))
    }

    /// See [`Provider::read_data`].
    async fn read_data(
        &self,
        _p: &P,
        _ctx: &OpContext,
        _properties: &Value,
    ) -> ProviderResult<Value> {
        Err(ProviderError::new(format!(
            "{} cannot be used with mode: data",
            self.type_name()
        )))
    }
}

fn data_source_only(type_name: &str) -> ProviderError {
    ProviderError::new(format!(
        "{type_name} is a data source: use it with mode: data"
    ))
}

/// The provider-wide part of a provider made of [`ResourceType`]s: name, settings,
/// configuration and the table of types. Every `TypedProvider` is a [`Provider`].
#[async_trait]
pub trait TypedProvider: Send + Sync + Sized + 'static {
    /// See [`Provider::name`].
    fn name(&self) -> &'static str;

    /// Every resource type, in the order `schemas` lists them.
    fn types(&self) -> &'static [&'static dyn ResourceType<Self>];

    /// See [`Provider::settings`].
    fn settings(&self) -> Vec<Property>;

    /// See [`Provider::configure`].
    async fn configure(&self, _settings: &Value) -> ProviderResult<()> {
        Ok(())
    }

    /// See [`Provider::limits`].
    fn limits(&self) -> Limits {
        Limits::default()
    }

    /// See [`Provider::endpoint`].
    fn endpoint(&self) -> Option<String> {
        None
    }

    /// The type named `type_name`, if this provider serves it.
    fn find_type(&self, type_name: &str) -> Option<&'static dyn ResourceType<Self>> {
        self.types()
            .iter()
            .copied()
            .find(|t| t.type_name() == type_name)
    }

    /// The type named `type_name`; the engine only asks for types the registry gave this
    /// provider, so a miss is a bug worth naming.
    fn get_type(&self, type_name: &str) -> ProviderResult<&'static dyn ResourceType<Self>> {
        self.find_type(type_name).ok_or_else(|| {
            ProviderError::new(format!(
                "the {} provider has no resource type {type_name}",
                self.name()
            ))
        })
    }
}

#[async_trait]
impl<P: TypedProvider> Provider for P {
    fn name(&self) -> &'static str {
        TypedProvider::name(self)
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        self.types().iter().map(|t| t.schema()).collect()
    }

    fn settings(&self) -> Vec<Property> {
        TypedProvider::settings(self)
    }

    fn validate(&self, type_name: &str, properties: &Value) -> Vec<Diagnostic> {
        self.find_type(type_name)
            .map(|t| t.validate(properties))
            .unwrap_or_default()
    }

    async fn configure(&self, settings: &Value) -> ProviderResult<()> {
        TypedProvider::configure(self, settings).await
    }

    fn limits(&self) -> Limits {
        TypedProvider::limits(self)
    }

    fn endpoint(&self) -> Option<String> {
        TypedProvider::endpoint(self)
    }

    fn diff(&self, schema: &ResourceSchema, prior: &Snapshot, desired: &Value) -> DiffResult {
        match self.find_type(schema.type_name) {
            Some(t) => t.diff(self, schema, prior, desired),
            None => default_diff(schema, prior, desired),
        }
    }

    async fn create(
        &self,
        ctx: &OpContext,
        type_name: &str,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        self.get_type(type_name)?.create(self, ctx, desired).await
    }

    async fn read(
        &self,
        ctx: &OpContext,
        type_name: &str,
        prior: &Snapshot,
    ) -> ProviderResult<Option<Snapshot>> {
        self.get_type(type_name)?.read(self, ctx, prior).await
    }

    async fn update(
        &self,
        ctx: &OpContext,
        type_name: &str,
        prior: &Snapshot,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        self.get_type(type_name)?
            .update(self, ctx, prior, desired)
            .await
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        type_name: &str,
        prior: &Snapshot,
    ) -> ProviderResult<()> {
        self.get_type(type_name)?.delete(self, ctx, prior).await
    }

    async fn import(
        &self,
        ctx: &OpContext,
        type_name: &str,
        id: &str,
    ) -> ProviderResult<Option<Snapshot>> {
        self.get_type(type_name)?.import(self, ctx, id).await
    }

    async fn restart(
        &self,
        ctx: &OpContext,
        type_name: &str,
        prior: &Snapshot,
    ) -> ProviderResult<()> {
        self.get_type(type_name)?.restart(self, ctx, prior).await
    }

    async fn find(
        &self,
        ctx: &OpContext,
        type_name: &str,
        desired: &Value,
    ) -> ProviderResult<Option<Snapshot>> {
        self.get_type(type_name)?.find(self, ctx, desired).await
    }

    fn identity(&self, type_name: &str, properties: &Value) -> Option<String> {
        self.find_type(type_name)?.identity(properties)
    }

    async fn plan_details(
        &self,
        type_name: &str,
        prior: &Snapshot,
        desired: &Value,
    ) -> ProviderResult<Vec<String>> {
        match self.find_type(type_name) {
            Some(t) => t.plan_details(self, prior, desired).await,
            None => Ok(Vec::new()),
        }
    }

    fn recorded(&self, type_name: &str, desired: &Value) -> Value {
        match self.find_type(type_name) {
            Some(t) => t.recorded(desired),
            None => desired.clone(),
        }
    }

    fn secret_paths(&self, type_name: &str, properties: &Value) -> Vec<PropertyPath> {
        self.find_type(type_name)
            .map(|t| t.secret_paths(properties))
            .unwrap_or_default()
    }

    fn secret_attributes(&self, type_name: &str, properties: &Value) -> Vec<PropertyPath> {
        self.find_type(type_name)
            .map(|t| t.secret_attributes(properties))
            .unwrap_or_default()
    }

    async fn read_data(
        &self,
        ctx: &OpContext,
        type_name: &str,
        properties: &Value,
    ) -> ProviderResult<Value> {
        self.get_type(type_name)?
            .read_data(self, ctx, properties)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{aws, core, helm, kubernetes};

    fn check<P: TypedProvider>(p: &P) {
        for t in p.types() {
            assert_eq!(t.type_name(), t.schema().type_name, "{}", p.name());
            assert!(p.find_type(t.type_name()).is_some());
        }
        let e = p.get_type("nope.nothing").err().unwrap();
        assert_eq!(
            e.message,
            format!(
                "the {} provider has no resource type nope.nothing",
                p.name()
            )
        );
    }

    #[test]
    fn every_table_entry_is_found_by_the_name_its_schema_gives() {
        check(&core::CoreProvider);
        check(&aws::AwsProvider::default());
        check(&helm::HelmProvider::default());
        check(&kubernetes::KubernetesProvider::default());
    }
}
