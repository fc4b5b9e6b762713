//! Titles and sections, paragraphs, and literal blocks.

use super::*;

#[test]
fn titles_nest_in_the_order_their_adornments_first_appear() {
    let text = "..
  Heading levels follow the Python convention:
  # with overline for parts, * for chapters, = for sections

##########
Backing up
##########

You can now back up some data.

Excluding files
***************

Patterns match whole path components.

Including ``--files-from``
==========================

One pattern per line.

Comparing snapshots
*******************

.. only a comment here

Short underlines
----

A short underline of four characters still makes a title.
";
    let d = doc(text);
    assert_eq!(d.title, "Backing up");
    assert_eq!(
        (d.key.as_str(), d.date.as_str(), d.series.as_str()),
        ("", "", "")
    );
    assert!(d.metadata.is_empty());
    assert_eq!(
        sections(text),
        vec![
            (
                path(&["Backing up"]),
                "You can now back up some data.".into()
            ),
            (
                path(&["Backing up", "Excluding files"]),
                "Patterns match whole path components.".into()
            ),
            (
                path(&["Backing up", "Excluding files", "Including --files-from"]),
                "One pattern per line.".into()
            ),
            // "Comparing snapshots" holds only a comment, so it is left out.
            (
                path(&["Backing up", "Comparing snapshots", "Short underlines"]),
                "A short underline of four characters still makes a title.".into()
            ),
        ]
    );
    // Text before the first title has no heading; without a title the
    // file's stem is the title.
    let untitled = parse("doc/faq.rst", b"Just a paragraph.\n", "").unwrap();
    assert_eq!(untitled[0].title, "faq");
    assert_eq!(untitled[0].sections[0].heading, Vec::<String>::new());
    // Titles nested in a list are kept as text, not sections.
    assert_eq!(
        sections("- Item\n\n  Inner\n  =====\n"),
        vec![(vec![], "- Item\n\nInner".into())]
    );
}

#[test]
fn paragraphs_join_their_lines_and_stay_apart() {
    // With a byte-order mark, CRLF line ends and a tab.
    let text = "\u{feff}Title\r\n=====\r\n\r\n\
                    The place where your backups are saved\r\n\
                    is called a \"repository\".\r\n\r\n\r\n\
                    A key is\r\na password.\r\n\r\n\
                    Run this::\r\n\r\n\t$ restic init\r\n\r\n\
                    repository\r\n    A place where backups are saved.\r\n";
    assert_eq!(
        sections(text),
        vec![(
            path(&["Title"]),
            "The place where your backups are saved is called a \"repository\".\n\n\
                 A key is a password.\n\n\
                 Run this:\n\n    $ restic init\n\n\
                 repository\nA place where backups are saved."
                .into()
        )]
    );
}

#[test]
fn literal_blocks_keep_their_lines_whole() {
    let text = "Backing up
==========

Run the following command::

    $ restic -r /srv/restic-repo --verbose backup ~/work
    open repository
        indented more

    snapshot 40dc1520 saved

Add these lines to the config file:

::

    ServerAliveInterval 60
    ServerAliveCountMax 240

Or like this ::

  Host foo

.. code-block:: console

    $ restic -r /srv/restic-repo backup --exclude=\"*.c\" ~/work
    enter password for repository:

.. code::

   {\"version\": 2}

A user wants to run:

::

$ restic backup --exclude \"~/documents\" ~

The repository at port 2222 can be specified as

::

    sftp://user@[::1]:2222//srv/restic-repo

Done.
";
    assert_eq!(
        sections(text),
        vec![(
            path(&["Backing up"]),
            "Run the following command:

    $ restic -r /srv/restic-repo --verbose backup ~/work
    open repository
        indented more

    snapshot 40dc1520 saved

Add these lines to the config file:

    ServerAliveInterval 60
    ServerAliveCountMax 240

Or like this

    Host foo

    $ restic -r /srv/restic-repo backup --exclude=\"*.c\" ~/work
    enter password for repository:

    {\"version\": 2}

A user wants to run:

    $ restic backup --exclude \"~/documents\" ~

The repository at port 2222 can be specified as:

    sftp://user@[::1]:2222//srv/restic-repo

Done."
                .into()
        )]
    );
}
