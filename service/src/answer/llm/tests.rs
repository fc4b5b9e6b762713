//! The client against a one-shot endpoint on loopback that answers what each
//! test scripts: the ways a real server misbehaves (errors, broken streams,
//! stalls) cannot be asked of a real model on demand.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

use super::*;

/// An endpoint that takes one request and answers `response` after `delay`;
/// the receiver gets the request as sent.
fn endpoint(response: String, delay: Duration) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        // Headers, then as many body bytes as content-length says.
        loop {
            let n = stream.read(&mut buf).unwrap();
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text
                    .lines()
                    .find_map(|l| {
                        l.to_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if request.len() >= end + 4 + length {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        tx.send(String::from_utf8_lossy(&request).to_string())
            .unwrap();
        std::thread::sleep(delay);
        let _ = stream.write_all(response.as_bytes());
    });
    (base, rx)
}

fn http(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn sse(events: &[&str]) -> String {
    let body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    http("200 OK", "text/event-stream", &body)
}

fn client(base: &str, extra: &str) -> Llm {
    let settings: LlmSettings = toml::from_str(&format!(
        "base_url = \"{base}\"\nmodel = \"configured\"\ntimeout_ms = 3000\n{extra}"
    ))
    .unwrap();
    Llm::new(&settings, std::path::Path::new("corpus.toml")).unwrap()
}

fn ask(llm: &Llm) -> (Result<Completion, LlmError>, Vec<String>) {
    let mut pieces = Vec::new();
    let messages = [Message {
        role: "user",
        content: "When is the cluster patched?".into(),
    }];
    let result = llm.chat(&messages, &mut |p| {
        pieces.push(p.to_owned());
        true
    });
    (result, pieces)
}

#[test]
fn a_streamed_completion_arrives_piece_by_piece_with_the_served_model() {
    let events = [
        r#"{"model":"served-7b","choices":[{"delta":{"content":"On the first "}}]}"#,
        r#"{"model":"served-7b","choices":[]}"#,
        r#"{"model":"served-7b","choices":[{"delta":{"content":"Sunday."},"finish_reason":"stop"}]}"#,
        "[DONE]",
    ];
    let (base, request) = endpoint(sse(&events), Duration::ZERO);
    let (result, pieces) = ask(&client(&base, ""));
    let done = result.unwrap();
    assert_eq!(pieces, ["On the first ", "Sunday."]);
    assert_eq!(
        (done.text.as_str(), done.model.as_str()),
        ("On the first Sunday.", "served-7b")
    );
    let request = request.recv().unwrap();
    assert!(
        request.starts_with("POST /v1/chat/completions "),
        "{request}"
    );
    let body: Value =
        serde_json::from_str(&request[request.find("\r\n\r\n").unwrap() + 4..]).unwrap();
    assert_eq!(
        (&body["model"], &body["stream"], &body["seed"]),
        (&json!("configured"), &json!(true), &json!(0))
    );
    assert!(
        !request.to_lowercase().contains("authorization"),
        "no key configured"
    );
}

#[test]
fn a_server_that_ignores_stream_is_read_whole_and_the_key_is_sent() {
    std::env::set_var("CANDOR_TEST_LLM_KEY", "sk-test");
    let body = r#"{"model":"m2","choices":[{"message":{"content":"Sunday."}}]}"#;
    let (base, request) = endpoint(http("200 OK", "application/json", body), Duration::ZERO);
    let llm = client(&base, "api_key_env = \"CANDOR_TEST_LLM_KEY\"");
    let (result, pieces) = ask(&llm);
    assert_eq!(result.unwrap().model, "m2");
    assert_eq!(pieces, ["Sunday."]);
    let request = request.recv().unwrap().to_lowercase();
    assert!(
        request.contains("authorization: bearer sk-test"),
        "{request}"
    );
}

#[test]
fn a_key_variable_that_is_not_set_is_a_config_error_naming_the_key() {
    let settings: LlmSettings = toml::from_str(
        "base_url = \"http://127.0.0.1:1/v1\"\nmodel = \"m\"\napi_key_env = \"CANDOR_TEST_LLM_NO_SUCH_KEY\"",
    )
    .unwrap();
    let err = Llm::new(&settings, std::path::Path::new("corpus.toml"))
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        text.contains("llm.api_key_env") && text.contains("CANDOR_TEST_LLM_NO_SUCH_KEY"),
        "{text}"
    );
}

#[test]
fn each_failure_is_told_apart() {
    let failing = |response: String, delay: Duration| {
        let (base, _request) = endpoint(response, delay);
        ask(&client(&base, "")).0.err().unwrap()
    };
    let status = failing(
        http(
            "503 Service Unavailable",
            "application/json",
            "{\"error\":\"key sk-secret\"}",
        ),
        Duration::ZERO,
    );
    assert!(
        matches!(status, LlmError::Status { status: 503, .. }),
        "{status}"
    );
    assert!(
        !status.to_string().contains("sk-secret"),
        "the body stays out of the error"
    );

    let not_json = failing(sse(&["{not json"]), Duration::ZERO);
    assert!(matches!(not_json, LlmError::Malformed { .. }), "{not_json}");
    let reported = failing(
        sse(&[r#"{"error":{"message":"overloaded"}}"#]),
        Duration::ZERO,
    );
    assert!(reported.to_string().contains("overloaded"), "{reported}");
    let choiceless = failing(sse(&[r#"{"model":"m"}"#]), Duration::ZERO);
    assert!(
        choiceless.to_string().contains("no `choices`"),
        "{choiceless}"
    );

    // A stream that ends before a choice finished is a broken connection.
    let cut = failing(
        sse(&[r#"{"choices":[{"delta":{"content":"On the"}}]}"#]),
        Duration::ZERO,
    );
    assert!(matches!(cut, LlmError::Unreachable { .. }), "{cut}");
    // The deadline covers the whole call.
    let slow = failing(sse(&["[DONE]"]), Duration::from_secs(10));
    assert!(matches!(slow, LlmError::Timeout { ms: 3000, .. }), "{slow}");

    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = ask(&client(&base, "")).0.err().unwrap();
    assert!(
        matches!(unreachable, LlmError::Unreachable { .. }),
        "{unreachable}"
    );
    let labels: Vec<&str> = [&status, &not_json, &cut, &slow, &unreachable]
        .iter()
        .map(|e| e.label())
        .collect();
    assert_eq!(
        labels,
        [
            "status",
            "malformed",
            "unreachable",
            "timeout",
            "unreachable"
        ]
    );
}

#[test]
fn a_reader_that_stops_cancels_the_completion() {
    let events = [
        r#"{"choices":[{"delta":{"content":"On the first "}}]}"#,
        r#"{"choices":[{"delta":{"content":"Sunday."}}]}"#,
        "[DONE]",
    ];
    let (base, _request) = endpoint(sse(&events), Duration::ZERO);
    let mut seen = 0;
    let messages = [Message {
        role: "user",
        content: "q".into(),
    }];
    let result = client(&base, "").chat(&messages, &mut |_| {
        seen += 1;
        false
    });
    assert!(matches!(result, Err(LlmError::Cancelled)));
    assert_eq!(seen, 1);
}
