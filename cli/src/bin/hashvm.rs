fn main() {
    eprintln!("error: hashvm is being built");
    std::process::exit(1);
}
