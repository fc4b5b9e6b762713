//! Bullet, enumerated, field, option and definition lists.

use super::*;

#[test]
fn lists_keep_an_item_a_line() {
    let text = "Several options exist:

* Setting the environment variable ``RESTIC_PASSWORD``

* Specifying the path to a file with the password via the option
  ``--password-file`` or the variable ``RESTIC_PASSWORD_FILE``

-  ``--exclude`` Specify one or more times to exclude
   one or more items
-  ``--iexclude`` Same as ``--exclude`` but ignores the case

* ``--ignore-inode``: require mtime to match, but allow inode number
   and ctime to differ.

1. Finding damaged data
2. Backing up the repository

(a) one
(b) two

#. First
#. Second

A. Smith wrote this sentence,
which is not a list.

The container serves the following goals:
* Have a controlled environment
* Make it easy to build

- Run this::

      $ restic init

- Then this.
";
    assert_eq!(
        all_text(text),
        "Several options exist:

- Setting the environment variable RESTIC_PASSWORD
- Specifying the path to a file with the password via the option --password-file or the variable RESTIC_PASSWORD_FILE

- --exclude Specify one or more times to exclude one or more items
- --iexclude Same as --exclude but ignores the case

- --ignore-inode: require mtime to match, but allow inode number and ctime to differ.

1. Finding damaged data
2. Backing up the repository

(a) one
(b) two

1. First
2. Second

A. Smith wrote this sentence, which is not a list.

The container serves the following goals:

- Have a controlled environment
- Make it easy to build

- Run this:

    $ restic init

- Then this."
    );
}
