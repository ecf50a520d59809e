pub fn run() -> anyhow::Result<()> {
    println!("models:");
    for m in kiln::list_models() {
        let [c, h, w] = m.input;
        let aliases = if m.aliases.is_empty() {
            String::new()
        } else {
            format!(" (also: {})", m.aliases.join(", "))
        };
        let keras = if m.keras {
            " [Keras's definition: loads Keras weight files]"
        } else {
            ""
        };
        println!("  {:<14} input {c}x{h}x{w}  {}{aliases}{keras}", m.name, m.paper);
    }
    let compiled = kiln::core::compiled_backends();
    println!("\nbackends (--backend NAME; default {}):", kiln::core::DEFAULT_BACKEND);
    for (name, feature) in kiln::core::backend::KNOWN_BACKENDS {
        let state = if compiled.contains(&name) {
            "compiled in".to_string()
        } else {
            match crate::backends::missing(name) {
                None => format!("built on first use (feature `{feature}`)"),
                Some(why) => format!("not usable here: {why}"),
            }
        };
        println!(
            "  {name:<8} {state}\n           needs: {}",
            kiln::core::backend::requirements(name)
        );
    }
    Ok(())
}
