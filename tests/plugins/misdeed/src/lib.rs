//! The `do` value of a hostile test plugin's config, such as `{"do": "loop"}`.
//! A plain scan, so the plugins need no JSON library.

/// The misdeed named in `config`, or `""`.
pub fn misdeed(config: &str) -> &str {
    let parts: Vec<&str> = config.split('"').collect();
    parts
        .iter()
        .position(|p| *p == "do")
        .and_then(|i| parts.get(i + 2))
        .copied()
        .unwrap_or("")
}
