//! What a provider declares about its resource types, so the engine can validate stacks
//! and plan replacements with no I/O.

use crate::value::Value;

/// The shape a property value must have.
#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    String,
    Number,
    Bool,
    /// A string such as `20ms`, `5s`, `2m`, `10y` (see [`crate::duration`]).
    Duration,
    /// One of a closed set of strings.
    Enum(&'static [&'static str]),
    List(Box<Type>),
    /// Free-form keys, values of one type.
    Map(Box<Type>),
    /// Fixed keys, each with its own schema.
    Object(Vec<Property>),
    /// Anything (manifests, policy documents): the provider validates it.
    Any,
}

impl Type {
    pub fn describe(&self) -> String {
        match self {
            Type::String => "a string".into(),
            Type::Number => "a number".into(),
            Type::Bool => "true or false".into(),
            Type::Duration => "a duration such as 20ms, 5s, 2m, 12h or 10y".into(),
            Type::Enum(values) => format!("one of {}", values.join(", ")),
            Type::List(inner) => format!("a list of {}", inner.describe_plural()),
            Type::Map(inner) => format!("a map of {}", inner.describe_plural()),
            Type::Object(_) => "a map of fields".into(),
            Type::Any => "any value".into(),
        }
    }

    fn describe_plural(&self) -> String {
        match self {
            Type::String => "strings".into(),
            Type::Number => "numbers".into(),
            Type::Bool => "booleans".into(),
            other => other.describe(),
        }
    }
}

/// One property of a resource type (or one field of an object property).
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    pub name: &'static str,
    pub ty: Type,
    pub required: bool,
    /// A change of this property cannot be applied in place: the resource is replaced.
    pub force_new: bool,
    /// Never printed, never written to state in clear (state keeps a digest).
    pub sensitive: bool,
    pub default: Option<Value>,
    pub description: &'static str,
}

impl Property {
    pub fn new(name: &'static str, ty: Type) -> Property {
        Property {
            name,
            ty,
            required: false,
            force_new: false,
            sensitive: false,
            default: None,
            description: "",
        }
    }
    #[must_use]
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    #[must_use]
    pub fn force_new(mut self) -> Self {
        self.force_new = true;
        self
    }
    #[must_use]
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
    #[must_use]
    pub fn default(mut self, v: impl Into<Value>) -> Self {
        self.default = Some(v.into());
        self
    }
    #[must_use]
    pub fn describe(mut self, d: &'static str) -> Self {
        self.description = d;
        self
    }
}

/// A computed attribute, known after create or read.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: &'static str,
    pub sensitive: bool,
    pub description: &'static str,
}

impl Attribute {
    pub fn new(name: &'static str, description: &'static str) -> Attribute {
        Attribute {
            name,
            sensitive: false,
            description,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceSchema {
    /// Full type name, e.g. `core.null`, `aws.pca.certificate_authority`.
    pub type_name: &'static str,
    pub description: &'static str,
    pub properties: Vec<Property>,
    pub attributes: Vec<Attribute>,
    /// Usable with `mode: data` (read-only lookup).
    pub data_source: bool,
    /// Usable as a managed resource.
    pub managed: bool,
}

impl ResourceSchema {
    pub fn property(&self, name: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.name == name)
    }

    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Names a reference `${res.NAME}` may use: properties and attributes.
    pub fn readable_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.properties
            .iter()
            .map(|p| p.name)
            .chain(self.attributes.iter().map(|a| a.name))
    }
}
