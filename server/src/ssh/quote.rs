//! Quoting for the remote (POSIX) shell. `ssh` hands the remote side one command line that the
//! login shell parses, so every argument is quoted here and joined with spaces: an argument
//! reaches the remote program byte for byte, whatever it contains (spaces, quotes, `$(...)`,
//! globs, newlines).
//!
//! Architecture Invariant: this is the only place command lines for a node are assembled.

/// Characters that never need quoting (the `shell-escape` crate's set, minus `=`: a leading
/// `NAME=value` word would be taken as an assignment).
fn plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | ',' | '.' | '+' | ':' | '@' | '%')
}

/// One argument as a shell word: unchanged when it has only safe characters, otherwise in
/// single quotes with each `'` written as `'\''`. The empty string becomes `''`.
pub fn quote(arg: &str) -> String {
    if !arg.is_empty() && arg.chars().all(plain) {
        return arg.to_owned();
    }
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('\'');
    for c in arg.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// An argument a remote command line cannot carry: a NUL byte ends a C string.
#[derive(Debug, thiserror::Error)]
#[error("argument {index} contains a NUL byte, which no remote command can receive")]
pub struct NulInArgument {
    /// Its position (0 = the program).
    pub index: usize,
}

/// The command line for `args` (program first), every word quoted.
pub fn command_line<S: AsRef<str>>(args: &[S]) -> Result<String, NulInArgument> {
    let mut words = Vec::with_capacity(args.len());
    for (index, arg) in args.iter().enumerate() {
        let arg = arg.as_ref();
        if arg.contains('\0') {
            return Err(NulInArgument { index });
        }
        words.push(quote(arg));
    }
    Ok(words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_plain() {
        assert_eq!(quote("pct"), "pct");
        assert_eq!(quote("/tmp/a-b_c.d"), "/tmp/a-b_c.d");
        assert_eq!(quote("0644"), "0644");
    }

    #[test]
    fn everything_else_is_single_quoted() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("$(id)"), "'$(id)'");
        assert_eq!(quote("`id`"), "'`id`'");
        assert_eq!(quote("a=b"), "'a=b'");
        assert_eq!(quote("*"), "'*'");
        assert_eq!(quote("~"), "'~'");
        assert_eq!(quote("x\ny"), "'x\ny'");
        assert_eq!(quote("!"), "'!'");
    }

    #[test]
    fn nul_is_refused() {
        assert!(command_line(&["echo", "a\0b"]).is_err());
        assert_eq!(
            command_line(&["echo", "a b", "c"]).ok().as_deref(),
            Some("echo 'a b' c")
        );
    }

    /// The real test: `sh` parses the quoted line back into exactly the original words.
    #[test]
    fn sh_reads_back_the_original_words() -> anyhow::Result<()> {
        let words = [
            "printf",
            "%s\\n",
            "plain",
            "with space",
            "single ' quote",
            "double \" quote",
            "$(echo injected)",
            "`echo injected`",
            "$HOME ${PATH} $1",
            "; rm -rf / &",
            "a\nb",
            "tab\there",
            "'",
            "''",
            "\\",
            "*",
            "-n",
            "",
            "ünïcødé ✓",
        ];
        let line = command_line(&words)?;
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&line)
            .output()?;
        assert!(out.status.success(), "sh failed on {line}");
        let expected: String = words[2..].iter().map(|w| format!("{w}\n")).collect();
        assert_eq!(String::from_utf8(out.stdout)?, expected);
        Ok(())
    }
}
