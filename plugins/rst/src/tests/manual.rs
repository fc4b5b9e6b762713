//! Whole files: errors for bad input and config, and a manual page using
//! every construct, whose markup must not leak and whose prefixes must not
//! make the parser panic or take long.

use super::*;
use crate::lines::adornment;

#[test]
fn bad_input_and_config_are_errors() {
    let err = parse("doc/bad.rst", &[b'T', 0xff, 0xfe, b'\n'], "").unwrap_err();
    assert!(
        err.contains("doc/bad.rst") && err.contains("UTF-8"),
        "{err}"
    );
    let empty = "References\n==========\n\n.. toctree::\n\n   design\n\n.. a comment\n";
    assert_eq!(
        parse("doc/index.rst", empty.as_bytes(), "").unwrap_err(),
        "no text found in doc/index.rst"
    );
    assert_eq!(
        parse("doc/blank.rst", b"", "{}").unwrap_err(),
        "no text found in doc/blank.rst"
    );
    let unknown = parse("a.rst", b"Text.\n", r#"{"headings":1}"#).unwrap_err();
    assert!(
        unknown.starts_with("config: unknown field `headings`"),
        "{unknown}"
    );
    assert!(parse("a.rst", b"Text.\n", " ").is_ok());
}

/// A page using every construct above.
const MANUAL: &str = "..
  Heading levels: # with overline, * for chapters, = for sections.

##########################
Preparing a new repository
##########################

For automated backups, restic supports the environment variable
``RESTIC_REPOSITORY``; see :ref:`scripting <env>` and :ref:`caching`. Have a
look at the `design documentation <https://example.org/design.rst>`__.

* Setting ``RESTIC_PASSWORD``
* Specifying ``--password-file``, see `the docs`__

__ https://example.org/docs

+---------+-----------+
| Version | Restic    |
+=========+===========+
| ``2``   | 0.14.0    |
+---------+-----------+

SFTP
****

.. code-block:: console

    $ restic -r sftp:user@host:/srv/restic-repo init
    enter password for new repository:

.. note:: Please be aware that SFTP servers close connections when no data
          is received. See :doc:`/faq`.

::

    Host foo
        User bar

Group accessible repositories
=============================

1. Run ``chgrp``:

   .. code-block:: console

      $ chgrp -R restic-users /srv/restic-repo

#. Then |name|.

=====  ========
Code   Meaning
=====  ========
0      success
=====  ========

.. _rclone: https://rclone.org/
.. |name| replace:: run **restic** again
";

#[test]
fn markup_never_leaks_into_the_text() {
    let d = doc(MANUAL);
    assert_eq!(d.title, "Preparing a new repository");
    let headings: Vec<Vec<String>> = d.sections.iter().map(|s| s.heading.clone()).collect();
    assert_eq!(
        headings,
        vec![
            path(&["Preparing a new repository"]),
            path(&["Preparing a new repository", "SFTP"]),
            path(&[
                "Preparing a new repository",
                "SFTP",
                "Group accessible repositories"
            ]),
        ]
    );
    for s in &d.sections {
        for line in s.text.lines() {
            // Code lines, indented by four spaces, keep their literal
            // content; only prose lines start without whitespace.
            if line.starts_with("    ") {
                continue;
            }
            assert!(
                !line.starts_with(char::is_whitespace),
                "indented prose line {line:?} in {:?}",
                s.text
            );
            for bad in ["``", ":ref:", ":doc:", "<http", "__", ".. "] {
                assert!(!line.contains(bad), "{bad:?} in {:?}", s.text);
            }
            assert!(
                adornment(line.trim()).is_none(),
                "adornment line {line:?} in {:?}",
                s.text
            );
        }
    }
    let text: Vec<&str> = d.sections.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(
        text,
        vec![
            "For automated backups, restic supports the environment variable RESTIC_REPOSITORY; \
                 see scripting and caching. Have a look at the design documentation.\n\n\
                 - Setting RESTIC_PASSWORD\n\
                 - Specifying --password-file, see the docs\n\n\
                 Version | Restic\n\
                 2 | 0.14.0",
            "    $ restic -r sftp:user@host:/srv/restic-repo init\n    \
                 enter password for new repository:\n\n\
                 Note: Please be aware that SFTP servers close connections when no data is \
                 received. See /faq.\n\n    \
                 Host foo\n        User bar",
            "1. Run chgrp:\n\n    \
                 $ chgrp -R restic-users /srv/restic-repo\n\n\
                 2. Then run restic again.\n\n\
                 Code | Meaning\n\
                 0 | success",
        ]
    );
}

#[test]
fn no_input_makes_it_panic_or_take_long() {
    // Every prefix, cut anywhere: unclosed markup, half tables, a
    // directive without its body.
    for (end, _) in MANUAL.char_indices() {
        let _ = parse("p.rst", &MANUAL.as_bytes()[..end], "");
    }
    let mut hostile = vec![
        "*".repeat(20_000),
        "`a ".repeat(10_000),
        ":r:`x ".repeat(5_000),
        "|a ".repeat(10_000),
        "[1 ".repeat(10_000),
        "=== ===\nrow\n".repeat(3_000),
        "+--+\n| a |\n".repeat(3_000),
        "x\n=\n".repeat(3_000),
        "\r\r\n\u{0}\t\u{b}".repeat(1_000),
        "- \n".repeat(3_000),
        ".. |a| replace:: |a|\n".repeat(1_000),
    ];
    // Each line indented one more than the last: nesting without end.
    hostile.push((0..500).map(|n| format!("{}a\n", " ".repeat(n))).collect());
    hostile.push(
        (0..500)
            .map(|n| format!("{}- a\n", " ".repeat(2 * n)))
            .collect(),
    );
    for text in &hostile {
        let started = std::time::Instant::now();
        let _ = parse("h.rst", text.as_bytes(), "");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{:?}...",
            &text[..20]
        );
    }
}
