//! Lexer: source text to tokens with positions.
//!
//! Whitespace is space, tab, CR and LF (as in portus). A `#` starts a comment that runs to the
//! end of the line (or of the input) and counts as whitespace wherever it appears. Tokens:
//! `(`, `)`, numbers (decimal digits), `+infinity`, names/words (`[A-Za-z_.][A-Za-z0-9_.]*`)
//! and operator symbols (`:= == && || >= <= !if + - * / > <`, longest match first).

use super::error::{CompileError, ErrorKind, Pos};

/// A token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// A decimal number.
    Num(u64),
    /// `+infinity`.
    Infinity,
    /// A name or keyword.
    Word(String),
    /// An operator symbol.
    Sym(&'static str),
}

impl Tok {
    /// How the token is shown in "found ..." messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Num(n) => format!("`{n}`"),
            Tok::Infinity => "`+infinity`".into(),
            Tok::Word(w) => format!("`{w}`"),
            Tok::Sym(s) => format!("`{s}`"),
        }
    }
}

/// A token and where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) pos: Pos,
}

const SYMBOLS: [&str; 13] = [
    ":=", "==", "&&", "||", ">=", "<=", "!if", "+", "-", "*", "/", ">", "<",
];

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// Splits `src` into tokens; returns them and the position just past the end.
pub(crate) fn lex(src: &str) -> Result<(Vec<Token>, Pos), CompileError> {
    let mut out = Vec::new();
    let mut line = 1u32;
    let mut col = 1u32;
    let mut rest = src;
    while let Some(c) = rest.chars().next() {
        let pos = Pos { line, column: col };
        let len: usize;
        match c {
            '\n' => {
                line = line.saturating_add(1);
                col = 1;
                rest = &rest[1..];
                continue;
            }
            ' ' | '\t' | '\r' => len = 1,
            '#' => len = rest.find('\n').unwrap_or(rest.len()),
            '(' => {
                out.push(Token {
                    tok: Tok::LParen,
                    pos,
                });
                len = 1;
            }
            ')' => {
                out.push(Token {
                    tok: Tok::RParen,
                    pos,
                });
                len = 1;
            }
            '0'..='9' => {
                let digits = rest
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(rest.len());
                let text = &rest[..digits];
                if rest[digits..].starts_with(is_name_char) {
                    let glued = rest[digits..]
                        .find(|c: char| !is_name_char(c))
                        .map_or(rest.len(), |e| digits + e);
                    return Err(CompileError::at(
                        pos,
                        ErrorKind::GluedNumber(rest[..glued].to_string()),
                    ));
                }
                let n = text
                    .parse::<u64>()
                    .map_err(|_| CompileError::at(pos, ErrorKind::NumberTooLarge(text.into())))?;
                out.push(Token {
                    tok: Tok::Num(n),
                    pos,
                });
                len = digits;
            }
            c if is_name_char(c) => {
                len = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
                out.push(Token {
                    tok: Tok::Word(rest[..len].to_string()),
                    pos,
                });
            }
            _ => {
                const INF: &str = "+infinity";
                if rest.starts_with(INF) && !rest[INF.len()..].starts_with(is_name_char) {
                    out.push(Token {
                        tok: Tok::Infinity,
                        pos,
                    });
                    len = INF.len();
                } else if let Some(s) = SYMBOLS.iter().find(|s| rest.starts_with(**s)) {
                    out.push(Token {
                        tok: Tok::Sym(s),
                        pos,
                    });
                    len = s.len();
                } else {
                    return Err(CompileError::at(pos, ErrorKind::UnexpectedChar(c)));
                }
            }
        }
        // Every branch consumes ASCII only, except comments, which may hold any text.
        col = col.saturating_add(rest[..len].chars().count() as u32);
        rest = &rest[len..];
    }
    Ok((out, Pos { line, column: col }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().0.into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn tokens_and_positions() {
        assert_eq!(
            toks("(:= Report.a (+ 1 +infinity)) # c (\n(!if x)"),
            vec![
                Tok::LParen,
                Tok::Sym(":="),
                Tok::Word("Report.a".into()),
                Tok::LParen,
                Tok::Sym("+"),
                Tok::Num(1),
                Tok::Infinity,
                Tok::RParen,
                Tok::RParen,
                Tok::LParen,
                Tok::Sym("!if"),
                Tok::Word("x".into()),
                Tok::RParen,
            ]
        );
        let (t, end) = lex("a\n  b").unwrap();
        assert_eq!(t[1].pos, Pos { line: 2, column: 3 });
        assert_eq!(end, Pos { line: 2, column: 4 });
        assert_eq!(toks("(+1 2)")[1..3], [Tok::Sym("+"), Tok::Num(1)]);
        assert_eq!(toks("-+infinity")[..], [Tok::Sym("-"), Tok::Infinity]);
        assert_eq!(toks(">= <=")[..], [Tok::Sym(">="), Tok::Sym("<=")]);
        assert_eq!(toks("# only a comment"), vec![]);
    }

    #[test]
    fn lex_errors() {
        assert_eq!(
            lex("1x").unwrap_err().kind,
            ErrorKind::GluedNumber("1x".into())
        );
        assert_eq!(
            lex("99999999999999999999").unwrap_err().kind,
            ErrorKind::NumberTooLarge("99999999999999999999".into())
        );
        let e = lex("(a\n é)").unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnexpectedChar('é'));
        assert_eq!(e.pos, Some(Pos { line: 2, column: 2 }));
        assert_eq!(lex("=").unwrap_err().kind, ErrorKind::UnexpectedChar('='));
        assert_eq!(toks("+infinityx")[0], Tok::Sym("+"));
    }
}
