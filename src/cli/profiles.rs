//! `agenticore profiles`.

use agenticore::client::Backend;

use super::args::JsonArg;
use super::output::print_json;
use super::{CliResult, exit};

pub async fn run(backend: &Backend, a: JsonArg) -> CliResult {
    let report = backend.profiles().await?;
    let list = report.list.profiles;
    let broken = report.broken;
    if a.json {
        let mut v = serde_json::json!({"success": true, "count": list.len(), "profiles": list});
        if !broken.is_empty() {
            v["errors"] = broken
                .iter()
                .map(|(n, e)| serde_json::json!({"name": n, "error": e}))
                .collect();
        }
        print_json(&v);
    } else {
        let s = |v: &serde_json::Value, k: &str| match v.get(k) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Null) | None => "-".into(),
            Some(other) => other.to_string(),
        };
        println!(
            "{:<14} {:<8} {:>5}  {:<18} {:<7} DESCRIPTION",
            "NAME", "MODEL", "TURNS", "PERMISSION", "AUTO_PR"
        );
        for p in &list {
            println!(
                "{:<14} {:<8} {:>5}  {:<18} {:<7} {}",
                s(p, "name"),
                s(p, "model"),
                s(p, "max_turns"),
                s(p, "permission_mode"),
                s(p, "auto_pr"),
                s(p, "description")
            );
        }
    }
    for (n, e) in &broken {
        eprintln!("agenticore: profile {n} is broken: {e}");
    }
    Ok(exit::OK)
}
