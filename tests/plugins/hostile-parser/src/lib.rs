//! A parser that misbehaves on purpose. Its config names the misdeed
//! (`{"do": "loop"}`, see the `misdeed` crate; also `flood`, `bad-date`,
//! `reject`, `huge` (one 60 MiB document, under the result cap), `many`
//! (100,000 documents), `page-zero`, `bc-date` (year -44) and `escape-title`),
//! or says `{"do": "content"}`: the file's text is the misdeed's
//! name, so one corpus can hold them all. Anything else returns the file as
//! one document.

use misdeed::{flood, misbehave, misdeed};

wit_bindgen::generate!({ path: "../../../wit", world: "parser" });

use candor::plugin::types::Section;

struct Hostile;

impl Guest for Hostile {
    fn parse(path: String, bytes: Vec<u8>, config: String) -> Result<Vec<Document>, String> {
        let content = String::from_utf8_lossy(&bytes).trim().to_owned();
        let what = match misdeed(&config) {
            "content" => content.as_str(),
            what => what,
        };
        misbehave(what);
        let text = match what {
            "flood" => flood(),
            "bad-date" => return Ok(vec![doc(&path, "last tuesday", "text".into())]),
            "reject" => return Err("this parser rejects every file".into()),
            "bc-date" => return Ok(vec![doc(&path, "-0044-03-15", "text".into())]),
            "huge" => "All work and no play. ".repeat((60 << 20) / 22),
            "many" => {
                return Ok((0..100_000)
                    .map(|i| Document {
                        key: i.to_string(),
                        ..doc(&path, "2024-05-01", format!("entry {i}"))
                    })
                    .collect())
            }
            "page-zero" => {
                let mut d = doc(&path, "2024-05-01", "text".into());
                d.sections[0].page = Some(0);
                return Ok(vec![d]);
            }
            "escape-title" => {
                let mut d = doc(&path, "2024-05-01", "text".into());
                d.title = "\u{1b}[31mred\nforged log line".into();
                return Ok(vec![d]);
            }
            _ => String::from_utf8(bytes).map_err(|e| format!("{path} is not UTF-8: {e}"))?,
        };
        Ok(vec![doc(&path, "2024-05-01", text)])
    }
}

fn doc(path: &str, date: &str, text: String) -> Document {
    Document {
        key: String::new(),
        title: path.to_owned(),
        date: date.to_owned(),
        series: String::new(),
        metadata: Vec::new(),
        sections: vec![Section {
            heading: Vec::new(),
            text,
            page: None,
        }],
    }
}

export!(Hostile);
