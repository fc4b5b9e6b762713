//! Generated answers against scripted model outputs: citations, support,
//! declines, streaming.

use super::*;

#[test]
fn labels_are_the_json_tags() {
    for why in [
        Why::NoCitation,
        Why::Repeat,
        Why::UnknownSource { cited: 4 },
        Why::Unsupported {
            score: 0.2,
            threshold: 0.5,
        },
        Why::Declined,
        Why::Fragment,
    ] {
        let json = serde_json::to_value(&why).unwrap();
        assert_eq!(json["why"], why.label(), "{why:?}");
    }
}

#[test]
fn markers_are_read_and_removed() {
    assert_eq!(
        markers("Backups run nightly [1]. They keep 30 days [2, 3][3]."),
        (
            "Backups run nightly . They keep 30 days .".into(),
            vec![1, 2, 3]
        )
    );
    assert_eq!(
        markers("See [the guide] now"),
        ("See [the guide] now".into(), vec![])
    );
    assert_eq!(markers("Nothing cited."), ("Nothing cited.".into(), vec![]));
}

#[test]
fn sentences_complete_only_when_their_markers_have_arrived() {
    let (done, used) = split("Backups run nightly. [1", false);
    assert!(done.is_empty());
    assert_eq!(used, 0);
    let (done, used) = split("Backups run nightly. [1] They keep", false);
    assert_eq!(done, ["Backups run nightly. [1]"]);
    assert_eq!(&"Backups run nightly. [1] They keep"[used..], " They keep");
    let (done, _) = split("Version 2.5 is out [2]. Next one", false);
    assert_eq!(done, ["Version 2.5 is out [2]."]);
    let (done, _) = split("It runs at 02:00 UTC.", false);
    assert!(done.is_empty(), "a stop at the end may still get markers");
    let (done, used) = split("It runs at 02:00 UTC.", true);
    assert_eq!((done, used), (vec!["It runs at 02:00 UTC.".to_owned()], 21));
    let (done, _) = split("- first [1]\n- second [2]\n", false);
    assert_eq!(done, ["first [1]", "second [2]"]);
    let (done, _) = split(
        "1. Open port 7420 [1]. 2. Enrol, e.g. with a token [2]. Done",
        false,
    );
    assert_eq!(
        done,
        ["Open port 7420 [1].", "Enrol, e.g. with a token [2]."]
    );
}

#[test]
fn the_prompt_numbers_the_sources_and_fills_the_template() {
    let chunk = |title: &str, text: &str| Chunk {
        doc_id: crate::ingest::DocId(format!("{title}.md")),
        source: format!("{title}.md").into(),
        title: title.into(),
        heading_path: vec![],
        page: None,
        date: chrono::NaiveDate::from_ymd_opt(2026, 5, 1),
        series: None,
        file_dated: false,
        metadata: Default::default(),
        span: (0, text.chars().count()),
        text: text.into(),
    };
    let (a, b) = (
        chunk("Backups", "Backups run nightly."),
        chunk("Ports", "Port 7420."),
    );
    let ev = Evidence::new(vec![(&a, 0.9), (&b, 0.5)]);
    let p = prompt(DEFAULT_PROMPT, "Ferrule.", &ev);
    assert!(p.starts_with("You answer questions about Ferrule."), "{p}");
    assert!(
        p.contains(
            "[1] Backups, 2026-05-01\nBackups run nightly.\n\n[2] Ports, 2026-05-01\nPort 7420."
        ),
        "{p}"
    );
    assert_eq!(ev.citations.len(), 2);
    assert_eq!(ev.citations[1].doc_id.0, "Ports.md");
}
