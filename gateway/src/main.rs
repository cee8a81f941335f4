fn main() -> std::process::ExitCode {
    pbxgw::cli::main()
}
