pub fn run() -> anyhow::Result<()> {
    println!("models:");
    for m in kiln::list_models() {
        let [c, h, w] = m.input;
        let aliases = if m.aliases.is_empty() {
            String::new()
        } else {
            format!(" (also: {})", m.aliases.join(", "))
        };
        println!("  {:<14} input {c}x{h}x{w}  {}{aliases}", m.name, m.paper);
    }
    println!(
        "backends compiled in: {} (default {})",
        kiln::core::compiled_backends().join(", "),
        kiln::core::DEFAULT_BACKEND
    );
    Ok(())
}
