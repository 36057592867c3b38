//! The `agenticore` binary: parse arguments, pick the backend, dispatch. Nothing else.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    let _ = args.next();
    let rest: Vec<std::ffi::OsString> = args.collect();
    // The per-job shim runs before anything else: no runtime, no config, no logging.
    if rest
        .first()
        .is_some_and(|a| a == agenticore::engine::shim::SHIM_ARG)
    {
        let code = agenticore::engine::shim::run(rest.into_iter().skip(1).collect());
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    cli::main()
}
