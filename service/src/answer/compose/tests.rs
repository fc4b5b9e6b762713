//! The extractive composer on small generations built with the real model.

use super::*;
use crate::index::{build, BuildInput, CorpusStore, Mode, Sentences, VectorBackend};
use crate::ingest::Document;

/// The answer composed for `question` from one document of `text`, with
/// every chunk ranked in order.
fn answer(text: &str, question: &str) -> crate::Result<String> {
    let doc = Document::plain("guide".into(), "Guide".into(), text.to_owned());
    answer_from(doc, question)
}

/// The answer composed for `question` from `doc`, every chunk ranked in
/// order.
fn answer_from(doc: Document, question: &str) -> crate::Result<String> {
    answer_chunked(doc, question, crate::config::Chunking::default())
}

/// The answer composed for `question` from `doc` cut into windows by
/// `chunking`, every chunk ranked in order.
fn answer_chunked(
    doc: Document,
    question: &str,
    chunking: crate::config::Chunking,
) -> crate::Result<String> {
    let e = crate::test_utils::embedder();
    let chunker = crate::ingest::chunk::Chunker::from_file(e.tokenizer_path(), chunking)?;
    let dir = tempfile::tempdir().unwrap();
    let store = CorpusStore::new(dir.path(), "t", &VectorBackend::Edge);
    let bytes = doc.text();
    let input = BuildInput::new(
        doc.id.0.clone(),
        bytes.as_bytes(),
        Box::new(move || Ok(vec![doc.clone()])),
    );
    build(
        &store,
        vec![input],
        (Mode::Full, Sentences::Embed),
        &e,
        &chunker,
        &(),
    )?;
    let gen = store.open_current()?;
    let ranked: Vec<Scored<ChunkId>> = (0..gen.chunks.len())
        .map(|i| Scored {
            id: ChunkId(i as u64),
            bm25: None,
            dense: None,
            score: 1.0 - i as f32 * 0.01,
            recency: None,
            superseded: false,
        })
        .collect();
    let composed = compose(&gen, question, &e.embed_one(question)?, &ranked, 4, 3)?;
    Ok(composed.map(|c| c.text).unwrap_or_default())
}

#[test]
fn what_a_colon_introduces_comes_with_it() -> crate::Result<()> {
    // A sentence that ends in a colon, not the first one chosen: its
    // command follows it.
    let a = answer(
        "A reload applies most settings of the configuration file without stopping jobs. \
         Always check the configuration file before a reload:\n\n    ferrule config check\n\n\
         Changes to the listen address need a full restart.",
        "How do I check the configuration file before a reload?",
    )?;
    assert!(
        a.contains("before a reload: [1] ferrule config check [2]")
            || a.contains("before a reload: [2] ferrule config check [3]"),
        "{a}"
    );
    // A command that shares the introducing sentence's words is not a
    // repeat of it.
    let a = answer(
        "Right after ferrule init, export a recovery key:\n\n    \
         ferrule key export --out ferrule-recovery.key\n\nThe recovery key decrypts the repository on its own.",
        "How do I export a recovery key?",
    )?;
    assert!(
        a.contains("export a recovery key: [1] ferrule key export --out ferrule-recovery.key [2]"),
        "{a}"
    );
    // A list introduced by the first sentence comes whole, past the three
    // sentences an answer has.
    let a = answer(
        "The default retention policy keeps:\n\n- 7 daily snapshots,\n- 4 weekly snapshots,\n\
         - 12 monthly snapshots,\n- 0 yearly snapshots.\n\nOlder snapshots are pruned every night.",
        "Which snapshots does the default retention policy keep?",
    )?;
    assert!(
        a.starts_with("The default retention policy keeps: [1]")
            && a.contains("12 monthly snapshots")
            && a.contains("0 yearly snapshots. [5]"),
        "{a}"
    );
    // A block of commands that a later sentence introduces comes whole: its
    // first line alone would stop half way.
    let a = answer(
        "When the repository volume fills up, new jobs fail with the error repository full. \
         You can free space by tightening the retention policy, or add a second volume:\n\n    \
         sudo mkfs.xfs /dev/sdc\n    sudo mount /dev/sdc /mnt/ferrule2\n    \
         ferrule repo add-volume /mnt/ferrule2\n\nNew blocks go to the emptiest volume.",
        "jobs failing with repository full, can I add another disk",
    )?;
    assert!(
        a.contains("add a second volume: [2] sudo mkfs.xfs /dev/sdc [3]")
            && a.contains("ferrule repo add-volume /mnt/ferrule2 [5]"),
        "{a}"
    );
    Ok(())
}

