//! The advp command line; all work happens in the library.
fn main() {
    std::process::exit(advp::cli::main());
}
