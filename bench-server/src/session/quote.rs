//! Untrusted text in error frames and logs: [`clip`] keeps at most [`MAX_QUOTE`] bytes
//! of it and says how long it was, so a 60 KiB command name costs a line, not a page.
//! Sessions use it for error frames, drivers for log lines (it replaces `conn::quote`,
//! which goes with the old async handlers). A leaf: no I/O.

use std::borrow::Cow;

/// Most bytes of untrusted text quoted in an error frame or a log line.
pub(crate) const MAX_QUOTE: usize = 200;

/// `text` unchanged when it fits in `max` bytes; otherwise its first `max` bytes (cut
/// at a character boundary) and a marker `…(N bytes)` with the original length.
pub(crate) fn clip(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…({} bytes)", &text[..end], text.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_and_long_text_is_cut_with_its_length() {
        assert_eq!(clip("echo", MAX_QUOTE), "echo");
        let long = "x".repeat(60_000);
        let cut = clip(&long, MAX_QUOTE);
        assert_eq!(cut, format!("{}…(60000 bytes)", "x".repeat(200)));
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        let text = "é".repeat(150); // 300 bytes, 2 per character
        let cut = clip(&text, 201);
        assert!(cut.starts_with(&"é".repeat(100)), "{cut}");
        assert!(cut.ends_with("…(300 bytes)"), "{cut}");
    }
}
