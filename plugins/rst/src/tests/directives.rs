//! Directives, admonitions and comments.

use super::*;

#[test]
fn directives_keep_their_text_and_comments_are_dropped() {
    let text = "Repositories
============

.. _Amazon S3:

.. note:: Please be aware that SFTP servers do not expand the tilde
          character (``~``).

.. warning::

   Remembering your password is important!

   .. code-block:: console

      $ restic key list

.. admonition:: Good to know

   Keys can be added later.

.. important:: Read this.

..
  A comment spanning
  several lines.

.. this is a comment too
   with a second line

.. toctree::
   :maxdepth: 2

   010_introduction

.. image:: images/bucket.png
   :alt: a bucket

.. include:: design.rst

.. literalinclude:: example.go

.. only:: html

   Shown in the HTML build.

.. tabs::
   :sync: yes

   Content of an unknown directive.

.. figure:: images/user.png
   :width: 50%

   The user list.

.. versionadded:: 0.17 The ``--insecure-no-password`` option.

.. [1] A footnote body.

.. |product| image:: logo.png

.. raw:: html

   <b>raw</b>
";
    assert_eq!(
        all_text(text),
        "Note: Please be aware that SFTP servers do not expand the tilde character (~).

Warning: Remembering your password is important!

    $ restic key list

Good to know: Keys can be added later.

Important: Read this.

Shown in the HTML build.

Content of an unknown directive.

The user list.

New in version 0.17: The --insecure-no-password option."
    );
}
