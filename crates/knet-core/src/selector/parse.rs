//! The label-selector string grammar: a lexer into tokens, then a
//! recursive-descent parser producing requirements, with Kubernetes' error
//! wording.

use super::{Operator, Requirement, SelectorError, invalid_key};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    End,
    Error,
    ClosePar,
    Comma,
    Not,
    DoubleEquals,
    Equals,
    Greater,
    Ident,
    In,
    Less,
    NotEquals,
    NotIn,
    OpenPar,
}

fn keyword(s: &str) -> Option<Tok> {
    Some(match s {
        ")" => Tok::ClosePar,
        "," => Tok::Comma,
        "!" => Tok::Not,
        "==" => Tok::DoubleEquals,
        "=" => Tok::Equals,
        ">" => Tok::Greater,
        "in" => Tok::In,
        "<" => Tok::Less,
        "!=" => Tok::NotEquals,
        "notin" => Tok::NotIn,
        "(" => Tok::OpenPar,
        _ => return None,
    })
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Splits the input into tokens; the last one is always `End`.
fn lex(s: &str) -> Vec<(Tok, String)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            out.push((Tok::End, String::new()));
            return out;
        }
        if is_special(b[i]) {
            // Longest run of special characters that still forms an operator.
            let mut best: Option<(Tok, usize)> = None;
            let mut j = i;
            while j < b.len() && is_special(b[j]) {
                j += 1;
                match keyword(&s[i..j]) {
                    Some(t) => best = Some((t, j)),
                    None if best.is_some() => break,
                    None => {}
                }
            }
            match best {
                Some((t, end)) => {
                    out.push((t, s[i..end].to_string()));
                    i = end;
                }
                None => {
                    out.push((
                        Tok::Error,
                        format!("error expected: keyword found '{}'", &s[i..j]),
                    ));
                    i = j;
                }
            }
        } else {
            let start = i;
            while i < b.len() && !is_special(b[i]) && !is_space(b[i]) {
                i += 1;
            }
            let word = &s[start..i];
            out.push((keyword(word).unwrap_or(Tok::Ident), word.to_string()));
        }
    }
}

struct Parser {
    toks: Vec<(Tok, String)>,
    pos: usize,
}

fn err(msg: String) -> SelectorError {
    SelectorError(msg)
}

impl Parser {
    /// The next token; `in`/`notin` read as identifiers where values are expected.
    fn peek(&self, values: bool) -> (Tok, String) {
        let (t, l) = self.toks[self.pos.min(self.toks.len() - 1)].clone();
        (as_value(t, values), l)
    }

    fn next(&mut self, values: bool) -> (Tok, String) {
        let r = self.peek(values);
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        r
    }

