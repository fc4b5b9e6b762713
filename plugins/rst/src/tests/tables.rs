//! Grid and simple tables.

use super::*;

#[test]
fn tables_become_rows_of_cells() {
    let text = "+--------------------+-------------------------+------------------+
| Repository version | Required restic version | Comment          |
+====================+=========================+==================+
| ``1``              | Any                     |                  |
+--------------------+-------------------------+------------------+
| ``2``              | 0.14.0 or newer         | Current default, |
|                    |                         | compressed       |
+--------------------+-------------------------+------------------+

=====  ==========================
Code   Description
=====  ==========================
0      Command was successful
1      Command failed, see command
       help for more details
=====  ==========================

After the tables.
";
    assert_eq!(
        all_text(text),
        "Repository version | Required restic version | Comment
1 | Any
2 | 0.14.0 or newer | Current default, compressed

Code | Description
0 | Command was successful
1 | Command failed, see command help for more details

After the tables."
    );
}
