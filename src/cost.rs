//! What a stack costs per month in AWS Private CA, the one line item here that is billed
//! per resource per month whether used or not.
//!
//! Prices: AWS Private CA pricing, per CA per month, for the two CA usage modes
//! (general purpose: $400; short-lived certificate mode: $50). Checked 2026-11-28. They are
//! list prices before any free trial; the first month of a new CA in an account is free.

use std::collections::BTreeMap;

use crate::plan::{Action, Plan};
use crate::state::ResourceState;
use crate::value::Value;

pub const CA_TYPE: &str = "aws.pca.certificate_authority";
pub const PRICES_CHECKED: &str = "2026-11-28";

/// One row of the price table.
pub struct CaPrice {
    pub usage_mode: &'static str,
    pub label: &'static str,
    pub usd_per_month: i64,
}

pub const CA_PRICES: &[CaPrice] = &[
    CaPrice {
        usage_mode: "general_purpose",
        label: "general-purpose",
        usd_per_month: 400,
    },
    CaPrice {
        usage_mode: "short_lived_certificate",
        label: "short-lived",
        usd_per_month: 50,
    },
];

/// A CA the stack uses by ARN (`existing_arn`) is billed to whoever created it.
pub const EXISTING_CA: CaPrice = CaPrice {
    usage_mode: "existing",
    label: "existing",
    usd_per_month: 0,
};

fn price_of(properties: &Value) -> &'static CaPrice {
    if properties
        .get_str("existing_arn")
        .is_some_and(|a| !a.is_empty())
    {
        return &EXISTING_CA;
    }
    let mode = properties
        .get_str("usage_mode")
        .unwrap_or("general_purpose");
    CA_PRICES
        .iter()
        .find(|p| p.usage_mode == mode)
        .unwrap_or(&CA_PRICES[0])
}

/// Monthly cost change by kind of CA: positive for CAs added, negative for CAs removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CostChange {
    /// label → net count of CAs
    pub counts: BTreeMap<&'static str, i64>,
    pub usd_per_month: i64,
}

impl CostChange {
    fn add(&mut self, price: &'static CaPrice, n: i64) {
        *self.counts.entry(price.label).or_default() += n;
        self.usd_per_month += n * price.usd_per_month;
    }

    /// `+$800/month: 2 general-purpose CAs`, or `None` when nothing changes.
    pub fn line(&self) -> Option<String> {
        let parts: Vec<String> = self
            .counts
            .iter()
            .filter(|(_, n)| **n != 0)
            .map(|(label, n)| format!("{n} {label} CA{}", if n.abs() == 1 { "" } else { "s" }))
            .collect();
        if parts.is_empty() {
            return None;
        }
        let sign = if self.usd_per_month < 0 { "-" } else { "+" };
        Some(format!(
            "{sign}${}/month: {}",
            self.usd_per_month.abs(),
            parts.join(", ")
        ))
    }
}

/// The monthly cost change a plan makes. Replacements cost nothing extra: the old CA
/// stops billing when deleted.
pub fn plan_cost(plan: &Plan) -> CostChange {
    let mut change = CostChange::default();
    for c in plan.changes.iter().filter(|c| c.type_name == CA_TYPE) {
        match c.action {
            Action::Create => change.add(price_of(&c.properties), 1),
            Action::Delete => {
                if let Some(prior) = &c.prior {
                    change.add(price_of(&prior.properties), -1);
                }
            }
            Action::DeleteThenCreate | Action::CreateThenDelete | Action::Update => {
                if let Some(prior) = &c.prior {
                    let (old, new) = (price_of(&prior.properties), price_of(&c.properties));
                    if old.usage_mode != new.usage_mode {
                        change.add(old, -1);
                        change.add(new, 1);
                    }
                }
            }
            // The object bills already and goes on billing: the account's cost is unchanged.
            Action::NoOp | Action::Read | Action::Adopt | Action::Forget => {}
        }
    }
    change
}

/// What the CAs in state cost per month now.
pub fn running_total(resources: &BTreeMap<String, ResourceState>) -> CostChange {
    let mut total = CostChange::default();
    for r in resources.values().filter(|r| r.type_name == CA_TYPE) {
        total.add(price_of(&r.properties), 1);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca(mode: Option<&str>) -> ResourceState {
        let mut props = Value::map();
        if let Some(m) = mode {
            props.set_path("usage_mode", m.into());
        }
        ResourceState {
            address: "ca".into(),
            type_name: CA_TYPE.into(),
            mode: crate::config::Mode::Managed,
            provider: "aws".into(),
            id: "arn".into(),
            properties: props,
            attributes: Value::map(),
            dependencies: vec![],
            sensitive_paths: vec![],
            retain_on_destroy: false,
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn totals_by_usage_mode() {
        let mut state = BTreeMap::new();
        state.insert("a".to_string(), ca(None));
        state.insert("b".to_string(), ca(Some("general_purpose")));
        state.insert("c".to_string(), ca(Some("short_lived_certificate")));
        let total = running_total(&state);
        assert_eq!(total.usd_per_month, 850);
        assert_eq!(
            total.line().unwrap(),
            "+$850/month: 2 general-purpose CAs, 1 short-lived CA"
        );
    }

    #[test]
    fn a_ca_used_by_arn_costs_nothing() {
        let mut existing = ca(None);
        existing.properties.set_path(
            "existing_arn",
            "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/x".into(),
        );
        let mut state = BTreeMap::new();
        state.insert("a".to_string(), existing);
        let total = running_total(&state);
        assert_eq!(total.usd_per_month, 0);
        assert_eq!(total.line().unwrap(), "+$0/month: 1 existing CA");
        // An empty existing_arn (a variable left at its default) creates, and costs.
        let mut created = ca(None);
        created.properties.set_path("existing_arn", "".into());
        assert_eq!(price_of(&created.properties).usd_per_month, 400);
    }

    #[test]
    fn removal_is_negative_and_nothing_is_none() {
        let mut c = CostChange::default();
        c.add(&CA_PRICES[0], -1);
        assert_eq!(c.line().unwrap(), "-$400/month: -1 general-purpose CA");
        assert_eq!(CostChange::default().line(), None);
    }
}
