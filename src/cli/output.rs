//! `output [NAME]`: outputs from state; one output's string value prints raw.

use super::args::OutputArgs;
use super::{out, params, CmdResult, EXIT_OK};
use crate::provider::Registry;
use crate::state::OutputState;
use crate::value::Value;

pub fn output(args: OutputArgs, registry: &Registry) -> CmdResult {
    let loc = params::location(&args.location);
    let outputs =
        crate::ops::output::outputs(&loc, args.name.as_deref(), registry, &params::hooks())?;
    let shown = |o: &OutputState| {
        if o.sensitive {
            serde_json::json!("(sensitive)")
        } else {
            o.value.to_masked_json()
        }
    };
    if args.name.is_some() {
        for o in outputs.values() {
            let text = match (&o.value, args.json) {
                (Value::String(s), false) if !o.sensitive => s.clone(),
                _ => serde_json::to_string_pretty(&shown(o)).expect("json"),
            };
            out(&format!("{text}\n"));
        }
        return Ok(EXIT_OK);
    }
    if args.json {
        let doc: serde_json::Map<String, serde_json::Value> = outputs
            .iter()
            .map(|(k, o)| {
                (
                    k.clone(),
                    serde_json::json!({"value": shown(o), "sensitive": o.sensitive}),
                )
            })
            .collect();
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).expect("json")
        ));
    } else {
        for (k, o) in &outputs {
            let v = if o.sensitive {
                "(sensitive)".into()
            } else {
                o.value.render()
            };
            out(&format!("{k} = {v}\n"));
        }
    }
    Ok(EXIT_OK)
}
