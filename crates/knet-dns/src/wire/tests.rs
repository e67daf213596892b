use super::rr::{Owner, RData, Record, records};
use super::writer::{Response, encode};
use super::*;

/// Builds a query packet by hand (independent of the writer under test).
pub(crate) fn query_packet(id: u16, name: &str, qtype: u16, edns: Option<u16>) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&FLAG_RD.to_be_bytes());
    b.extend_from_slice(&1u16.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(&u16::from(edns.is_some()).to_be_bytes());
    for l in name.split('.').filter(|l| !l.is_empty()) {
        b.push(l.len() as u8);
        b.extend_from_slice(l.as_bytes());
    }
    b.push(0);
    b.extend_from_slice(&qtype.to_be_bytes());
    b.extend_from_slice(&1u16.to_be_bytes());
    if let Some(size) = edns {
        b.extend_from_slice(&[0, 0, 41]);
        b.extend_from_slice(&size.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0x80, 0, 0, 0]);
    }
    b
}

#[test]
fn parses_query_with_edns_and_lowercases() {
    let p = query_packet(7, "NGINX.Default.svc.cluster.local", rtype::A, Some(4096));
    let q = parse_query(&p).unwrap();
    assert_eq!(q.id, 7);
    assert_eq!(q.name, "nginx.default.svc.cluster.local");
    assert!(!q.odd_labels);
    assert_eq!(q.qtype, rtype::A);
    let e = q.edns.unwrap();
    assert_eq!((e.payload, e.dnssec_ok, e.version), (4096, true, 0));
    assert_eq!(q.udp_limit(), 4096);
}

#[test]
fn rejects_bad_packets_without_panicking() {
    assert!(matches!(parse_query(&[1, 2, 3]), Err(ParseError::Drop)));
    let mut p = query_packet(9, "a.b", rtype::A, None);
    p[5] = 2; // two questions
    assert!(matches!(
        parse_query(&p),
        Err(ParseError::FormErr { id: 9, .. })
    ));
    let mut p = query_packet(9, "a.b", rtype::A, None);
    p[2] |= 0x28; // opcode 5 (UPDATE)
    assert!(matches!(
        parse_query(&p),
        Err(ParseError::NotImp { opcode: 5, .. })
    ));
    // A pointer to itself in the question.
    let mut p = query_packet(9, "", rtype::A, None);
    p.truncate(HEADER_LEN);
    p.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    assert!(matches!(parse_query(&p), Err(ParseError::FormErr { .. })));
    // Every truncation of a valid query is either a clean error or a parse.
    let p = query_packet(3, "x.default.svc.cluster.local", rtype::SRV, Some(1232));
    for n in 0..p.len() {
        let _ = parse_query(&p[..n]);
    }
}

#[test]
fn writes_compressed_answer_preserving_case() {
    let p = query_packet(1, "Web.NS.svc.cluster.local", rtype::SRV, None);
    let q = parse_query(&p).unwrap();
    let resp = Response {
        authoritative: true,
        answer: vec![Record {
            owner: Owner::Qname,
            ttl: 30,
            data: RData::Srv {
                priority: 0,
                weight: 100,
                port: 80,
                target: "web.ns.svc.cluster.local".into(),
            },
        }],
        additional: vec![Record {
            owner: Owner::Name("web.ns.svc.cluster.local".into()),
            ttl: 30,
            data: RData::A("10.0.0.1".parse().unwrap()),
        }],
        ..Response::default()
    };
    let out = encode(&q, &resp, 512);
    // Target and additional owner are both pointers to the question (offset 12).
    let recs = records(&out).unwrap();
    assert_eq!(recs.len(), 2);
    let r0 = &recs[0].1;
    assert_eq!(&out[r0.rdata_at..r0.end], &[0, 0, 0, 100, 0, 80, 0xc0, 12]);
    assert_eq!(recs[1].1.owner.as_bytes(), q.qname.as_bytes());
    assert_eq!(&out[p.len()..p.len() + 2], &[0xc0, 12]);
    // 12 header + question + (2+10+6+2) srv + (2+10+4) a
    assert_eq!(out.len(), p.len() + 20 + 16);
}

#[test]
fn truncates_to_limit_with_tc() {
    let p = query_packet(1, "h.ns.svc.cluster.local", rtype::A, None);
    let q = parse_query(&p).unwrap();
    let answer = (0..100u8)
        .map(|i| Record {
            owner: Owner::Qname,
            ttl: 30,
            data: RData::A(std::net::Ipv4Addr::new(10, 0, 0, i)),
        })
        .collect();
    let resp = Response {
        answer,
        ..Response::default()
    };
    let out = encode(&q, &resp, 512);
    assert!(out.len() <= 512);
    assert_ne!(be16(&out, 2).unwrap() & FLAG_TC, 0);
    let an = be16(&out, 6).unwrap();
    assert_eq!(usize::from(an), (512 - p.len()) / 16);
    assert_eq!(records(&out).unwrap().len(), usize::from(an));
    let full = encode(&q, &resp, 65535);
    assert_eq!(be16(&full, 2).unwrap() & FLAG_TC, 0);
    assert_eq!(be16(&full, 6), Some(100));
}

#[test]
fn name_pointer_loops_are_rejected() {
    // Two pointers pointing at each other.
    let msg = [0u8, 0, 0xc0, 4, 0xc0, 2];
    assert_eq!(
        WireName::parse(&msg, 4).unwrap_err(),
        NameError::PointerLoop
    );
    let msg = [0u8, 0, 0xc0, 2];
    assert_eq!(
        WireName::parse(&msg, 2).unwrap_err(),
        NameError::PointerLoop
    );
}

#[test]
fn name_length_limits_and_pointers() {
    // 4 labels of 62 bytes + 1 of 1: 4*63 + 2 + terminal = 255 bytes, the
    // largest legal name; one byte more is too long.
    let mut ok = Vec::new();
    for _ in 0..4 {
        ok.push(62u8);
        ok.extend_from_slice(&[b'a'; 62]);
    }
    let mut long = ok.clone();
    ok.extend_from_slice(&[1, b'b', 0]);
    long.extend_from_slice(&[2, b'b', b'c', 0]);
    let (n, end) = WireName::parse(&ok, 0).unwrap();
    assert_eq!((n.as_bytes().len(), end), (255, 255));
    assert_eq!(n.as_bytes(), &ok[..]);
    assert_eq!(WireName::parse(&long, 0).unwrap_err(), NameError::TooLong);
    // Truncated inside a label, and a bad label type.
    assert_eq!(
        WireName::parse(&[3, b'a', b'b'], 0).unwrap_err(),
        NameError::Truncated
    );
    assert_eq!(
        WireName::parse(&[0x40, 0], 0).unwrap_err(),
        NameError::BadLabel
    );
    // "x" then a pointer back to "cluster.local" at 0: the name is joined,
    // and parsing resumes after the pointer.
    let msg = b"\x07cluster\x05local\x00\x01x\xc0\x00";
    let (n, end) = WireName::parse(msg, 15).unwrap();
    assert_eq!(n.to_lower_dotted().0, "x.cluster.local");
    assert_eq!(end, msg.len());
}
