//! Text for people: what every layer needs to show untrusted names safely and object ids
//! briefly. Pure, at the bottom of the crate.

/// Escapes control characters and cuts `text` to `max` characters, for safe display.
pub fn escape(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A short object name for display.
pub fn short(oid: &str) -> &str {
    &oid[..oid.len().min(10)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_cuts() {
        assert_eq!(escape("a\x1b[31mb", 80), "a\\u{1b}[31mb");
        assert_eq!(escape("abcdef", 3), "abc…");
        assert_eq!(short("0123456789abcdef"), "0123456789");
    }
}
