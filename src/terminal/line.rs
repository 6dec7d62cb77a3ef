//! A one-line text prompt with the editing keys a terminal user expects, for the answers
//! that are typed (who was consulted, a bypass's justification): dialoguer's `Input` ignores
//! control keys, so Ctrl-U could not clear a half-typed justification (issue 22, item 9).
//!
//! [`Line`] is the pure editing state (tested below); [`read`] draws it on the terminal with
//! the dialoguer theme the other questions use, redrawing the whole answer after each key so
//! that a long justification wrapping over several rows is drawn right.

use std::fmt::Write as _;

use console::{measure_text_width, Key, Term};
use dialoguer::theme::Theme;

/// Ctrl-U: deletes from the start of the line to the cursor (readline's `unix-line-discard`).
const CTRL_U: char = '\u{15}';
/// Ctrl-W: deletes the word before the cursor.
const CTRL_W: char = '\u{17}';
/// Ctrl-K: deletes from the cursor to the end of the line.
const CTRL_K: char = '\u{0b}';

/// The text being typed and the cursor's place in it (in characters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Line {
    chars: Vec<char>,
    cursor: usize,
}

/// What a key did to the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// The line or the cursor changed: draw it again.
    Changed,
    /// Nothing to do (an unknown key, Backspace at the start).
    Unchanged,
    /// Enter: the answer is given.
    Submit,
}

impl Line {
    /// The text typed so far.
    pub fn text(&self) -> String {
        self.chars.iter().collect()
    }

    /// The text before the cursor.
    fn before_cursor(&self) -> String {
        self.chars[..self.cursor].iter().collect()
    }

    /// Applies one key.
    pub fn apply(&mut self, key: &Key) -> Edit {
        let before = self.clone();
        match key {
            Key::Enter => return Edit::Submit,
            Key::Char(CTRL_U) => {
                self.chars.drain(..self.cursor);
                self.cursor = 0;
            }
            Key::Char(CTRL_K) => self.chars.truncate(self.cursor),
            Key::Char(CTRL_W) => {
                let mut start = self.cursor;
                while start > 0 && self.chars[start - 1].is_whitespace() {
                    start -= 1;
                }
                while start > 0 && !self.chars[start - 1].is_whitespace() {
                    start -= 1;
                }
                self.chars.drain(start..self.cursor);
                self.cursor = start;
            }
            Key::Char(c) if !c.is_control() => {
                self.chars.insert(self.cursor, *c);
                self.cursor += 1;
            }
            Key::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                self.chars.remove(self.cursor);
            }
            Key::Del if self.cursor < self.chars.len() => {
                self.chars.remove(self.cursor);
            }
            Key::ArrowLeft if self.cursor > 0 => self.cursor -= 1,
            Key::ArrowRight if self.cursor < self.chars.len() => self.cursor += 1,
            Key::Home => self.cursor = 0,
            Key::End => self.cursor = self.chars.len(),
            _ => {}
        }
        if *self == before {
            Edit::Unchanged
        } else {
            Edit::Changed
        }
    }
}

/// Where the terminal's cursor is after writing `width` cells from the start of a row, in a
/// terminal `cols` wide: `(row, column)`. A row filled to its last cell leaves the cursor on
/// that row ("pending wrap"); [`draw`] moves it to the next one so that the arithmetic holds.
fn place(width: usize, cols: usize) -> (usize, usize) {
    (width / cols, width % cols)
}

/// Draws the prompt and the line from the prompt's first row, leaving the cursor at the
/// line's cursor. `row` is the cursor's row (relative to the prompt's first row) before;
/// returns it after.
fn draw(term: &Term, prompt: &str, line: &Line, row: usize) -> std::io::Result<usize> {
    let cols = usize::from(term.size().1).max(1);
    let mut out = String::new();
    if row > 0 {
        let _ = write!(out, "\x1b[{row}A");
    }
    out.push_str("\r\x1b[J");
    out.push_str(prompt);
    let text = line.text();
    out.push_str(&text);
    let end = measure_text_width(prompt) + measure_text_width(&text);
    if end > 0 && end.is_multiple_of(cols) {
        // Leave the pending wrap: to the next row's start, as `place` counts.
        out.push_str(" \r\x1b[K");
    }
    let (end_row, _) = place(end, cols);
    let at = measure_text_width(prompt) + measure_text_width(&line.before_cursor());
    let (cursor_row, cursor_col) = place(at, cols);
    if end_row > cursor_row {
        let _ = write!(out, "\x1b[{}A", end_row - cursor_row);
    }
    out.push('\r');
    if cursor_col > 0 {
        let _ = write!(out, "\x1b[{cursor_col}C");
    }
    term.write_str(&out)?;
    term.flush()?;
    Ok(cursor_row)
}

