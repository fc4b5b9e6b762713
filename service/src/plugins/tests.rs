//! The plugin host with real components: the shipped `pii-redact` and `rst`,
//! and the hostile guardrail of the test fixtures, which misbehaves as its
//! config says.

use super::guardrail::Verdict;
use super::*;

fn plugin(name: &str, limits: Option<Limits>) -> (tempfile::TempDir, Plugin) {
    let cache = tempfile::tempdir().unwrap();
    let plugin = Plugin::load(name, &locate(name).unwrap(), cache.path(), limits).unwrap();
    (cache, plugin)
}

#[test]
fn a_guardrail_decides_on_questions_and_answers() {
    let (_cache, pii) = plugin("pii-redact", None);
    assert_eq!(
        (pii.kind(), pii.limits()),
        (Kind::Guardrail, Kind::Guardrail.default_limits())
    );
    let asked = pii
        .check_question("What is Jane's phone number?", "{}")
        .unwrap();
    assert_eq!(
        (asked.verdict, asked.code.as_str()),
        (Verdict::Block, "pii.request")
    );
    let answered = pii
        .check_answer(
            "Who runs the window?",
            "Write to jane@example.com.",
            &[],
            "{}",
        )
        .unwrap();
    assert_eq!(
        (answered.verdict, answered.code.as_str()),
        (
            Verdict::Redact("Write to [email removed].".into()),
            "pii.email"
        )
    );
    let fine = pii
        .check_question("When is the cluster patched?", "{}")
        .unwrap();
    assert_eq!(fine.verdict, Verdict::Allow);
}

#[test]
fn a_component_is_used_only_as_the_world_it_implements() {
    let cache = tempfile::tempdir().unwrap();
    let limits = (50, 64);
    let wrong = load_configured(
        "pii-redact",
        Kind::Parser,
        limits,
        &toml::Table::new(),
        cache.path(),
    )
    .err()
    .unwrap();
    assert!(wrong.contains("is a guardrail, not a parser"), "{wrong}");
    let (_cache, rst) = plugin("rst", None);
    assert_eq!(rst.kind(), Kind::Parser);
    let err = rst.check_question("q", "{}").unwrap_err().to_string();
    assert!(err.contains("is a parser, not a guardrail"), "{err}");

    let mut config = toml::Table::new();
    config.insert("mode".into(), toml::Value::String("strict".into()));
    let (plugin, json) =
        load_configured("pii-redact", Kind::Guardrail, limits, &config, cache.path()).unwrap();
    assert_eq!(json, r#"{"mode":"strict"}"#);
    assert_eq!(plugin.limits().timeout, Duration::from_millis(50));
}

#[test]
fn a_missing_or_broken_component_is_named() {
    let missing = locate("no-such-plugin").unwrap_err().to_string();
    assert!(
        missing.contains("no_such_plugin.wasm") && missing.contains("make plugins"),
        "{missing}"
    );
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake.wasm");
    std::fs::write(&fake, "not a component").unwrap();
    let broken = Plugin::load("fake", &fake, dir.path(), None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        broken.contains("fake") && broken.contains("fake.wasm"),
        "{broken}"
    );
}

#[test]
fn each_limit_ends_a_hostile_call_with_its_cause() {
    let limits = Limits {
        // Long enough that a loaded machine still finishes the misdeeds that end
        // by themselves (a panic, a refused file) before it.
        timeout: Duration::from_millis(1000),
        memory_bytes: 16 << 20,
        result_bytes: 512 << 10,
    };
    let (_cache, hostile) = plugin("hostile-guardrail", Some(limits));
    let cause = |misdeed: &str| {
        let config = format!(r#"{{"do": "{misdeed}"}}"#);
        hostile
            .check_question("q", &config)
            .expect_err(misdeed)
            .to_string()
    };
    for (misdeed, said) in [
        ("loop", "did not finish within its 1000 ms deadline"),
        ("sleep", "past its 1000 ms deadline"),
        ("alloc", "ran out of memory"),
        ("panic", "it panicked"),
        ("passwd", "it panicked"),
        ("socket", "it panicked"),
        ("flood", "ran out of memory"),
        ("inflate", "more than its cap of 524288 bytes"),
    ] {
        let got = cause(misdeed);
        assert!(
            got.contains("hostile-guardrail") && got.contains(said),
            "{misdeed}: {got}"
        );
    }
    // After every misdeed, the next call is served as if none happened.
    let fine = hostile.check_question("q", "{}").unwrap();
    assert_eq!(fine.verdict, Verdict::Allow);
}
