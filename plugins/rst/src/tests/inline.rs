//! Inline markup, roles, references and substitutions.

use super::*;

#[test]
fn roles_links_and_inline_markup_become_their_text() {
    let text = "See :ref:`excluding files <backup-excluding-files>` and :ref:`scripting`,
the :doc:`/manual/backup` page, :option:`--verbose`, :envvar:`RESTIC_PASSWORD`
and issue :issue:`2659`. Use ``restic check`` with *care*, **always**.
Read the `design documentation <https://example.org/design.rst>`__ or the
`REST server <https://example.org/rest-server>`_, see the `blog post`__,
`rclone`_ or rclone_ itself, [#]_ a footnote [1]_ and |version| |logo| here.
Escaped \\*stars\\* stay, and so does 2*3*4 or a lone * here.

__ https://example.org/blog

.. _rclone: https://rclone.org/

.. |version| replace:: version *0.18*
.. |logo| image:: logo.png
";
    assert_eq!(
        all_text(text),
        "See excluding files and scripting, the /manual/backup page, --verbose, \
             RESTIC_PASSWORD and issue 2659. Use restic check with care, always. Read the \
             design documentation or the REST server, see the blog post, rclone or rclone \
             itself, a footnote and version 0.18 here. Escaped *stars* stay, and so does \
             2*3*4 or a lone * here."
    );
}
