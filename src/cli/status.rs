//! `agenticore status`: the daemon's health, or the local store's (to be written).

use super::args::JsonArg;
use super::context::Ctx;
use super::{CliResult, exit};

pub async fn run(_ctx: &Ctx, _a: JsonArg) -> CliResult {
    Ok(exit::OK)
}
