use super::*;
use serde_json::json;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn parses_every_operator_and_prints_canonically() {
    let s = Selector::parse(
        " tier in (web, api) , app=nginx,env!=prod,!canary,x==1,gen>3,zone notin (a),team",
    )
    .unwrap();
    assert_eq!(
        s.to_string(),
        "app=nginx,!canary,env!=prod,gen>3,team,tier in (api,web),x==1,zone notin (a)"
    );
    let ops: Vec<Operator> = s.requirements().iter().map(Requirement::operator).collect();
    assert_eq!(ops[1], Operator::DoesNotExist);
    assert_eq!(ops[4], Operator::Exists);
    assert_eq!(s.requires_exact_match("app"), Some("nginx"));
    assert_eq!(s.requires_exact_match("env"), None);
}

#[test]
fn matching_semantics() {
    let s = Selector::parse("app=web,env notin (prod),!canary,tier in (fe,be)").unwrap();
    assert!(s.matches(&labels(&[("app", "web"), ("tier", "fe")])));
    assert!(s.matches(&labels(&[("app", "web"), ("tier", "be"), ("env", "dev")])));
    assert!(!s.matches(&labels(&[("app", "web"), ("tier", "fe"), ("env", "prod")])));
    assert!(!s.matches(&labels(&[("app", "web"), ("tier", "fe"), ("canary", "")])));
    assert!(!s.matches(&labels(&[("app", "db"), ("tier", "fe")])));
    assert!(!s.matches(&labels(&[("app", "web")])));
    let ne = Selector::parse("a!=b").unwrap();
    assert!(ne.matches(&labels(&[])), "!= matches a missing key");
    let gt = Selector::parse("n>3").unwrap();
    assert!(gt.matches(&labels(&[("n", "4")])));
    assert!(!gt.matches(&labels(&[("n", "3")])));
    assert!(!gt.matches(&labels(&[("n", "x")])));
    let j = json!({"app": "web", "tier": "fe"});
    assert!(s.matches(&j));
}

#[test]
fn empty_and_nothing() {
    let all = Selector::parse("").unwrap();
    assert!(all.is_empty());
    assert!(all.matches(&labels(&[])));
    let none = Selector::from_label_selector(&Value::Null).unwrap();
    assert!(!none.matches(&labels(&[])));
    assert!(
        Selector::from_label_selector(&json!({}))
            .unwrap()
            .matches(&labels(&[("a", "b")]))
    );
}

#[test]
fn empty_values_and_keywords_as_values() {
    let s = Selector::parse("x in (foo,,baz),y,z notin ()").unwrap();
    assert_eq!(s.to_string(), "x in (,baz,foo),y,z notin ()");
    let s = Selector::parse("a=").unwrap();
    assert!(s.matches(&labels(&[("a", "")])));
    let s = Selector::parse("a in (in,notin)").unwrap();
    assert!(s.matches(&labels(&[("a", "notin")])));
}

#[test]
fn parse_errors_use_kubernetes_wording() {
    let e = |s: &str| Selector::parse(s).unwrap_err().0;
    assert_eq!(e("a=b c"), "found 'c', expected: ',' or 'end of string'");
    assert_eq!(e("a,"), "found '', expected: identifier after ','");
    assert_eq!(
        e("=a"),
        "found '=', expected: !, identifier, or 'end of string'"
    );
    assert_eq!(
        e("a in b"),
        "unable to parse requirement: found 'b' expected: '('"
    );
    assert_eq!(
        e("a in (b"),
        "unable to parse requirement: found '', expected: ',' or ')'"
    );
    assert_eq!(
        e("a=(b)"),
        "unable to parse requirement: found '(', expected: identifier"
    );
    assert_eq!(
        e("a x"),
        "unable to parse requirement: found 'x', expected: in, notin, =, ==, !=, gt, lt"
    );
    assert_eq!(
        e("!"),
        "unable to parse requirement: found '', expected: identifier"
    );
    assert_eq!(
        e("a>x"),
        "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer"
    );
    assert!(
        e("a$b=c").starts_with(
            "unable to parse requirement: <nil>: Invalid value: \"a$b\": name part must consist of"
        ),
        "{}",
        e("a$b=c")
    );
    assert!(e("a=b$").starts_with("unable to parse requirement: values[0][a]: Invalid value: \"b$\": a valid label must be"), "{}", e("a=b$"));
}

#[test]
fn from_label_selector_json() {
    let s = Selector::from_label_selector(&json!({
        "matchLabels": {"app": "nginx"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["fe", "be"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "zone", "operator": "Exists"},
            {"key": "env", "operator": "NotIn", "values": ["prod"]}
        ]
    }))
    .unwrap();
    assert_eq!(
        s.to_string(),
        "app=nginx,!canary,env notin (prod),tier in (be,fe),zone"
    );
    assert!(s.matches(&labels(&[("app", "nginx"), ("tier", "fe"), ("zone", "a")])));
    assert!(!s.matches(&labels(&[("app", "nginx"), ("tier", "fe")])));
    let bad = Selector::from_label_selector(
        &json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}),
    );
    assert_eq!(
        bad.unwrap_err().0,
        "\"Gt\" is not a valid label selector operator"
    );
    let empty_in = Selector::from_label_selector(
        &json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}),
    );
    assert!(
        empty_in
            .unwrap_err()
            .0
            .contains("values set can't be empty")
    );
}

#[test]
fn from_map_round_trips() {
    let m = labels(&[("b", "2"), ("a", "1")]);
    let s = Selector::from_map(&m);
    assert_eq!(s.to_string(), "a=1,b=2");
    assert!(s.matches(&m));
    assert_eq!(Selector::parse(&s.to_string()).unwrap(), s);
    let j = Selector::from_json_map(&json!({"app": "web"})).unwrap();
    assert_eq!(j.to_string(), "app=web");
    assert!(Selector::from_json_map(&json!({"app": 1})).is_err());
}

/// Tiny deterministic generator (no external crates): xorshift64.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn arbitrary_input_never_panics_and_valid_selectors_round_trip() {
    const ATOMS: &[&str] = &[
        "a", "app", "x.io/k", "in", "notin", "=", "==", "!=", "!", "(", ")", ",", " ", "\t", ">",
        "<", "1", "-", "_", "é", "ü/x", "/", "v-1", "",
    ];
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let mut parsed = 0;
    for _ in 0..20_000 {
        let len = (g.next() % 8) as usize;
        let s: String = (0..len)
            .map(|_| ATOMS[(g.next() % ATOMS.len() as u64) as usize])
            .collect();
        if let Ok(sel) = Selector::parse(&s) {
            parsed += 1;
            let again = Selector::parse(&sel.to_string())
                .unwrap_or_else(|e| panic!("{s:?} -> {sel} -> {e}"));
            assert_eq!(again, sel, "{s:?}");
        }
        // The name checks take the same arbitrary text without panicking.
        let _ = crate::names::dns1123_subdomain(&s);
        let _ = crate::names::label_key(&s);
        let _ = crate::names::port_name(&s);
    }
    assert!(
        parsed > 100,
        "the generator produced too few valid selectors ({parsed})"
    );
}
