//! Reading markdown for the documentation tests: which lines are code.

/// Each line of a markdown file with whether it is inside a fenced code block
/// (fence lines count as inside).
pub fn lines_outside_fences(text: &str) -> Vec<(usize, &str, bool)> {
    let mut fence: Option<(char, usize)> = None;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = marker.map_or(0, |c| trimmed.chars().take_while(|x| *x == c).count());
        match (fence, marker) {
            (None, Some(c)) if run >= 3 => {
                fence = Some((c, run));
                out.push((i + 1, line, true));
            }
            (Some((c, n)), Some(m)) if m == c && run >= n && trimmed[run..].trim().is_empty() => {
                fence = None;
                out.push((i + 1, line, true));
            }
            (Some(_), _) => out.push((i + 1, line, true)),
            (None, _) => out.push((i + 1, line, false)),
        }
    }
    out
}
