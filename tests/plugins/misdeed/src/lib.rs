//! What a hostile test plugin does wrong, shared by the parser and the guardrail
//! so both worlds face the same misdeeds. The config names one, as
//! `{"do": "loop"}`; a plain scan reads it, so the plugins need no JSON library.

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

/// Does the misdeed if it is one both worlds share: each of those either never
/// returns or ends in a trap. Returns for anything else (`print` returns after
/// printing), so the plugin can do its own.
pub fn misbehave(what: &str) {
    match what {
        "loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "alloc" => {
            // Large untouched reservations reach any cap in a few steps, long
            // before the deadline.
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(Vec::with_capacity(16 << 20));
                std::hint::black_box(&hoard);
            }
        }
        "sleep" => std::thread::sleep(std::time::Duration::from_secs(30)),
        "panic" => panic!("the hostile plugin panics on purpose"),
        "passwd" => {
            let text = std::fs::read_to_string("/etc/passwd").expect("reading /etc/passwd");
            panic!("read /etc/passwd: {text}");
        }
        "env" => {
            let home = std::env::var("HOME").expect("reading $HOME");
            panic!("read $HOME: {home}");
        }
        "socket" => {
            std::net::TcpStream::connect("127.0.0.1:22").expect("opening a socket");
            panic!("opened a socket");
        }
        "print" => {
            for i in 0..2_000 {
                println!("line {i} of a very chatty plugin");
            }
        }
        _ => {}
    }
}

/// 100 MB of text: more than any result cap.
pub fn flood() -> String {
    "x".repeat(100 << 20)
}
