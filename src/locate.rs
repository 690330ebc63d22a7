//! Finding the line of a value in a YAML text by its path (`steps[2].update[0].set.ready`,
//! `paths./things.get.responses.200`), so that problems found after parsing (in a scenario or
//! a spec) can still be reported with file and line.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Lines (1-based) of every node of a YAML document, by path.
#[derive(Debug, Default)]
pub struct Lines {
    lines: HashMap<String, usize>,
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, index: usize },
}

#[derive(Default)]
struct Recv {
    stack: Vec<Frame>,
    lines: HashMap<String, usize>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Recv {
    /// The path of the node that starts now, and advance the parent's position.
    fn next_path(&mut self, scalar: Option<&str>) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, index }) => {
                let p = format!("{path}[{index}]");
                *index += 1;
                Some(p)
            }
            Some(Frame::Map { path, key }) => match key.take() {
                None => {
                    // This node is a key.
                    *key = Some(scalar.unwrap_or("?").to_string());
                    let p = join(path, scalar.unwrap_or("?"));
                    // Record the key's own line for the path, so a missing value still points here.
                    self.lines.entry(p).or_insert(0);
                    None
                }
                Some(k) => Some(join(path, &k)),
            },
        }
    }
}

impl MarkedEventReceiver for Recv {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let line = mark.line();
        match ev {
            Event::Scalar(ref v, ..) => {
                let key_path = match self.stack.last() {
                    Some(Frame::Map { path, key: None }) => Some(join(path, v)),
                    _ => None,
                };
                if let Some(p) = self.next_path(Some(v)) {
                    self.lines.entry(p).or_insert(line);
                } else if let Some(kp) = key_path {
                    self.lines.insert(kp, line);
                }
            }
            Event::Alias(_) => {
                if let Some(p) = self.next_path(None) {
                    self.lines.entry(p).or_insert(line);
                }
            }
            Event::SequenceStart(..) => {
                let p = self.next_path(None).unwrap_or_default();
                self.lines.entry(p.clone()).or_insert(line);
                self.stack.push(Frame::Seq { path: p, index: 0 });
            }
            Event::MappingStart(..) => {
                let p = self.next_path(None).unwrap_or_default();
                self.lines.entry(p.clone()).or_insert(line);
                self.stack.push(Frame::Map { path: p, key: None });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

impl Lines {
    /// Index a YAML text; a text that does not parse yields an empty index.
    pub fn of(text: &str) -> Self {
        let mut r = Recv::default();
        let mut p = Parser::new_from_str(text);
        let _ = p.load(&mut r, false);
        Lines { lines: r.lines }
    }

    /// The line of `path`, or of its nearest ancestor that has one.
    pub fn line(&self, path: &str) -> Option<usize> {
        let mut p = path.to_string();
        loop {
            if let Some(l) = self.lines.get(&p).filter(|l| **l > 0) {
                return Some(*l);
            }
            let cut = p.rfind(['.', '['])?;
            p.truncate(cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_lines_of_nested_values() {
        let text = "api: x\nsteps:\n  - at: 0s\n    set:\n      ready: true\n  - at: nope\n";
        let l = Lines::of(text);
        assert_eq!(l.line("api"), Some(1));
        assert_eq!(l.line("steps[0].set.ready"), Some(5));
        assert_eq!(l.line("steps[1].at"), Some(6));
        assert_eq!(l.line("steps[1].missing.deep"), Some(6));
    }
}
