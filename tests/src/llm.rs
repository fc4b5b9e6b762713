//! Language models for the composer tests: the local model server of
//! `tests/llm-server`, fake endpoints that fail in set ways, corpus.toml
//! rewritten to use either, and streamed answers read event by event.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::files::{workspace, write};
use crate::http::agent;

/// The local language model server of tests/llm-server (node-llama-cpp with
/// SmolLM2-135M-Instruct), on a free loopback port, one thread.
pub struct LlmServer {
    pub child: Child,
    /// `http://127.0.0.1:<port>/v1`.
    pub base_url: String,
    /// The lines it printed after starting (`completed <id>`, `cancelled <id>`).
    pub lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for LlmServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the local model server and waits for its address.
pub fn llm_server() -> LlmServer {
    let gguf = workspace().join(".assets/llm/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        gguf.is_file(),
        "{} is missing: run `make test` (`make llm` fetches it)",
        gguf.display()
    );
    let mut child = Command::new("node")
        .arg(workspace().join("tests/llm-server/server.mjs"))
        .arg(&gguf)
        .arg("0")
        .env("LLM_THREADS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs the local model server");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a first line").expect("readable");
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    LlmServer {
        child,
        base_url: format!("http://{addr}/v1"),
        lines: rx,
    }
}

/// Rewrites a corpus.toml under `corpora` to compose with the model at `base_url`.
pub fn compose_with_llm(corpora: &Path, corpus: &str, base_url: &str, extra: &str) {
    let file = corpora.join(corpus).join("corpus.toml");
    let toml = std::fs::read_to_string(&file).unwrap();
    let toml = toml.split("\n[llm]\n").next().unwrap().to_owned();
    let toml = if toml.contains("[answer]\n") {
        toml.replacen("[answer]\n", "[answer]\ncomposer = \"llm\"\n", 1)
    } else {
        format!("{toml}\n[answer]\ncomposer = \"llm\"\n")
    };
    let toml = toml.replace(
        "composer = \"llm\"\ncomposer = \"llm\"\n",
        "composer = \"llm\"\n",
    );
    // `extra` may override these.
    let defaults: String = [("max_tokens", "120"), ("timeout_ms", "120000")]
        .iter()
        .filter(|(k, _)| !extra.contains(&format!("{k} =")))
        .map(|(k, v)| format!("{k} = {v}\n"))
        .collect();
    write(
        &file,
        format!("{toml}\n[llm]\nbase_url = \"{base_url}\"\nmodel = \"smollm2\"\n{defaults}{extra}"),
    );
}

/// A loopback endpoint that accepts connections and answers each with `reply`
/// (None: reads the request and never answers).
pub fn fake_endpoint(reply: Option<&'static str>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                // The whole request first: replying early could reset the
                // connection and turn the case into another one.
                let mut got = Vec::new();
                let mut buf = [0u8; 65536];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got);
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= length {
                            break;
                        }
                    }
                }
                match reply {
                    Some(r) => {
                        let _ = conn.write_all(r.as_bytes());
                    }
                    None => std::thread::sleep(Duration::from_secs(600)),
                }
            });
        }
    });
    format!("http://{addr}/v1")
}

/// One server-sent event: its name and data.
pub fn read_event(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
) -> Option<(String, Value)> {
    let (mut name, mut data) = (String::new(), String::new());
    for line in lines {
        let line = line.ok()?;
        if line.is_empty() {
            if !data.is_empty() {
                return Some((
                    name,
                    serde_json::from_str(&data).expect("event data is JSON"),
                ));
            }
            continue;
        }
        if let Some(n) = line.strip_prefix("event:") {
            name = n.trim().to_owned();
        } else if let Some(d) = line.strip_prefix("data:") {
            data.push_str(d.trim_start());
        }
    }
    None
}

/// Opens a streamed `/v1/answer`: the event lines.
pub fn answer_stream(base: &str, body: &Value) -> impl Iterator<Item = std::io::Result<String>> {
    let resp = agent()
        .post(&format!("{base}/v1/answer"))
        .header("content-type", "application/json")
        .header("accept", "text/event-stream")
        .send(body.to_string().as_str())
        .expect("request sent");
    assert_eq!(resp.status().as_u16(), 200);
    let ct = resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    BufReader::new(resp.into_body().into_reader()).lines()
}
