//! `agenticore serve` (to be written).

use super::args::ServeArgs;
use super::context::Ctx;
use super::{CliResult, exit};

pub async fn run(_ctx: Ctx, _a: ServeArgs) -> CliResult {
    Ok(exit::OK)
}
