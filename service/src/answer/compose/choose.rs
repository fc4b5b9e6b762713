//! Which sentences an answer quotes, once its first is known: what the first
//! brings along, then the best of the rest, each with what it needs.

use super::*;

/// What an answer opens with: the sentence that names the release (when the
/// first needs one), the first sentence, and what it brings along.
pub(super) struct Opening<'c, 'g> {
    first: &'c Candidate<'g>,
    /// The sentences the first one introduces (it ends in a colon).
    introduced: Vec<&'c Candidate<'g>>,
    /// What the first one's window goes on with past the opening: the remedy
    /// for what the opening describes, or the next steps of a procedure.
    goes_on: Vec<&'c Candidate<'g>>,
    /// In order: the naming sentence, the first, then what follows it.
    sentences: Vec<&'c Candidate<'g>>,
}

/// How a sentence that gives the remedy for what the text before it
/// describes opens ("In this case you can increase the timeout ...").
const REMEDY_OPENINGS: &[&str] = &[
    "in this case",
    "in that case",
    "in such a case",
    "in such cases",
    "in these cases",
    "if this happens",
    "if that happens",
    "when this happens",
    "to fix this",
    "to fix it",
    "to solve this",
    "to resolve this",
    "to recover",
    "to work around",
    "as a workaround",
    "a workaround",
    "the workaround",
    "a simple solution",
    "the solution",
    "the fix",
    "to avoid this",
    "to prevent this",
    "in most cases it is sufficient",
    "in most cases, it is sufficient",
];

/// How the steps of a procedure open, after one that opens with "First".
const STEP_OPENINGS: &[&str] = &[
    "first",
    "then",
    "only then",
    "next",
    "after that",
    "afterwards",
    "finally",
];

/// Spans past the opening that what it goes on with may be found within: a
/// short block of code between them.
const REMEDY_REACH: usize = 8;

/// Sentences an opening goes on with at most.
const GOES_ON_AT_MOST: usize = 2;

/// Sentences of its paragraph that a quoted first sentence brings from
/// before it, at most.
const QUOTED_CONTEXT: usize = 2;

/// Consecutive words a question shares with a sentence at least, to quote it.
const QUOTED_WORDS: usize = 4;

