//! `agenticore config`: the effective configuration, where each value comes from, secrets
//! masked.

use super::args::JsonArg;
use super::context::load_config;
use super::output::print_json;
use super::{CliResult, exit};

pub fn run(a: JsonArg) -> CliResult {
    let config = load_config()?;
    let entries = config.entries();
    if a.json {
        let list: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "key": e.key, "value": e.value, "env": e.env, "source": e.source.to_string()
                })
            })
            .collect();
        print_json(&serde_json::json!({"success": true, "home": config.home, "config": list}));
    } else {
        let kw = entries.iter().map(|e| e.key.len()).max().unwrap_or(0);
        let vw = entries
            .iter()
            .map(|e| e.value.chars().count())
            .max()
            .unwrap_or(0)
            .min(50);
        println!("# home: {}", config.home.display());
        for e in &entries {
            println!("{:<kw$}  {:<vw$}  ({})", e.key, e.value, e.source);
        }
    }
    Ok(exit::OK)
}
