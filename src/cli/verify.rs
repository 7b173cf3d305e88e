//! `trustplane verify FILE`: runs the engine's chain check and maps the report to an exit
//! code (0 valid, 1 not).

use crate::cli::args::VerifyArgs;
use crate::cli::{out, params, CmdResult, EXIT_ERROR, EXIT_OK};
use crate::ops::verify::{verify, VerifyParams};
use crate::plan::render::Style;
use crate::provider::Registry;
use crate::verify::report;

pub async fn run(args: VerifyArgs, registry: &Registry, style: Style) -> CmdResult {
    let verify_params = VerifyParams {
        file: args.stack.file.clone(),
        vars: params::var_inputs(&args.stack.vars),
        state: params::state_spec(&args.stack.state),
        certificate: args.certificate.clone(),
        workload_chain: args.workload_chain.clone(),
        refetch: !args.no_refresh,
        now: chrono::Utc::now().timestamp(),
    };
    let verified = verify(&verify_params, registry, &params::hooks()).await?;
    if args.json {
        out(&report::json(&verified.source, &verified.report));
    } else {
        out(&report::human(&verified.source, &verified.report, style));
    }
    Ok(if verified.report.valid {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
}
