//! `agenticore version`.

use super::args::JsonArg;
use super::output::print_json;
use super::{CliResult, exit};

pub fn run(a: JsonArg) -> CliResult {
    let version = env!("CARGO_PKG_VERSION");
    if a.json {
        print_json(&serde_json::json!({"name": "agenticore", "version": version}));
    } else {
        println!("agenticore {version}");
    }
    Ok(exit::OK)
}