#[test]
fn the_sentence_after_the_first_comes_next_though_it_shares_no_word() -> crate::Result<()> {
    // The first sentence restates the symptom; the remedy after it shares no
    // word with the question, and sentences of another paragraph share many.
    let a = answer(
        "In terminal emulators such as Mintty the password prompt may fail with a password error. \
         Run the command through winpty instead.\n\n\
         A password error also appears when the password file is empty. \
         The password prompt is skipped when a password file is given.",
        "password prompt fails in mintty with a password error",
    )?;
    assert!(
        a.contains("fail with a password error. [1] Run the command through winpty instead. [2]"),
        "{a}"
    );
    Ok(())
}

#[test]
fn the_sentence_after_the_first_is_found_in_the_next_window() -> crate::Result<()> {
    // Small windows: the rule ends one window, and its worked example opens
    // the next, which repeats the rule in its overlap.
    let doc = Document::plain(
        "manual".into(),
        "Manual".into(),
        "Capacity planning is mostly about disk space. Most servers change between one and \
         three percent of their data a day. With the default policy, a useful rule of thumb \
         for the repository size is S multiplied by one plus twenty times c. For example, \
         with S of 4 TiB and a change rate of 2 percent, the estimate is 5.6 TiB. Add a \
         quarter for headroom. Plan to expand before the volume is 80 percent full."
            .into(),
    );
    let chunking = crate::config::Chunking {
        max_tokens: 64,
        overlap_tokens: 30,
    };
    let a = answer_chunked(
        doc,
        "how big should the repository be with the default policy, rule of thumb?",
        chunking,
    )?;
    assert!(
        a.starts_with("With the default policy, a useful rule of thumb")
            && a.contains("[1] For example, with S of 4 TiB"),
        "{a}"
    );
    Ok(())
}

#[test]
fn the_remedy_or_the_next_step_comes_with_the_opening() -> crate::Result<()> {
    // The error is quoted as code; what to do about it is the next
    // paragraph, which shares few words with the question.
    let a = answer(
        "Restic watches backend connections for stuck requests. If a request returns \
         no data within five minutes, restic retries it. For large repositories, \
         listing all files can take longer, causing the following error:\n\n    \
         List(data) returned error, retrying after 1s: request timeout\n\n\
         In this case you can raise the limit with the --stuck-request-timeout option.\n\n\
         Other backends print no such error and never need the option.",
        "List(data) returned error, retrying after 1s: request timeout",
    )?;
    assert!(a.contains("--stuck-request-timeout option."), "{a}");
    // A procedure that the opening begins ("First ...") goes on with its
    // next step and the command that step introduces.
    let a = answer(
        "Maintenance tasks such as prune and check take an exclusive lock on the repository. \
         If the server was killed during one of them, the lock can remain. First make \
         sure nothing is running with ferrule job list --running. Only then remove the \
         stale lock:\n\n    ferrule repo unlock\n\nNever unlock while a prune or check is \
         still running; doing so can damage the repository index.",
        "jobs fail with repository locked after the server was killed",
    )?;
    assert!(
        a.contains("Only then remove the stale lock: [3] ferrule repo unlock [4]"),
        "{a}"
    );
    assert!(choose::remedies("In this case, run the check again."));
    assert!(!choose::remedies(
        "In this cases table the sizes are listed."
    ));
    assert!(!choose::remedies("The fixed-size chunks are stored."));
    Ok(())
}

#[test]
fn a_quoted_message_comes_with_what_its_paragraph_says_before_it() -> crate::Result<()> {
    let a = answer(
        "Upgrade the server first, then the agents. A server accepts agents of the same \
         release or older. An agent newer than its server is refused with the message \
         agent version is newer than server. Agents can be upgraded in any order once \
         the server is done.\n\nInstalling a new agent package restarts the agent.",
        "my agent logs \"agent version is newer than server\", what now?",
    )?;
    assert!(
        a.starts_with("Upgrade the server first, then the agents. [1]")
            && a.contains("refused with the message agent version is newer than server. [3]"),
        "{a}"
    );
    assert!(choose::quotes(
        "agent version is newer than server",
        "It is refused with the message agent version is newer than server."
    ));
    // A short run of shared words in a long question is no quotation, nor is
    // a contraction's apostrophe a quotation mark.
    assert!(!choose::quotes(
        "I don't know how the agent version is checked against the server's",
        "The agent version is checked at enrollment."
    ));
    Ok(())
}