/// Clears what was drawn from the prompt's first row (`row` rows above the cursor) down, and
/// `above` more rows (the error lines of earlier tries).
fn clear(term: &Term, row: usize, above: usize) -> std::io::Result<()> {
    let up = row + above;
    let mut out = String::new();
    if up > 0 {
        let _ = write!(out, "\x1b[{up}A");
    }
    out.push_str("\r\x1b[J");
    term.write_str(&out)
}

/// Asks for one line of text until `problem` finds nothing wrong with it (trimmed); each
/// refusal is shown under the prompt and the answer is typed anew. Ctrl-C ends it as an
/// interrupted read, like the other questions.
pub fn read(
    term: &Term,
    theme: &dyn Theme,
    prompt: &str,
    problem: &dyn Fn(&str) -> Option<String>,
) -> dialoguer::Result<String> {
    let mut shown = String::new();
    theme
        .format_input_prompt(&mut shown, prompt, None)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut error_rows = 0;
    loop {
        let mut line = Line::default();
        let mut row = draw(term, &shown, &line, 0)?;
        loop {
            match line.apply(&term.read_key()?) {
                Edit::Submit => break,
                Edit::Changed => row = draw(term, &shown, &line, row)?,
                Edit::Unchanged => {}
            }
        }
        let answer = line.text().trim().to_owned();
        clear(term, row, error_rows)?;
        if let Some(why) = problem(&answer) {
            let mut error = String::new();
            theme
                .format_error(&mut error, &why)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let cols = usize::from(term.size().1).max(1);
            error_rows = measure_text_width(&error).max(1).div_ceil(cols);
            term.write_line(&error)?;
            continue;
        }
        let mut done = String::new();
        theme
            .format_input_prompt_selection(&mut done, prompt, &answer)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        term.write_line(&done)?;
        return Ok(answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(keys: &[Key]) -> Line {
        let mut line = Line::default();
        for k in keys {
            line.apply(k);
        }
        line
    }

    fn chars(s: &str) -> Vec<Key> {
        s.chars().map(Key::Char).collect()
    }

    #[test]
    fn ctrl_u_clears_what_is_before_the_cursor_issue_22() {
        let mut keys = chars("wrong reason");
        keys.push(Key::Char(CTRL_U));
        keys.extend(chars("incident 4711"));
        assert_eq!(typed(&keys).text(), "incident 4711");
        // In the middle: only what is before the cursor goes.
        let mut keys = chars("abc def");
        keys.extend([Key::ArrowLeft, Key::ArrowLeft, Key::ArrowLeft]);
        keys.push(Key::Char(CTRL_U));
        let line = typed(&keys);
        assert_eq!((line.text().as_str(), line.cursor), ("def", 0));
    }

    #[test]
    fn editing_keys() {
        let mut keys = chars("one two  ");
        keys.push(Key::Char(CTRL_W));
        assert_eq!(typed(&keys).text(), "one ");
        let mut keys = chars("abc");
        keys.extend([Key::Home, Key::Del, Key::End, Key::Backspace]);
        keys.extend(chars("X"));
        assert_eq!(typed(&keys).text(), "bX");
        let mut keys = chars("keep cut");
        keys.extend([Key::ArrowLeft, Key::ArrowLeft, Key::ArrowLeft]);
        keys.push(Key::Char(CTRL_K));
        assert_eq!(typed(&keys).text(), "keep ");
        let mut line = Line::default();
        assert_eq!(line.apply(&Key::Backspace), Edit::Unchanged);
        assert_eq!(line.apply(&Key::Char('\u{7}')), Edit::Unchanged);
        assert_eq!(line.apply(&Key::Char('é')), Edit::Changed);
        assert_eq!(line.apply(&Key::Enter), Edit::Submit);
    }

    #[test]
    fn the_cursor_place_counts_full_rows_as_wrapped() {
        assert_eq!(place(0, 80), (0, 0));
        assert_eq!(place(79, 80), (0, 79));
        assert_eq!(place(80, 80), (1, 0));
        assert_eq!(place(170, 80), (2, 10));
    }
}
