//! The `serflow` binary. `main` only maps the outcome of [`cli::run`] to an exit code: 0 on success,
//! 2 with one line on stderr for anything the user can fix (bad arguments, configs, traces, files).

mod cli;

fn main() {
    std::process::exit(cli::main());
}