/// Whether `question` quotes `sentence`: it holds a run of at least
/// [`QUOTED_WORDS`] of its words, which is half the question or more, or
/// which the question sets in quotation marks ("my agent logs 'agent version
/// is newer than server'").
pub(super) fn quotes(question: &str, sentence: &str) -> bool {
    let words = |t: &str| -> Vec<String> {
        t.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let (q, s) = (words(question), words(sentence));
    let mut run = 0;
    for i in 0..q.len() {
        for j in 0..s.len() {
            let n = q[i..]
                .iter()
                .zip(&s[j..])
                .take_while(|(a, b)| a == b)
                .count();
            run = run.max(n);
        }
    }
    // An apostrophe opens a quotation where a word cannot go on with it:
    // "logs 'repository locked'", not "don't".
    let marked = question.contains(['"', '“', '”', '`'])
        || question.starts_with('\'')
        || question.contains(" '");
    run >= QUOTED_WORDS && (2 * run >= q.len() || marked)
}

/// Whether `text` opens with one of `openings`, as a whole word or phrase.
fn opens_with(text: &str, openings: &[&str]) -> bool {
    let t = text.trim_start().to_lowercase();
    openings.iter().any(|o| {
        t.strip_prefix(o)
            .is_some_and(|rest| rest.starts_with([' ', ',', ':']))
    })
}

/// Whether `text` opens as the remedy for what precedes it.
pub(super) fn remedies(text: &str) -> bool {
    opens_with(text, REMEDY_OPENINGS)
}

impl<'c, 'g> Opening<'c, 'g> {
    pub(super) fn of(
        first: &'c Candidate<'g>,
        named: Option<&'c Candidate<'g>>,
        quoted: bool,
        candidates: &'c [Candidate<'g>],
        max_sentences: usize,
    ) -> Opening<'c, 'g> {
        // A question that quotes the first sentence (an error message it
        // saw) asks about what the sentence says, and its paragraph holds
        // the context: the sentences before it, in the same paragraph, often
        // say what to do ("Upgrade the server first, then the agents. ... An
        // agent newer than its server is refused with the message agent
        // version is newer than server.").
        let mut before: Vec<&Candidate<'_>> = Vec::new();
        let mut next = first;
        while quoted && before.len() < QUOTED_CONTEXT {
            let Some(p) = candidates
                .iter()
                .find(|p| !p.span.code && goes_on_with(p, next))
            else {
                break;
            };
            before.insert(0, p);
            next = p;
        }
        // The next sentence of the same paragraph usually goes on with the first one's
        // point ("A retention policy decides how long snapshots are kept. The default
        // policy keeps 7 daily ..."), so it follows the first. It need not share a
        // word with the question: a first sentence that restates the question's
        // symptom ("you may get a password error") is followed by the remedy ("Use
        // winpty"), which is the answer. When the first sentence ends its
        // window, the next sentence is read from an overlapping window that
        // holds both.
        let continuation = candidates
            .iter()
            .filter(|p| p.chunk.doc_id == first.chunk.doc_id && same_text(p, first))
            .find_map(|p| candidates.iter().find(|c| goes_on_with(p, c)));
        // A sentence that ends in a colon introduces what follows it ("The default
        // policy keeps:"), a list or a command, which is the answer itself.
        let introduced: Vec<&Candidate<'_>> = if first.text.ends_with(':') {
            let mut chars = 0;
            (1..)
                .map_while(|step| {
                    candidates.iter().find(|c| {
                        c.rank == first.rank
                            && c.index == first.index + step
                            && (step == 1 || c.span.item || c.span.code)
                    })
                })
                .enumerate()
                .take_while(|(n, c)| {
                    chars += c.text.chars().count();
                    n + 1 < max_sentences || chars <= INTRODUCED_CHARS
                })
                .map(|(_, c)| c)
                .collect()
        } else {
            Vec::new()
        };
        let follow: Vec<&Candidate<'_>> = if introduced.is_empty() {
            continuation.into_iter().collect()
        } else {
            introduced.clone()
        };
        // An error or a symptom is often followed, past the code that shows
        // it or in the next paragraph, by what to do about it ("List(data)
        // returned error ... request timeout" / "In this case you can
        // increase the timeout using --stuck-request-timeout"): for a
        // question that quotes the error, that is the answer. So are the
        // next steps of a procedure the opening begins ("First make sure
        // nothing is running" / "Only then remove the stale lock:").
        let mut goes_on: Vec<&Candidate<'_>> = Vec::new();
        let mut last = follow.last().copied().unwrap_or(first);
        while goes_on.len() < GOES_ON_AT_MOST {
            let after = |c: &&Candidate<'_>| c.rank == last.rank && c.index > last.index;
            let in_steps = opens_with(&last.text, STEP_OPENINGS);
            let next = candidates
                .iter()
                .filter(|c| after(c) && !c.span.code)
                .min_by_key(|c| c.index)
                .filter(|c| {
                    c.index - last.index <= REMEDY_REACH
                        && (remedies(&c.text) || (in_steps && opens_with(&c.text, STEP_OPENINGS)))
                        && candidates
                            .iter()
                            .filter(|b| after(b) && b.index < c.index)
                            .all(|b| b.span.code)
                });
            let Some(next) = next else { break };
            goes_on.push(next);
            last = next;
        }
        let sentences = named
            .into_iter()
            .chain(before)
            .chain(std::iter::once(first))
            .chain(follow)
            .chain(goes_on.iter().copied())
            .collect();
        Opening {
            first,
            introduced,
            goes_on,
            sentences,
        }
    }

    /// Whether `c` is placed for the first sentence's sake.
    fn places(&self, c: &Candidate<'_>) -> bool {
        self.sentences.iter().any(|o| std::ptr::eq(*o, c))
    }

    fn introduces(&self, c: &Candidate<'_>) -> bool {
        self.introduced.iter().any(|i| std::ptr::eq(*i, c))
    }
}

