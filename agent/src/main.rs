//! The `serflow` binary: `main` only exits with the code [`cli::main`] returns, 0 on success and 2
//! with one line on stderr for anything the user can fix (bad arguments, configs, traces, files).

mod cli;

fn main() {
    std::process::exit(cli::main());
}
