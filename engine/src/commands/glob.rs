//! Glob-style patterns as KEYS and SCAN's MATCH read them (Redis's
//! `stringmatchlen`): `*`, `?`, `[abc]`, `[^a-z]`, and `\` escapes.
//!
//! Matching is iterative with a single backtrack point for the last `*`,
//! which gives the same answers as Redis's recursion in O(pattern × string)
//! time and constant stack, whatever the pattern.

/// Where one pattern element ends and whether it accepts byte `c`.
/// `p` is at the element's first byte, which is not `*`.
fn element(pattern: &[u8], p: usize, c: u8) -> (bool, usize) {
    let at = |i: usize| pattern.get(i).copied();
    match at(p) {
        Some(b'?') => (true, p + 1),
        Some(b'[') => {
            let mut i = p + 1;
            let negate = at(i) == Some(b'^');
            if negate {
                i += 1;
            }
            let mut matched = false;
            loop {
                match (at(i), at(i + 1), at(i + 2)) {
                    (None, _, _) => break,
                    (Some(b'\\'), Some(escaped), _) => {
                        matched |= escaped == c;
                        i += 2;
                    }
                    (Some(b']'), _, _) => {
                        i += 1;
                        break;
                    }
                    (Some(low), Some(b'-'), Some(high)) => {
                        let (low, high) = if low <= high { (low, high) } else { (high, low) };
                        matched |= (low..=high).contains(&c);
                        i += 3;
                    }
                    (Some(literal), _, _) => {
                        matched |= literal == c;
                        i += 1;
                    }
                }
            }
            (matched != negate, i)
        }
        Some(b'\\') if p + 1 < pattern.len() => (at(p + 1) == Some(c), p + 2),
        Some(literal) => (literal == c, p + 1),
        None => (false, p),
    }
}

/// Whether `text` matches `pattern`.
pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut s) = (0, 0);
    // After the last `*` seen: the pattern position following it, and the
    // text position it has been tried to absorb up to.
    let mut backtrack: Option<(usize, usize)> = None;
    while s < text.len() {
        if pattern.get(p) == Some(&b'*') {
            while pattern.get(p) == Some(&b'*') {
                p += 1;
            }
            if p == pattern.len() {
                return true;
            }
            backtrack = Some((p, s));
            continue;
        }
        let (accepted, next) = match text.get(s) {
            Some(&c) if p < pattern.len() => element(pattern, p, c),
            _ => (false, p),
        };
        if accepted {
            p = next;
            s += 1;
        } else if let Some((star_p, star_s)) = backtrack {
            p = star_p;
            s = star_s + 1;
            backtrack = Some((star_p, star_s + 1));
        } else {
            return false;
        }
    }
    while pattern.get(p) == Some(&b'*') {
        p += 1;
    }
    p == pattern.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_glob_cases() {
        let yes: &[(&str, &str)] = &[
            ("*", ""),
            ("*", "anything"),
            ("h?llo", "hello"),
            ("h*llo", "heeeello"),
            ("h*llo", "hllo"),
            ("h[ae]llo", "hallo"),
            ("h[^e]llo", "hallo"),
            ("h[a-b]llo", "hbllo"),
            ("h[b-a]llo", "hbllo"),
            ("h\\*llo", "h*llo"),
            ("a*b*c", "aXXbYYc"),
            ("*a", "aaa"),
            ("user:*", "user:1000"),
            ("[\\]]", "]"),
            ("a\\", "a\\"),
            ("**a**", "xa"),
        ];
        for (pattern, text) in yes {
            assert!(matches(pattern.as_bytes(), text.as_bytes()), "{pattern} ~ {text}");
        }
        let no: &[(&str, &str)] = &[
            ("h?llo", "hllo"),
            ("h[ae]llo", "hillo"),
            ("h[^e]llo", "hello"),
            ("h[a-b]llo", "hcllo"),
            ("h\\*llo", "hello"),
            ("a*b", "ac"),
            ("", "a"),
            ("a", ""),
            ("[abc", "d"),
            ("?", ""),
        ];
        for (pattern, text) in no {
            assert!(!matches(pattern.as_bytes(), text.as_bytes()), "{pattern} !~ {text}");
        }
        assert!(matches(b"", b""));
        assert!(matches(b"[abc", b"a"));
    }

    #[test]
    fn pathological_patterns_are_fast() {
        let pattern = "*a".repeat(50) + "b";
        let text = "a".repeat(5000);
        assert!(!matches(pattern.as_bytes(), text.as_bytes()));
    }
}