/// The sentences of the answer: the opening, then the best of the rest (each
/// at least [`RELATIVE_FLOOR`] of the first's score), up to `max_sentences`,
/// without repeats, each with what it needs to be understood.
pub(super) fn choose<'c, 'g>(
    opening: &Opening<'c, 'g>,
    order: &[&'c Candidate<'g>],
    candidates: &'c [Candidate<'g>],
    max_sentences: usize,
) -> Vec<&'c Candidate<'g>> {
    let first = opening.first;
    let mut chosen: Vec<&Candidate<'_>> = Vec::new();
    for c in opening.sentences.iter().copied().chain(
        order
            .iter()
            .copied()
            .filter(|c| c.score >= RELATIVE_FLOOR * first.score),
    ) {
        let introduced_by_first = opening.introduces(c);
        let goes_on = opening.goes_on.iter().any(|g| std::ptr::eq(*g, c));
        if chosen.len() >= max_sentences && !(introduced_by_first || goes_on) {
            break;
        }
        if !fits(&chosen, c, opening.places(c)) {
            continue;
        }
        // A sentence about the code just before it ("The example runs at
        // 01:30 on weekdays", "... at these paths") comes with that code, its
        // nearest lines up to [`INTRODUCED_CHARS`].
        if points_back(&c.text) && !introduced_by_first {
            let mut chars = 0;
            let code: Vec<&Candidate<'_>> = (1..=c.index)
                .map_while(|back| {
                    candidates
                        .iter()
                        .find(|p| p.rank == c.rank && p.index + back == c.index && p.span.code)
                })
                .enumerate()
                .take_while(|(n, p)| {
                    chars += p.text.chars().count();
                    *n == 0 || chars <= INTRODUCED_CHARS
                })
                .map(|(_, p)| p)
                .collect();
            if !code.is_empty() {
                chosen.push(c);
                for p in code.into_iter().rev() {
                    if fits(&chosen, p, true) {
                        chosen.push(p);
                    }
                }
                continue;
            }
        }
        // Any other sentence that ends in a colon says only "as follows":
        // what it introduces comes with it, past the limit if need be, or
        // the sentence is left out. Of a list, that is the item that fits
        // the question best; of code, the whole block (up to
        // [`INTRODUCED_CHARS`]), since its first line alone is half a recipe
        // ("add a second volume:" is mkfs, mount, chown, then add-volume).
        if c.text.ends_with(':') && !std::ptr::eq(c, first) && !introduced_by_first {
            let mut after = (1..).map_while(|step| {
                candidates
                    .iter()
                    .find(|n| n.rank == c.rank && n.index == c.index + step)
            });
            let brought: Vec<&Candidate<'_>> = match after.next() {
                Some(n) if n.span.item => std::iter::once(n)
                    .chain(after.take_while(|n| n.span.item))
                    .max_by(|a, b| a.fit.total_cmp(&b.fit).then(b.index.cmp(&a.index)))
                    .into_iter()
                    .collect(),
                Some(n) if n.span.code => {
                    let mut chars = 0;
                    std::iter::once(n)
                        .chain(after.take_while(|n| n.span.code))
                        .enumerate()
                        .take_while(|(i, n)| {
                            chars += n.text.chars().count();
                            *i == 0 || chars <= INTRODUCED_CHARS
                        })
                        .map(|(_, n)| n)
                        .collect()
                }
                other => other.into_iter().collect(),
            };
            if !brought.is_empty() && brought.iter().all(|n| fits(&chosen, n, true)) {
                chosen.push(c);
                chosen.extend(brought);
            }
            continue;
        }
        chosen.push(c);
    }
    chosen
}

/// True when `b` is the sentence right after `a` in `a`'s window, in the same
/// paragraph.
fn goes_on_with(a: &Candidate<'_>, b: &Candidate<'_>) -> bool {
    a.rank == b.rank && a.index + 1 == b.index && {
        let between: String = a
            .chunk
            .text
            .chars()
            .skip(a.span.end)
            .take(b.span.start.saturating_sub(a.span.end))
            .collect();
        !between.contains("\n\n")
    }
}

/// True when `a` and `b` quote the same stretch of their document: one
/// sentence, read from two overlapping windows.
fn same_text(a: &Candidate<'_>, b: &Candidate<'_>) -> bool {
    a.chunk.span.0 + a.span.start == b.chunk.span.0 + b.span.start
        && a.chunk.span.0 + a.span.end == b.chunk.span.0 + b.span.end
}

/// Whether `c` may join `chosen`. What the first sentence brings along (the
/// release's name, what it introduces) is `placed` for its sake: it may share
/// the first sentence's words ("export a recovery key:" and the command that
/// does), so only a quote of the same place is a repeat.
fn fits(chosen: &[&Candidate<'_>], c: &Candidate<'_>, placed: bool) -> bool {
    !chosen.iter().any(|k| match placed {
        true => same_place(k, c),
        false => repeats(k, c),
    })
}