#[test]
fn a_sentence_about_the_code_before_it_brings_the_code() -> crate::Result<()> {
    let a = answer(
        "Backups follow a cron expression that you may change.\n\n    \
         cron = \"30 1 * * 1-5\"\n\n\
         The example runs the nightly job at 01:30 on weekdays. Times follow the server's zone.",
        "When does the nightly job run on weekdays?",
    )?;
    assert!(
        a.contains("The example runs the nightly job at 01:30 on weekdays. [1] cron = \"30 1 * * 1-5\" [2]"),
        "{a}"
    );
    // So does one that opens with "This", and one that goes on, in
    // lowercase, with the sentence that introduced the code.
    let a = answer(
        "Pruning runs every night after the backups.\n\n    ferrule prune --dry-run\n\n\
         This prints the snapshots that the next prune would delete, without touching anything.",
        "How can I see which snapshots a prune would delete without deleting them?",
    )?;
    assert!(a.contains("ferrule prune --dry-run"), "{a}");
    let a = answer(
        "You may name several filesystems on the command line, for example\n\n    \
         restic backup --one-file-system / /media/usb\n\n\
         will back up both the root and the usb filesystems, but not other filesystems like /proc.",
        "back up the root and a usb drive but skip /proc",
    )?;
    assert!(
        a.contains("restic backup --one-file-system / /media/usb"),
        "{a}"
    );
    Ok(())
}

#[test]
fn a_section_that_opens_in_lowercase_is_quoted() -> crate::Result<()> {
    let section = |heading: &str, text: &str| crate::ingest::Section {
        heading_path: vec![heading.to_owned()],
        page: None,
        text: text.to_owned(),
    };
    let mut doc = Document::plain("install".into(), "Installation".into(), String::new());
    doc.sections = vec![
        section(
            "Packages",
            "Packages exist for Debian and Fedora. Install them with the package manager.",
        ),
        section(
            "From source",
            "restic is written in Go, and you need at least Go version 1.25 to build it.",
        ),
    ];
    let a = answer_from(doc, "Which Go version do I need to build restic?")?;
    assert!(a.contains("at least Go version 1.25"), "{a}");
    Ok(())
}

#[test]
fn a_question_asks_for_a_kind_that_sentences_hold() {
    let asked = |q: &str| {
        let k = Kinds::asked(q);
        (k.path, k.number, k.option)
    };
    assert_eq!(
        asked("Where does the install script put the files?"),
        (true, false, false)
    );
    assert_eq!(
        asked("How many monthly snapshots are kept?"),
        (false, true, false)
    );
    assert_eq!(
        asked("When does the nightly prune run?"),
        (false, true, false)
    );
    assert_eq!(asked("ferrule port?"), (false, true, false));
    assert_eq!(
        asked("Which option removes the program?"),
        (false, false, true)
    );
    // A "when" inside the question, and a command it names, ask nothing.
    assert_eq!(
        asked("Which metric shows when a job last succeeded?"),
        (false, false, false)
    );
    assert_eq!(
        asked("What release shipped the dump command?"),
        (false, false, false)
    );

    let held = |t: &str, code: bool| {
        let k = Kinds::held(t, code);
        (k.path, k.number, k.option)
    };
    assert_eq!(
        held("The script installs it under `/opt/ferrule`.", false),
        (true, false, false)
    );
    assert_eq!(
        held("See https://example.com/docs for more.", false),
        (false, false, false)
    );
    assert_eq!(held("Pack files are 64 MiB.", false), (false, true, false));
    assert_eq!(
        held("--uninstall removes the program files.", false),
        (false, false, true)
    );
    assert_eq!(held("ferrule config check", true), (false, false, true));
    assert!(Kinds::asked("Where is it?").shared(Kinds::held("In /srv/x.", false)));
    assert!(!Kinds::asked("Where is it?").shared(Kinds::held("It has 3 parts.", false)));
}

#[test]
fn a_piece_that_goes_on_from_a_cut_is_recognised() {
    for cut in [
        ", you need FUSE-T.",
        "you need FUSE-T.",
        "; then run it.",
        ") and more.",
    ] {
        assert!(super::continues(cut), "{cut}");
    }
    for whole in [
        "On macOS, you need FUSE-T.",
        "(See the guide.)",
        "2 GB at least.",
        "`restic mount` needs FUSE.",
    ] {
        assert!(!super::continues(whole), "{whole}");
    }
}

#[test]
fn headings_questions_and_fragments_are_not_quotable() {
    assert!(quotable("Restores always run at full speed.", false));
    assert!(!quotable("Backing up a database", false));
    assert!(quotable("Backing up a database", true));
    // A two-word item stands when it names something concrete.
    assert!(quotable("macOS: ~/Library/Caches/restic", true));
    assert!(!quotable("macOS: Homebrew", true));
    assert!(!quotable("macOS: ~/Library/Caches/restic", false));
    assert!(!quotable(
        "Can Ferrule back up laptops that are often offline?",
        false
    ));
    assert!(!quotable("Yes.", false));
    // A changelog entry's references.
    assert!(!quotable(
        "https://github.com/restic/restic/issues/5107 https://github.com/restic/restic/pull/5110",
        false
    ));
    assert!(quotable(
        "The limit applies to uploads only and restores run at full speed",
        false
    ));
}
