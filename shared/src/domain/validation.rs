//! What is wrong with an input, field by field: every check of outside input reports all its
//! bad fields at once, and the HTTP layer answers them as the `fields` of a 400.

use std::collections::BTreeMap;

/// Field → what is wrong; the `fields` of a 400 answer.
pub type FieldErrors = BTreeMap<String, String>;

/// Whether a text holds a control character (NUL, ESC, …). Multi-line texts (messages,
/// comments) may hold line breaks and tabs; one-line texts (names) may not.
pub fn has_control_characters(value: &str, multi_line: bool) -> bool {
    value
        .chars()
        .any(|c| c.is_control() && !(multi_line && matches!(c, '\n' | '\r' | '\t')))
}

/// Whether `c` is invisible: a format character (zero-width spaces and joiners, direction
/// marks and overrides, the soft hyphen, word joiners, the byte-order mark, tag characters).
/// Such a character makes two addresses look one and count as two.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}'
        | '\u{E0001}' | '\u{E0020}'..='\u{E007F}')
}

/// A one-line text of 1 to `max` characters (after trimming) without control characters.
pub fn is_line(value: &str, max: usize) -> bool {
    let trimmed = value.trim();
    !trimmed.is_empty() && trimmed.chars().count() <= max && !has_control_characters(value, false)
}

/// The longest phone number accepted (E.164 has at most 15 digits; room for spacing).
pub const MAX_PHONE_CHARS: usize = 30;

/// A phone number as people write it: `+`, digits, spaces, `-`, `/`, `(`, `)`, with a digit.
pub fn is_phone(value: &str) -> bool {
    let trimmed = value.trim();
    trimmed.chars().count() <= MAX_PHONE_CHARS
        && trimmed.chars().any(|c| c.is_ascii_digit())
        && trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '/' | '(' | ')'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bounded_and_free_of_control_characters() {
        assert!(is_line("Anna", 100));
        assert!(!is_line("  ", 100));
        assert!(!is_line(&"a".repeat(101), 100));
        assert!(!is_line("An\u{0}na", 100));
        assert!(!is_line("An\u{1b}[31mna", 100));
        assert!(!is_line("An\nna", 100));
        assert!(!has_control_characters("line one\nline two\ttab", true));
        assert!(has_control_characters("bell\u{7}", true));
    }

    #[test]
    fn phones_are_digits_and_the_usual_signs() {
        for ok in ["+49 30 1234567", "030/123-45", "(030) 12 34"] {
            assert!(is_phone(ok), "{ok}");
        }
        for bad in [
            "",
            "call me",
            "+49 30 12345<script>",
            &"1".repeat(31),
            "---",
        ] {
            assert!(!is_phone(bad), "{bad}");
        }
    }
}
