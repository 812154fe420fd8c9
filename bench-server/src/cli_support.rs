//! Command-line conventions shared by the wirebench binaries (`bench-server`,
//! `bench-client`): a usage error is one line on stderr and exit code 2. Only with the
//! `cli` feature; the rest of the library never uses clap.

use std::process::ExitCode;

/// Prints a clap error as one line, `<program>: error: ...` (help and version go out as
/// clap prints them), and returns the exit code: 0 for help/version, 2 for usage errors.
pub fn exit_on_clap_error(program: &str, e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    let text = e.render().to_string();
    let line: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("For more information") && !l.starts_with("Usage:")
        })
        .collect();
    let line = line.join(" ");
    let line = line.strip_prefix("error: ").unwrap_or(&line);
    eprintln!("{program}: error: {line}");
    ExitCode::from(2)
}
