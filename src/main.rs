fn main() {
    std::process::exit(trustplane::cli::main());
}