    fn selector(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut reqs = Vec::new();
        loop {
            let (t, lit) = self.peek(true);
            match t {
                Tok::Ident | Tok::Not => {
                    let r = self
                        .requirement()
                        .map_err(|e| err(format!("unable to parse requirement: {e}")))?;
                    reqs.push(r);
                    let (t, lit) = self.next(true);
                    match t {
                        Tok::End => return Ok(reqs),
                        Tok::Comma => {
                            let (t2, l2) = self.peek(true);
                            if t2 != Tok::Ident && t2 != Tok::Not {
                                return Err(err(format!(
                                    "found '{l2}', expected: identifier after ','"
                                )));
                            }
                        }
                        _ => {
                            return Err(err(format!(
                                "found '{lit}', expected: ',' or 'end of string'"
                            )));
                        }
                    }
                }
                Tok::End => return Ok(reqs),
                _ => {
                    return Err(err(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    )));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let (key, unary) = self.key_and_unary()?;
        if let Some(op) = unary {
            return Requirement::new(&key, op, Vec::new());
        }
        let op = self.operator()?;
        let values = match op {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => self.exact_value()?,
        };
        Requirement::new(&key, op, values)
    }

    fn key_and_unary(&mut self) -> Result<(String, Option<Operator>), SelectorError> {
        let (mut t, mut lit) = self.next(true);
        let negated = t == Tok::Not;
        if negated {
            (t, lit) = self.next(true);
        }
        if t != Tok::Ident {
            return Err(err(format!("found '{lit}', expected: identifier")));
        }
        if let Some(e) = invalid_key(&lit, "<nil>") {
            return Err(err(e));
        }
        let (next, _) = self.peek(true);
        let unary = if negated {
            Some(Operator::DoesNotExist)
        } else if matches!(next, Tok::End | Tok::Comma) {
            Some(Operator::Exists)
        } else {
            None
        };
        Ok((lit, unary))
    }

    fn operator(&mut self) -> Result<Operator, SelectorError> {
        let (t, lit) = self.next(false);
        Ok(match t {
            Tok::In => Operator::In,
            Tok::Equals => Operator::Equals,
            Tok::DoubleEquals => Operator::DoubleEquals,
            Tok::Greater => Operator::GreaterThan,
            Tok::Less => Operator::LessThan,
            Tok::NotIn => Operator::NotIn,
            Tok::NotEquals => Operator::NotEquals,
            _ => {
                return Err(err(format!(
                    "found '{lit}', expected: in, notin, =, ==, !=, gt, lt"
                )));
            }
        })
    }

    fn value_set(&mut self) -> Result<Vec<String>, SelectorError> {
        let (t, lit) = self.next(true);
        if t != Tok::OpenPar {
            return Err(err(format!("found '{lit}' expected: '('")));
        }
        let (t, lit) = self.peek(true);
        match t {
            Tok::Ident | Tok::Comma => {
                let set = self.identifiers()?;
                if self.next(true).0 != Tok::ClosePar {
                    return Err(err(format!("found '{lit}', expected: ')'")));
                }
                Ok(set)
            }
            Tok::ClosePar => {
                self.next(true);
                Ok(vec![String::new()])
            }
            _ => Err(err(format!(
                "found '{lit}', expected: ',', ')' or identifier"
            ))),
        }
    }

    /// A comma-separated list where empty entries stand for the empty value.
    fn identifiers(&mut self) -> Result<Vec<String>, SelectorError> {
        let mut set: Vec<String> = Vec::new();
        loop {
            let (t, lit) = self.next(true);
            match t {
                Tok::Ident => {
                    set.push(lit);
                    let (t2, l2) = self.peek(true);
                    match t2 {
                        Tok::Comma => continue,
                        Tok::ClosePar => return Ok(set),
                        _ => return Err(err(format!("found '{l2}', expected: ',' or ')'"))),
                    }
                }
                Tok::Comma => {
                    if set.is_empty() {
                        set.push(String::new());
                    }
                    let (t2, _) = self.peek(true);
                    if t2 == Tok::ClosePar {
                        set.push(String::new());
                        return Ok(set);
                    }
                    if t2 == Tok::Comma {
                        set.push(String::new());
                    }
                }
                _ => return Err(err(format!("found '{lit}', expected: ',', or identifier"))),
            }
        }
    }

    fn exact_value(&mut self) -> Result<Vec<String>, SelectorError> {
        let (t, _) = self.peek(true);
        if matches!(t, Tok::End | Tok::Comma) {
            return Ok(vec![String::new()]);
        }
        let (t, lit) = self.next(true);
        if t == Tok::Ident {
            Ok(vec![lit])
        } else {
            Err(err(format!("found '{lit}', expected: identifier")))
        }
    }
}

fn as_value(t: Tok, values: bool) -> Tok {
    if values && matches!(t, Tok::In | Tok::NotIn) {
        Tok::Ident
    } else {
        t
    }
}

/// Parses a selector string into requirements (unsorted).
pub(super) fn parse(s: &str) -> Result<Vec<Requirement>, SelectorError> {
    Parser {
        toks: lex(s),
        pos: 0,
    }
    .selector()
}
