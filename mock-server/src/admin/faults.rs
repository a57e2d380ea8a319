//! Scripted faults as the admin API arms, lists and disarms them (see [`crate::faults`]).

use super::http::{to_value, Params};
use super::{Admin, AdminError, Result};
use crate::faults::Fault;
use serde_json::{json, Map, Value};

/// This area's verbs and their parameters, for usage lines and `mock-server admin --help`.
pub const VERBS: &[(&str, &str)] = &[
    (
        "add-fault",
        "--hook H --kind K [kind parameters] [matchers] [--times N] [--expect N]",
    ),
    ("get-faults", ""),
    ("remove-fault", "--id N"),
    ("clear-faults", ""),
];

/// Run one of this area's verbs; `Ok(None)` when `verb` is not one of them.
pub(super) fn call(admin: &Admin, verb: &str, p: &mut Params) -> Result<Option<Value>> {
    let out = match verb {
        "add-fault" => {
            // The fault's own fields, with the same name normalisation as other verbs.
            let fields: Map<String, Value> = p
                .take_all()
                .into_iter()
                .map(|(k, v)| (super::http::fault_field(&k), v))
                .collect();
            let fault: Fault = serde_json::from_value(Value::Object(fields))
                .map_err(|e| AdminError::invalid(format!("fault: {e}")))?;
            let id = admin
                .core()
                .faults
                .arm(fault)
                .map_err(|e| AdminError::invalid(e.to_string()))?;
            json!({ "id": id })
        }
        "get-faults" => {
            p.finish()?;
            json!({ "faults": admin.core().faults.list() })
        }
        "remove-fault" => {
            let id = u64::try_from(p.i64("id")?).map_err(|_| AdminError::invalid("--id: out of range"))?;
            p.finish()?;
            let armed = admin
                .core()
                .faults
                .disarm(id)
                .ok_or_else(|| AdminError::not_found(format!("no fault #{id}")))?;
            to_value(armed)
        }
        "clear-faults" => {
            p.finish()?;
            json!({ "removed": admin.core().faults.clear() })
        }
        _ => return Ok(None),
    };
    Ok(Some(out))
}
