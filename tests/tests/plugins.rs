//! Plugins on the command line (`candor plugin check` and `plugin run`): hostile
//! guardrails and parsers stopped with their name and cause, and one memory
//! budget however many memories a component has.

use candor_e2e::cli::{candor, candor_ok};
use candor_e2e::files::write;
use candor_e2e::plugins::{assert_contained, plugin_run, test_plugin, MISDEEDS};
use serde_json::Value;

#[test]
fn hostile_plugins_are_stopped_with_their_name_and_cause() {
    let tmp = tempfile::tempdir().unwrap();
    let guard = test_plugin("hostile_guardrail");
    let guard = guard.to_str().unwrap();
    // Compile once, so the timings below are the calls, not the compiler.
    let check = candor_ok(tmp.path(), &["plugin", "check", guard]);
    let check: Value = serde_json::from_str(&check).unwrap();
    assert_eq!(
        (check["world"].as_str(), check["limits"]["timeout"].as_u64()),
        (Some("guardrail"), Some(50)),
        "{check}"
    );

    // `flood` needs more than the default 64 MiB to build its 100 MB result; the
    // live-server test raises the cap to meet the result cap instead.
    for (misdeed, cause) in MISDEEDS.into_iter().filter(|(m, _)| *m != "flood") {
        let config = format!("{{\"do\":\"{misdeed}\"}}");
        let (ok, stdout, stderr, secs) = plugin_run(
            tmp.path(),
            &[guard, "--question", "hello", "--config", &config],
        );
        assert!(!ok, "{misdeed}: must fail\n{stdout}");
        assert_contained(misdeed, &stderr, "hostile_guardrail", cause, secs, 0.05);
    }
    // Printing a lot is fine: the output is bounded, and the call still answers.
    let (ok, stdout, stderr, _) = plugin_run(
        tmp.path(),
        &[guard, "--question", "hi", "--config", "{\"do\":\"print\"}"],
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("\"verdict\": \"allow\""), "{stdout}");

    let parser = test_plugin("hostile_parser");
    let parser = parser.to_str().unwrap();
    candor_ok(tmp.path(), &["plugin", "check", parser]);
    write(&tmp.path().join("notes.txt"), "Release 1.0 is out.");
    // Besides the shared misdeeds, breaks of the contract's own rules: dates
    // RFC 3339 in years 0001 to 9999, 1-based pages, no control characters in
    // titles (the error shows the character escaped).
    let parser_cases = [
        ("bad-date", "date `last tuesday` is not an RFC 3339 date"),
        ("reject", "rejects every file"),
        ("bc-date", "date `-0044-03-15` is not an RFC 3339 date"),
        ("page-zero", "page 0 is not in 1..="),
        (
            "escape-title",
            "the title holds a control character (\\u{1b})",
        ),
    ];
    for (misdeed, cause) in MISDEEDS.into_iter().chain(parser_cases) {
        let config = format!("{{\"do\":\"{misdeed}\"}}");
        let (ok, _, stderr, secs) = plugin_run(
            tmp.path(),
            &[parser, "--file", "notes.txt", "--config", &config],
        );
        assert!(!ok, "{misdeed}: must fail");
        assert_contained(misdeed, &stderr, "hostile_parser", cause, secs, 2.0);
        assert!(!stderr.contains('\u{1b}'), "{misdeed}: {stderr}");
    }
    let (ok, stdout, stderr, _) = plugin_run(tmp.path(), &[parser, "--file", "notes.txt"]);
    assert!(ok, "{stderr}");
    let docs: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (
            docs[0]["date"].as_str(),
            docs[0]["sections"][0]["text"].as_str()
        ),
        (Some("2024-05-01"), Some("Release 1.0 is out."))
    );

    // Not a component at all, and a guardrail asked to parse: refused by name.
    write(&tmp.path().join("fake.wasm"), "not wasm");
    let out = candor(tmp.path(), &["plugin", "check", "fake.wasm"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("plugin `fake`"),
        "{err}"
    );
    let (ok, _, stderr, _) = plugin_run(tmp.path(), &[guard, "--file", "notes.txt"]);
    assert!(
        !ok && stderr.contains("is a guardrail, not a parser"),
        "{stderr}"
    );
}

/// A guardrail component of `hogs` core modules besides its main one, each with
/// its own linear memory that it grows by `pages` (64 KiB each) and touches,
/// written in the component text format (the template
/// tests/fixtures/plugins/memory_hog.wat): no toolchain builds such a thing, but
/// an author can.
fn memory_hog_guardrail(hogs: usize, pages: u32) -> Vec<u8> {
    let imports: String = (0..hogs)
        .map(|i| format!("(import \"hog{i}\" \"fill\" (func $f{i} (result i32)))\n"))
        .collect();
    let calls: String = (0..hogs).map(|i| format!("(drop (call $f{i}))")).collect();
    let instances: String = (0..hogs)
        .map(|i| format!("(core instance $h{i} (instantiate $hog))\n"))
        .collect();
    let with: String = (0..hogs)
        .map(|i| format!("(with \"hog{i}\" (instance $h{i}))"))
        .collect();
    let wat = include_str!("../fixtures/plugins/memory_hog.wat")
        .replace("{pages}", &pages.to_string())
        .replace("{imports}", &imports)
        .replace("{calls}", &calls)
        .replace("{instances}", &instances)
        .replace("{with}", &with);
    wat::parse_str(&wat).expect("the hog component is valid")
}

#[test]
fn a_plugin_has_one_memory_budget_however_many_memories_it_has() {
    let tmp = tempfile::tempdir().unwrap();
    // Two small memories besides the main one: within budget, the call answers,
    // so the component itself is sound.
    write(
        &tmp.path().join("small_hogs.wasm"),
        memory_hog_guardrail(2, 16),
    );
    let (ok, stdout, stderr, _) = plugin_run(tmp.path(), &["small_hogs.wasm", "--question", "hi"]);
    assert!(
        ok && stdout.contains("\"verdict\": \"allow\""),
        "{stdout}{stderr}"
    );
    // Three memories of 63 MiB each under the 64 MiB budget: the second growth
    // is refused, whichever memory asks.
    write(&tmp.path().join("hogs.wasm"), memory_hog_guardrail(3, 1008));
    let (ok, _, stderr, secs) = plugin_run(tmp.path(), &["hogs.wasm", "--question", "hi"]);
    assert!(!ok);
    assert_contained(
        "hogs",
        &stderr,
        "hogs",
        "ran out of memory: it tried to grow past its budget of 64 MiB",
        secs,
        0.05,
    );
    // Forty memories are refused when the component is loaded.
    write(
        &tmp.path().join("herd.wasm"),
        memory_hog_guardrail(40, 1008),
    );
    let out = candor(tmp.path(), &["plugin", "check", "herd.wasm"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("plugin `herd`")
            && err.contains("41 Wasm linear memories, which exceeds the configured maximum of 4"),
        "{err}"
    );
}
