use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = pushguard::cli::parse();
    match pushguard::run(cli) {
        Ok(exit) => exit.into(),
        Err(err) => {
            pushguard::report::error(&err);
            ExitCode::from(2)
        }
    }
}
