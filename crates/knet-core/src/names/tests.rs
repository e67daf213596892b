use super::*;

#[test]
fn dns1123_label_messages_match_kubernetes() {
    assert!(dns1123_label("my-name").is_empty());
    assert!(dns1123_label("123-abc").is_empty());
    assert_eq!(
        dns1123_label("My_Name"),
        vec!["a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".to_string()]
    );
    assert_eq!(
        dns1123_label("a.b"),
        vec!["must not contain dots".to_string()]
    );
    assert_eq!(
        dns1123_label(&"a".repeat(64)),
        vec!["must be no more than 63 characters".to_string()]
    );
    assert!(!dns1123_label("").is_empty());
    assert!(!dns1123_label("-a").is_empty());
    assert!(!dns1123_label("a-").is_empty());
}

#[test]
fn dns1123_subdomain_accepts_dotted_names() {
    assert!(dns1123_subdomain("example.com").is_empty());
    assert!(dns1123_subdomain("web-1").is_empty());
    let e = dns1123_subdomain("Web");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("a lowercase RFC 1123 subdomain must consist of"),
        "{e:?}"
    );
    assert!(e[0].ends_with("(e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"), "{e:?}");
    assert!(!dns1123_subdomain("a..b").is_empty());
    assert!(!dns1123_subdomain(".a").is_empty());
    assert_eq!(
        dns1123_subdomain(&"a".repeat(254))[0],
        "must be no more than 253 characters"
    );
}

#[test]
fn dns1035_requires_leading_letter() {
    assert!(dns1035_label("nginx").is_empty());
    assert_eq!(
        dns1035_label("1nginx"),
        vec!["a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".to_string()]
    );
    assert!(!dns1035_label("a.b").is_empty());
}

#[test]
fn label_keys_and_values() {
    assert!(label_key("app").is_empty());
    assert!(label_key("app.kubernetes.io/name").is_empty());
    assert!(label_key("My_Key.x").is_empty());
    assert_eq!(
        label_key("/a"),
        vec!["prefix part must be non-empty".to_string()]
    );
    assert_eq!(label_key("a/"), vec![
        "name part must be non-empty".to_string(),
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')".to_string(),
    ]);
    assert!(label_key("a/b/c")[0].starts_with("a valid label key must consist"));
    assert!(label_key("Ex.com/a")[0].starts_with("prefix part a lowercase RFC 1123 subdomain"));
    assert!(label_value("").is_empty());
    assert!(label_value("v1.2_x-y").is_empty());
    assert_eq!(label_value("-x").len(), 1);
    assert_eq!(
        label_value(&"x".repeat(64)),
        vec!["must be no more than 63 characters".to_string()]
    );
}

#[test]
fn port_names_follow_iana_rules() {
    assert!(port_name("http").is_empty());
    assert!(port_name("http-port").is_empty());
    assert!(port_name("h2c").is_empty());
    assert_eq!(
        port_name("8080"),
        vec!["must contain at least one letter (a-z)".to_string()]
    );
    assert_eq!(
        port_name("a--b"),
        vec!["must not contain consecutive hyphens".to_string()]
    );
    assert_eq!(
        port_name("-ab"),
        vec!["must not begin or end with a hyphen".to_string()]
    );
    assert_eq!(
        port_name("HTTP"),
        vec![
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string(),
            "must contain at least one letter (a-z)".to_string(),
        ]
    );
    assert_eq!(
        port_name("abcdefghijklmnop")[0],
        "must be no more than 15 characters"
    );
    assert!(port_number(80).is_empty());
    assert_eq!(
        port_number(0),
        vec!["must be between 1 and 65535, inclusive".to_string()]
    );
    assert_eq!(port_number(65536).len(), 1);
}
